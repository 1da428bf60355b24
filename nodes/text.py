"""Text nodes: cleaning."""

from __future__ import annotations

import re
import unicodedata

from pydantic import Field

from engine import Input, NodeError, NodeParams, Output, RunContext, node
from engine.types import DATASET, REPORT

WHITESPACE = re.compile(r"\s+")


class CleanParams(NodeParams):
    columns: list[str] = Field(["text"], min_length=1, description="Text columns to clean")
    normalize_unicode: bool = Field(True, description="Apply Unicode NFKC normalization")
    lowercase: bool = Field(False, description="Lower-case the text")
    collapse_whitespace: bool = Field(True, description="Turn runs of spaces, tabs and newlines into one space")
    drop_empty: bool = Field(True, description="Drop rows whose cleaned text is empty")


def _clean(text: str, params: CleanParams) -> str:
    if params.normalize_unicode:
        text = unicodedata.normalize("NFKC", text)
    if params.lowercase:
        text = text.lower()
    if params.collapse_whitespace:
        text = WHITESPACE.sub(" ", text).strip()
    return text


@node(
    "text.clean",
    title="Clean text",
    category="text",
    inputs=[Input("dataset", DATASET)],
    outputs=[Output("dataset", DATASET, "The cleaned rows"), Output("report", REPORT, "Rows changed and dropped")],
    params=CleanParams,
    key_params=("columns", "lowercase"),
)
def clean_text(ctx: RunContext, inputs: dict, params: CleanParams) -> dict:
    """Normalise, lower-case and tidy text columns, dropping rows left empty."""
    dataset = inputs["dataset"]
    missing = [column for column in params.columns if column not in dataset.column_names]
    if missing:
        raise NodeError(f"parameter 'columns': column '{missing[0]}' is not in the dataset; columns: {', '.join(dataset.column_names)}")
    before = dataset.num_rows

    def clean_batch(batch: dict) -> dict:
        return {column: [_clean(str(value or ""), params) for value in batch[column]] for column in params.columns}

    cleaned = dataset.map(clean_batch, batched=True, desc="clean")
    if params.drop_empty:
        cleaned = cleaned.filter(lambda row: all(row[column] for column in params.columns))
    if cleaned.num_rows == 0 and before:
        raise NodeError("cleaning removed every row (drop_empty); check the 'columns' parameter or loosen the filters")
    return {"dataset": cleaned, "report": {"rows_in": before, "rows_out": cleaned.num_rows}}
