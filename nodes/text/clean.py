"""text.clean: normalise and filter text columns (and the HTML-to-text parser it uses)."""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser
from typing import Any, Literal

from pydantic import Field

from nodeloom.engine import Input, NodeError, NodeParams, Output, RunContext, node
from nodeloom.engine.types import DATASET, REPORT
from nodeloom.nodes.data import column_values, dataset_preview
from nodeloom.nodes.text.common import MAP_BATCH, map_fingerprint, require_text_column

WHITESPACE = re.compile(r"\s+")
URL = re.compile(r"(?:https?://|ftp://|www\.)[^\s<>\"']+", re.IGNORECASE)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


class CleanParams(NodeParams):
    columns: list[str] = Field(["text"], min_length=1, description="Text columns to clean")
    normalize_unicode: bool = Field(
        True, description="Apply Unicode NFKC normalization (full-width letters, ligatures, odd spaces)"
    )
    strip_html: bool = Field(
        False, description="Remove HTML tags (and script/style contents), decode entities such as &amp;"
    )
    remove_urls: bool = Field(False, description="Remove web addresses (http://…, https://…, www.…)")
    remove_emails: bool = Field(False, description="Remove e-mail addresses")
    lowercase: bool = Field(False, description="Lower-case the text")
    collapse_whitespace: bool = Field(
        True, description="Turn runs of spaces, tabs and newlines into one space and trim the ends"
    )
    drop_empty: bool = Field(True, description="Drop rows whose cleaned text is empty")
    min_length: int = Field(0, ge=0, description="Drop rows shorter than this (in length_unit); 0: no minimum")
    max_length: int | None = Field(
        None, ge=1, description="Drop rows longer than this (in length_unit); empty: no maximum"
    )
    length_unit: Literal["characters", "words"] = Field(
        "characters", description="What min_length and max_length count"
    )
    drop_duplicates: bool = Field(False, description="Keep only the first of rows whose cleaned columns are all equal")


