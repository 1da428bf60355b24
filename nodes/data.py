"""Data nodes: loading datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from engine import NodeError, NodeParams, Output, RunContext, node
from engine.types import DATASET

FILE_FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".txt": "text", ".parquet": "parquet"}


class LoadDatasetParams(NodeParams):
    source: Literal["file"] = Field("file", description="Where the data comes from")
    path: str = Field("", description="File to read: csv, tsv, json, jsonl, txt or parquet")
    max_rows: int | None = Field(None, ge=1, description="Keep at most this many rows")


def _files(params: LoadDatasetParams) -> list[str]:
    return [params.path] if params.source == "file" and params.path else []


@node(
    "data.load_dataset",
    title="Load dataset",
    category="data",
    outputs=[Output("dataset", DATASET, "The loaded rows")],
    params=LoadDatasetParams,
    key_params=("source", "path"),
    external_files=_files,
)
def load_dataset(ctx: RunContext, inputs: dict, params: LoadDatasetParams) -> dict:
    """Load a table of examples from a file through Hugging Face `datasets`."""
    import datasets

    path = Path(params.path).expanduser()
    if not params.path or not path.is_file():
        raise NodeError(f"parameter 'path': file '{params.path}' does not exist; give the path of a csv, tsv, json, jsonl, txt or parquet file")
    builder = FILE_FORMATS.get(path.suffix.lower())
    if builder is None:
        raise NodeError(f"parameter 'path': cannot read '{path.name}'; supported extensions: {', '.join(FILE_FORMATS)}")
    extra = {"delimiter": "\t"} if path.suffix.lower() == ".tsv" else {}
    dataset = datasets.load_dataset(builder, data_files=str(path), split="train", **extra)
    if params.max_rows is not None:
        dataset = dataset.select(range(min(params.max_rows, dataset.num_rows)))
    return {"dataset": dataset}
