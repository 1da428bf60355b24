"""Untrusted text on the page: pipeline files, datasets, model output and error messages, shown as text.

Streamlit renders markdown in st.markdown, st.write, st.caption, st.error and the other message boxes,
st.toast, headers, widget labels and tab, expander and metric labels; plotly renders a little HTML in
titles, legends and hover text. Markdown carries no raw HTML in Streamlit (unless unsafe_allow_html),
but it carries links, remote images (a request to someone else's server as the page opens) and
formatting that can pass for the app's own. So every string that did not come from this code meets a
rendering call through one of these helpers, or goes to st.text, st.code, st.json or a dataframe cell,
which show text as it is. The canvas component draws its cards as text on its own.
"""

from __future__ import annotations

import html
import re

from pydantic import TypeAdapter, ValidationError

from nodeloom.engine.pipeline import NodeSpec

# Every ASCII punctuation character: CommonMark lets a backslash make any of them literal, and
# escaping them all also defuses what Streamlit adds on top (:red[...] directives, :material/icon:,
# $math$).
MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# GFM's bare links (http://…, www.…, name@host) are found in the parsed text, after escapes are gone,
# so escaping cannot stop them: an invisible word joiner inside "://", after "www" and after "@"
# breaks the patterns (a reader sees nothing; a copy of the text carries the joiner).
AUTOLINK_TRIGGERS = re.compile(r"(?<=:)(?=//)|(?<=www)(?=\.)|(?<=@)", re.IGNORECASE)
WORD_JOINER = "\u2060"
LINE_BREAK = re.compile(r"\r\n?|\n")
LEADING_BLANKS = re.compile(r"^[ \t]+", re.MULTILINE)
NO_BREAK_SPACE = "\u00a0"
_as_bool = TypeAdapter(bool)


def plain(text: object) -> str:
    """`text` as markdown that shows it character for character, line breaks included, and links nothing."""
    unlinked = AUTOLINK_TRIGGERS.sub(WORD_JOINER, "\n".join(LINE_BREAK.split(str(text))))
    escaped = MARKDOWN_PUNCTUATION.sub(r"\\\1", unlinked)
    # Leading blanks as no-break spaces: four spaces or a tab would start a code block, and markdown
    # would drop fewer; a no-break space is neither, so the indent shows as written.
    indented = LEADING_BLANKS.sub(lambda blanks: NO_BREAK_SPACE * len(blanks[0].expandtabs(4)), escaped)
    return indented.replace("\n", "  \n")  # two spaces: a hard break, where a bare one would join the lines


def inline_code(text: object) -> str:
    """`text` as a markdown code span, on one line, with a fence longer than any backtick run in it
    (so the text cannot close the span early). Nothing inside a code span is formatted."""
    flat = " ".join(LINE_BREAK.split(str(text)))
    fence = "`" * (max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1)
    return f"{fence} {flat} {fence}"  # one space each side: CommonMark strips exactly that, so edges may be backticks


def chart_text(text: object, width: int | None = None) -> str:
    """`text` for a plotly title, legend or hover label: plotly reads <b>, <a href> and the like in
    those, and shows entities as their characters. Clipped to `width` characters first when given,
    so a long dataset row makes a readable hover label."""
    value = str(text)
    if width is not None and len(value) > width:
        value = value[: width - 1] + "…"
    return html.escape(value, quote=False)  # plotly decodes &lt; &gt; &amp; but shows &quot; as it is


def remote_code_warning(spec: NodeSpec) -> str | None:
    """The warning a node shows while its `trust_remote_code` is on, else None.

    The value is read the way the node's parameter model reads it (pydantic's lax bool, so true,
    "yes", "on" and 1 all turn it on): whatever would run remote code warns."""
    try:
        enabled = _as_bool.validate_python(spec.params.get("trust_remote_code"))
    except ValidationError:
        return None  # not set, or not a boolean: the parameter check reports the latter
    if not enabled:
        return None
    return (
        "trust_remote_code is on: running this node runs Python code that comes with its model, tokenizer "
        "or metric, with your permissions. Turn it off unless you trust where that code comes from."
    )