class _HTMLText(HTMLParser):
    """Collects the text of an HTML fragment; block tags become spaces so words don't run together."""

    SKIPPED = {"script", "style", "head", "title"}
    BLOCKS = {
        "p",
        "br",
        "div",
        "li",
        "ul",
        "ol",
        "tr",
        "td",
        "th",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "table",
        "section",
        "article",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self.SKIPPED:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def strip_html(text: str) -> str:
    if "<" not in text and "&" not in text:
        return text
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


# The rewriting operations in the order they apply; each is (parameter name, function).
REWRITES = (
    ("normalize_unicode", lambda text: unicodedata.normalize("NFKC", text)),
    ("strip_html", strip_html),
    ("remove_urls", lambda text: URL.sub("", text)),
    ("remove_emails", lambda text: EMAIL.sub("", text)),
    ("lowercase", str.lower),
    ("collapse_whitespace", lambda text: WHITESPACE.sub(" ", text).strip()),
)
CHANGES_COLUMN = "__nodeloom_changed_operations"  # a per-row bit mask of the rewrites that changed it


def _clean_summary(outputs: dict) -> dict:
    return dataset_preview(outputs["dataset"]) | {"report": outputs["report"]}


@node(
    "text.clean",
    title="Clean text",
    category="text",
    inputs=[Input("dataset", DATASET)],
    outputs=[
        Output("dataset", DATASET, "The cleaned rows"),
        Output("report", REPORT, "Rows each operation changed or dropped"),
    ],
    params=CleanParams,
    version=2,
    key_params=("columns", "lowercase"),
    summarize=_clean_summary,
)
def clean_text(ctx: RunContext, inputs: dict, params: CleanParams) -> dict:
    """Normalise and filter text columns, reporting how many rows each operation changed or dropped.

    Rewrites, in order: NFKC normalization, HTML stripping, URL and e-mail removal, lower-casing,
    whitespace collapsing. Then filters, in order: empty rows, min/max length (characters or
    words; every cleaned column must pass), duplicates.
    """
    import numpy as np
    import pandas as pd

    dataset = inputs["dataset"]
    for column in params.columns:
        require_text_column(dataset, column, "text.clean: parameter 'columns'")
    rewrites = [(bit, name, rewrite) for bit, (name, rewrite) in enumerate(REWRITES) if getattr(params, name)]

    def clean_batch(batch: dict) -> dict:
        ctx.check_cancelled()
        changed = [0] * len(batch[params.columns[0]])
        cleaned: dict[str, list] = {}
        for column in params.columns:
            values = []
            for row, value in enumerate(batch[column]):
                text = value or ""
                for bit, _name, rewrite in rewrites:
                    rewritten = rewrite(text)
                    if rewritten != text:
                        changed[row] |= 1 << bit
                        text = rewritten
                values.append(text)
            cleaned[column] = values
        return cleaned | {CHANGES_COLUMN: changed}

    mapped = dataset.map(
        clean_batch,
        batched=True,
        batch_size=MAP_BATCH,
        keep_in_memory=True,
        load_from_cache_file=False,
        new_fingerprint=map_fingerprint(dataset, params),
        desc="text.clean",
    )
    masks = np.asarray(column_values(mapped, CHANGES_COLUMN), dtype=np.int64)
    cleaned = mapped.remove_columns(CHANGES_COLUMN)
    operations: list[dict[str, Any]] = [
        {"operation": name, "changed": int(np.count_nonzero(masks & (1 << bit)))} for bit, name, _rewrite in rewrites
    ]

    texts = {column: column_values(cleaned, column) for column in params.columns}
    keep = np.ones(cleaned.num_rows, dtype=bool)

    def measure(text: str) -> int:
        return len(text.split()) if params.length_unit == "words" else len(text)

    filters: list[tuple[str, Any]] = []
    if params.drop_empty:
        filters.append(("drop_empty", lambda row: all(texts[c][row].strip() for c in params.columns)))
    if params.min_length:
        filters.append(
            ("min_length", lambda row: all(measure(texts[c][row]) >= params.min_length for c in params.columns))
        )
    if params.max_length is not None:
        filters.append(
            ("max_length", lambda row: all(measure(texts[c][row]) <= params.max_length for c in params.columns))
        )
    for name, passes in filters:
        before = int(keep.sum())
        for row in np.flatnonzero(keep):
            keep[row] = passes(row)
        operations.append({"operation": name, "dropped": before - int(keep.sum())})
        _stop_if_emptied(before, keep, name, params)
    if params.drop_duplicates:
        before = int(keep.sum())
        frame = pd.DataFrame(texts)
        keep &= ~(frame[keep].duplicated().reindex(frame.index, fill_value=False).to_numpy())
        operations.append({"operation": "drop_duplicates", "dropped": before - int(keep.sum())})
    if not keep.all():
        cleaned = cleaned.select(np.flatnonzero(keep), keep_in_memory=True)
    report = {
        "rows_in": dataset.num_rows,
        "rows_out": cleaned.num_rows,
        "columns": list(params.columns),
        "operations": operations,
    }
    ctx.log(
        f"{dataset.num_rows} rows in, {cleaned.num_rows} out; "
        + ", ".join(f"{op['operation']} {op.get('changed', op.get('dropped'))}" for op in operations)
    )
    return {"dataset": cleaned, "report": report}


def _stop_if_emptied(before: int, keep: Any, operation: str, params: CleanParams) -> None:
    if before and not keep.any():
        setting = {
            "drop_empty": "every row's cleaned text was empty; check 'columns' or turn off operations that remove text",
            "min_length": f"no row reaches min_length={params.min_length} {params.length_unit}; lower it",
            "max_length": f"every row exceeds max_length={params.max_length} {params.length_unit}; raise it",
        }[operation]
        raise NodeError(
            f"text.clean: operation '{operation}' removed the last {before} rows and left the dataset empty: {setting}"
        )
