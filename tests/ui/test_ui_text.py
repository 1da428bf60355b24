"""ui.text: untrusted strings come out of a markdown or plotly renderer as the same text, never as markup.

Streamlit's renderer is remark in the browser (tests/ui/test_browser_trust.py drives it); here a CommonMark
renderer with GFM tables and strikethrough (markdown-it-py, which rich brings) checks the escaping itself.
"""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodeloom.engine.pipeline import NodeSpec
from nodeloom.ui.text import WORD_JOINER, chart_text, inline_code, plain, remote_code_warning

markdown_it = pytest.importorskip("markdown_it")
RENDERER = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])
# What remark's GFM extension (Streamlit's renderer) turns into links when it finds them in text, after parsing.
GFM_BARE_LINKS = re.compile(r"https?://|www(?=\.)|[-.\w+]+@[-\w]+(?:\.[-\w]+)+", re.IGNORECASE)

HOSTILE = [
    "<img id=pwned src=x onerror=window.__pwned=1>",
    "<script>window.__pwned=1</script>",
    "![remote](https://pwned.invalid/x.png)",
    "[click](javascript:alert(1)) <https://pwned.invalid> https://pwned.invalid/a www.pwned.invalid a@pwned.invalid",
    "**bold** _it_ ~~gone~~ `code` # heading",
    "# heading\n> quote\n- item\n1. item\n---\n| a | b |\n|---|---|\n| 1 | 2 |",
    ":red[coloured] :material/warning: $x^2$ \\(not math\\)",
    "&lt;b&gt; &amp; &#60;",
    "    indented\n\ttabbed",
    "trailing backslash \\",
]


def rendered_text(source: str) -> str:
    """What a reader sees: the HTML with its paragraph and hard-break tags taken off, entities decoded, and the
    invisible word joiners taken out (checking first that none of GFM's bare links is left for remark to make)."""
    markup = RENDERER.render(source)
    assert re.fullmatch(r"(<p>|</p>|<br />|[^<])*", markup, flags=re.S), markup  # no other element at all
    text = html.unescape(markup.replace("<p>", "").replace("</p>", "").replace("<br />", ""))
    assert not GFM_BARE_LINKS.search(text), text
    return text.replace(WORD_JOINER, "")


def seen_lines(text: str) -> list[str]:
    """Markdown drops the spaces around a line break; the words stay. Word joiners are invisible, the text's own
    as well as those plain() adds, so neither side keeps them."""
    visible = text.replace(WORD_JOINER, "")
    return [line.strip() for line in re.split(r"\r\n?|\n", visible) if line.strip()]


@pytest.mark.parametrize("text", HOSTILE)
def test_plain_text_renders_as_itself_with_no_elements(text):
    assert seen_lines(rendered_text(plain(text))) == seen_lines(text)


MARKDOWN_HEAVY = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from(
    "\n\t <>&*_[]()!`#|~:$\\/@.w"
)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=MARKDOWN_HEAVY, max_size=60))
def test_plain_text_of_any_string_renders_as_itself(text):
    assert seen_lines(rendered_text(plain(text))) == seen_lines(text)


def test_plain_keeps_line_breaks_and_indents_after_them():
    assert RENDERER.render(plain("first\nsecond")).count("<br />") == 1
    lines = rendered_text(plain("first\n    four\n\ttab")).rstrip("\n").split("\n")
    assert lines[1:] == ["\u00a0" * 4 + "four", "\u00a0" * 4 + "tab"]


@pytest.mark.parametrize("text", ["a`b", "``x``", "`", "<b class=pwned>", "run-1 `rm -rf` ```", "two\nlines"])
def test_inline_code_holds_its_text_whole(text):
    markup = RENDERER.render(inline_code(text)).strip()
    match = re.fullmatch(r"<p><code>(.*)</code></p>", markup, flags=re.S)
    assert match, markup
    assert html.unescape(match.group(1)) == text.replace("\n", " ")


def test_chart_text_escapes_plotly_markup_and_clips_before_escaping():
    assert chart_text("<b class='pwned'>x</b> & <a href=\"https://pwned.invalid\">") == (
        "&lt;b class='pwned'&gt;x&lt;/b&gt; &amp; &lt;a href=\"https://pwned.invalid\"&gt;"
    )
    clipped = chart_text("<" * 50, width=10)
    assert clipped == "&lt;" * 9 + "…"  # nine characters and an ellipsis; never half an entity


@pytest.mark.parametrize(
    "value, warns",
    [
        (True, True),
        ("true", True),
        ("yes", True),
        (1, True),
        (False, False),
        ("false", False),
        (0, False),
        (None, False),
        ("sometimes", False),
    ],
)
def test_remote_code_warning_follows_the_parameter_model(value, warns):
    params = {} if value is None else {"trust_remote_code": value}
    warning = remote_code_warning(NodeSpec("model", "model.load_pretrained", params))
    assert (warning is not None) == warns
    if warns:
        assert "trust_remote_code" in warning
