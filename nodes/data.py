"""Data nodes: loading datasets (built-in samples, files, the Hub) and splitting them."""

from __future__ import annotations

import codecs
import csv
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from nodeloom.engine import Input, NodeError, NodeParams, Output, RunContext, node
from nodeloom.engine.node import param_rules
from nodeloom.engine.paths import datasets_cache_folder
from nodeloom.engine.types import DATASET, REPORT
from nodeloom.nodes.bundled import hub_unreachable
from nodeloom.nodes.file_head import first_rows

SAMPLE_DATA = Path(__file__).resolve().parent / "sample_data"
FILE_FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".txt": "text", ".parquet": "parquet"}
# Built-in data sets: files `NAME.SPLIT.jsonl|txt` in sample_data/; class names for label columns.
BUILTIN_LABEL_NAMES: dict[str, dict[str, list[str]]] = {
    "chat_support": {},
    "reviews_sentiment": {"label": ["negative", "positive"]},
    "support_articles": {},
}
PREVIEW_ROWS = 5
PREVIEW_CHARS = 200


def dataset_preview(dataset: Any, rows: int = PREVIEW_ROWS) -> dict[str, Any]:
    """Rows, columns and the first few rows (long values shortened): the summary every data node shows."""
    head = dataset.select(range(min(rows, dataset.num_rows))).to_list() if dataset.num_rows else []
    return {
        "rows": dataset.num_rows,
        "columns": list(dataset.column_names),
        "head": [{column: _short(value) for column, value in row.items()} for row in head],
    }


def _short(value: Any) -> Any:
    """A JSON-friendly, shortened copy of a cell: long text cut, long lists cut, other types as text."""
    if isinstance(value, str):
        return value if len(value) <= PREVIEW_CHARS else value[:PREVIEW_CHARS] + "…"
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, list):
        return [_short(item) for item in value[:16]] + ([f"… {len(value) - 16} more"] if len(value) > 16 else [])
    if isinstance(value, dict):
        return {str(key): _short(item) for key, item in value.items()}
    return _short(str(value))


def column_values(dataset: Any, column: str) -> list:
    """One column as a plain Python list, read in one go (iterating a datasets Column goes row by row).

    The dataset's format is set aside: a numpy, torch or pandas formatted dataset would give an array,
    a tensor or a Series of numpy scalars, which `isinstance(value, int)`, `set()` and `str()` misread.
    """
    unformatted = dataset if dataset.format["type"] is None else dataset.with_format(None)
    return unformatted[column][:]


def require_columns(dataset: Any, columns: list[str], where: str) -> None:
    """Stop with a message naming the first missing column and listing the ones there are."""
    for column in columns:
        if column not in dataset.column_names:
            raise NodeError(
                f"{where}: column '{column}' is not in the dataset; "
                f"its columns are: {', '.join(dataset.column_names) or 'none'}"
            )


# ---------------------------------------------------------------------------------------------
# data.load_dataset


class LoadDatasetParams(NodeParams):
    source: Literal["file", "builtin", "hub"] = Field(
        "file", description="file (a local file), builtin (NodeLoom's sample data) or hub (a Hugging Face dataset)"
    )
    path: str = Field(
        "",
        description="file: the file to read (csv, tsv, json, jsonl, txt or parquet)",
        json_schema_extra=param_rules(applies_when={"source": ["file"]}, required=True),
    )
    header: bool = Field(
        True,
        description="file (csv/tsv): the first line holds column names; off: columns are named column_1, column_2, …",
        json_schema_extra=param_rules(applies_when={"source": ["file"]}),
    )
    name: str = Field(
        "chat_support",
        description=(
            "builtin: chat_support, reviews_sentiment or support_articles; hub: the dataset name, e.g. stanfordnlp/imdb"
        ),
        json_schema_extra=param_rules(
            applies_when={"source": ["builtin", "hub"]},
            choices=BUILTIN_LABEL_NAMES,
            choices_when={"source": ["builtin"]},
        ),
    )
    config: str = Field(
        "",
        description="hub: the dataset configuration (empty: the default one)",
        json_schema_extra=param_rules(applies_when={"source": ["hub"]}),
    )
    split: str = Field(
        "train",
        min_length=1,
        description="builtin: train, test or all; hub: any split expression, e.g. train or test[:10%], or all",
        json_schema_extra=param_rules(applies_when={"source": ["builtin", "hub"]}),
    )
    columns: list[str] = Field(
        [], description="Keep only these columns, in this order (names as loaded; empty: keep all)"
    )
    rename: dict[str, str] = Field({}, description="Rename columns after selecting them: {old name: new name}")
    shuffle: bool = Field(False, description="Shuffle the rows (before max_rows, so max_rows takes a random sample)")
    seed: int | None = Field(None, ge=0, description="Shuffle seed (empty: the pipeline's seed)")
    max_rows: int | None = Field(
        None, ge=1, description="Keep at most this many rows", json_schema_extra=param_rules(unit="rows")
    )


def builtin_files(name: str) -> dict[str, Path]:
    """The split files of built-in data set `name`, by split name."""
    return {
        path.name.split(".")[1]: path
        for path in sorted(SAMPLE_DATA.glob(f"{name}.*.*"))
        if path.suffix in (".jsonl", ".txt")
    }


def _files(params: LoadDatasetParams) -> list[str]:
    if params.source == "file":
        return [params.path] if params.path else []
    if params.source == "builtin":
        return [str(path) for path in builtin_files(params.name).values()]
    return []


def _error_chain_text(exc: BaseException) -> str:
    """The first line of the innermost error: `datasets` wraps the parser's own, clearer message."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _check_utf8(path: Path) -> None:
    """Report the first line that is not UTF-8, reading in blocks so large files stay cheap."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                line += block.count(b"\n", 0, max(exc.start, 0))
                raise NodeError(
                    f"data.load_dataset: file '{path}' is not UTF-8 text (line {line}: {exc.reason}); "
                    "save it as UTF-8, or check that the extension matches its content"
                ) from exc
            line += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise NodeError(
                f"data.load_dataset: file '{path}' is not UTF-8 text "
                f"(it ends inside a character, line {line}); save it as UTF-8"
            ) from exc


def _json_problem(path: Path) -> str | None:
    """Where a .json/.jsonl file stops being JSON, as 'line N: reason'; None when it parses."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            json.loads(text)
            return None
        except json.JSONDecodeError as exc:
            if "Extra data" not in exc.msg:  # several objects, one per line, is JSON Lines: check those
                return f"line {exc.lineno}: {exc.msg}"
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                json.loads(line)
            except json.JSONDecodeError as exc:
                return f"line {number}: {exc.msg}"
    return None


def datasets_cache() -> str:
    """Where `datasets` keeps its Arrow copies: HF_DATASETS_CACHE when the user chose one, else NODELOOM_HOME's."""
    return os.environ.get("HF_DATASETS_CACHE") or str(datasets_cache_folder())


def _read_file(path_text: str, header: bool, max_rows: int | None) -> Any:
    """The file's rows; with `max_rows`, only the first ones are read where the format allows it."""
    import datasets

    path = Path(path_text).expanduser()
    if not path_text:
        raise NodeError(
            "data.load_dataset: parameter 'path' is empty; "
            "give the path of a csv, tsv, json, jsonl, txt or parquet file"
        )
    if not path.is_file():
        raise NodeError(
            f"data.load_dataset: parameter 'path': file '{path_text}' does not exist; "
            "give the path of a csv, tsv, json, jsonl, txt or parquet file"
        )
    suffix = path.suffix.lower()
    builder = FILE_FORMATS.get(suffix)
    if builder is None:
        raise NodeError(
            f"data.load_dataset: parameter 'path': cannot read '{path.name}'; "
            f"supported extensions: {', '.join(FILE_FORMATS)}"
        )
    if path.stat().st_size == 0:
        raise NodeError(f"data.load_dataset: file '{path}' is empty")
    options: dict[str, Any] = {}
    if builder == "parquet":
        with path.open("rb") as handle:
            if handle.read(4) != b"PAR1":
                raise NodeError(
                    f"data.load_dataset: file '{path}' is not a Parquet file (it does not start with PAR1); "
                    "if it holds text, give it the extension that matches (csv, json, …)"
                )
    delimiter = "\t" if suffix == ".tsv" else ","
    head = first_rows(path, builder, max_rows, delimiter, header) if max_rows is not None else None
    if head is not None:
        return datasets.Dataset(datasets.table.InMemoryTable(head), split=datasets.Split.TRAIN)
    if builder != "parquet":
        _check_utf8(path)
    if builder == "csv":
        options = {"delimiter": delimiter, "encoding": "utf-8-sig"}
        if not header:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                width = len(next(csv.reader(handle, delimiter=delimiter), []))
            options |= {"header": None, "column_names": [f"column_{index + 1}" for index in range(width)]}
    try:
        return datasets.load_dataset(
            builder, data_files=str(path), split="train", cache_dir=datasets_cache(), **options
        )
    except Exception as exc:
        where = f"data.load_dataset: file '{path}'"
        if builder == "json":
            problem = _json_problem(path)
            if problem:
                raise NodeError(
                    f"{where} is not valid JSON ({problem}); give .json one JSON document or .jsonl one object per line"
                ) from exc
            raise NodeError(
                f"{where} is JSON but not a table ({_error_chain_text(exc)}); "
                "give a list of objects or one object per line"
            ) from exc
        raise NodeError(f"{where} could not be read as {suffix[1:]}: {_error_chain_text(exc)}") from exc


def _read_builtin(name: str, split: str) -> Any:
    import datasets

    if name not in BUILTIN_LABEL_NAMES:
        raise NodeError(
            f"data.load_dataset: parameter 'name': there is no built-in data set '{name}'; "
            f"built-in: {', '.join(BUILTIN_LABEL_NAMES)}"
        )
    files = builtin_files(name)
    if split == "all":
        chosen = list(files.values())
    elif split in files:
        chosen = [files[split]]
    else:
        hint = "" if "test" in files else "; split it with a data.split node"
        raise NodeError(
            f"data.load_dataset: parameter 'split': built-in data set '{name}' has no split '{split}'; "
            f"choose {', '.join([*files, 'all'])}{hint}"
        )
    builder = FILE_FORMATS[chosen[0].suffix]
    dataset = datasets.load_dataset(
        builder, data_files=[str(path) for path in chosen], split="train", cache_dir=datasets_cache()
    )
    for column, names in BUILTIN_LABEL_NAMES[name].items():
        dataset = dataset.cast_column(column, datasets.ClassLabel(names=names))
    return dataset


def _read_hub(name: str, config: str, split: str) -> Any:
    import datasets

    if not name:
        raise NodeError(
            "data.load_dataset: parameter 'name' is empty; give a Hugging Face dataset name such as stanfordnlp/imdb"
        )
    try:
        if split == "all":
            parts = datasets.load_dataset(name, config or None, cache_dir=datasets_cache())
            return datasets.concatenate_datasets(list(parts.values()))
        return datasets.load_dataset(name, config or None, split=split, cache_dir=datasets_cache())
    except Exception as exc:
        if hub_unreachable(exc):
            raise NodeError(
                f"data.load_dataset: the Hugging Face Hub is unreachable (offline or no network), so dataset '{name}' "
                "cannot be downloaded and is not cached; download it where the Hub is reachable and use source 'file', "
                "or use source 'builtin'"
            ) from exc
        raise NodeError(
            f"data.load_dataset: could not load Hub dataset '{name}' (config '{config}', split '{split}'): "
            f"{_error_chain_text(exc)}"
        ) from exc


def dataset_summary(outputs: dict) -> dict:
    """The summary of a node whose one output is `dataset`: its preview."""
    return dataset_preview(outputs["dataset"])


@node(
    "data.load_dataset",
    title="Load dataset",
    category="data",
    outputs=[Output("dataset", DATASET, "The loaded rows")],
    params=LoadDatasetParams,
    version=2,
    key_params=("source", "name", "path", "split"),
    external_files=_files,
    summarize=dataset_summary,
)
def load_dataset(ctx: RunContext, inputs: dict, params: LoadDatasetParams) -> dict:
    """Load a table of examples: a built-in sample, a local file or a Hugging Face Hub dataset.

    Files: csv, tsv, json (a list of objects), jsonl (one object per line), txt (one row per
    line, column `text`) and parquet, all UTF-8. Built-in samples: `chat_support` (question,
    answer, topic; splits train and test), `reviews_sentiment` (text, label) and
    `support_articles` (text). Then, in this order: keep `columns`, `rename`, `shuffle`, `max_rows`.
    """
    if params.source == "file":
        # without shuffle, max_rows keeps the first rows: only those are read
        dataset = _read_file(params.path, params.header, None if params.shuffle else params.max_rows)
        origin = f"file '{params.path}'"
    elif params.source == "builtin":
        dataset = _read_builtin(params.name, params.split)
        origin = f"built-in data set '{params.name}' ({params.split})"
    else:
        dataset = _read_hub(params.name, params.config, params.split)
        origin = f"Hub dataset '{params.name}' ({params.split})"
    if dataset.num_rows == 0:
        raise NodeError(f"data.load_dataset: {origin} has no rows")
    if params.columns:
        require_columns(dataset, params.columns, "data.load_dataset: parameter 'columns'")
        dataset = dataset.select_columns(params.columns)
    if params.rename:
        require_columns(dataset, list(params.rename), "data.load_dataset: parameter 'rename'")
        try:
            dataset = dataset.rename_columns(params.rename)
        except ValueError as exc:
            raise NodeError(f"data.load_dataset: parameter 'rename': {exc}") from exc
    if params.shuffle:
        dataset = dataset.shuffle(seed=ctx.seed if params.seed is None else params.seed, keep_in_memory=True)
    if params.max_rows is not None and params.max_rows < dataset.num_rows:
        dataset = dataset.select(range(params.max_rows))
    ctx.log(f"loaded {dataset.num_rows} rows with columns {', '.join(dataset.column_names)} from {origin}")
    return {"dataset": dataset}


# ---------------------------------------------------------------------------------------------
# data.split


class SplitParams(NodeParams):
    train_fraction: float = Field(0.8, gt=0, le=1, description="Share of rows for training")
    validation_fraction: float = Field(0.1, ge=0, lt=1, description="Share of rows for validation")
    test_fraction: float = Field(0.1, ge=0, lt=1, description="Share of rows for testing")
    stratify_column: str = Field(
        "label",
        description=(
            "Keep this column's class proportions in every part when the column is there (empty: never stratify)"
        ),
    )
    seed: int | None = Field(None, ge=0, description="Seed of the random split (empty: the pipeline's seed)")
    drop_overlap: Literal["off", "exact", "near"] = Field(
        "off",
        description=(
            "Drop validation and test rows that repeat a training row: exact (same text after normalizing case, "
            "whitespace and Unicode) or near (also near duplicates, as data.quality finds them); off: keep every row"
        ),
    )
    overlap_columns: list[str] = Field(
        ["text"],
        description="The text columns compared for drop_overlap (a row is all of them together)",
        json_schema_extra=param_rules(applies_when={"drop_overlap": ["exact", "near"]}, required=True),
    )
    overlap_threshold: float = Field(
        0.7,
        ge=0.3,
        le=1.0,
        description="near: a row is a near copy when the Jaccard similarity of the word sets reaches this",
        json_schema_extra=param_rules(applies_when={"drop_overlap": ["near"]}),
    )

    @model_validator(mode="after")
    def _fractions_add_up(self) -> SplitParams:
        total = self.train_fraction + self.validation_fraction + self.test_fraction
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train_fraction + validation_fraction + test_fraction must be 1, got {total:g}")
        return self


def _split_off(indices: Any, count: int, labels: Any, seed: int) -> tuple[Any, Any]:
    """Split `count` rows off `indices` at random (stratified when labels are given): (kept, split off)."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    if count == 0:
        return indices, np.array([], dtype=indices.dtype)
    if count >= len(indices):
        return np.array([], dtype=indices.dtype), indices
    kept, taken = train_test_split(
        indices, test_size=count, random_state=seed, stratify=None if labels is None else labels[indices]
    )
    return kept, taken


def _split_summary(outputs: dict) -> dict:
    summary: dict[str, Any] = {"report": outputs["report"]}
    for part in ("train", "validation", "test"):
        dataset = outputs[part]
        summary[part] = {"rows": dataset.num_rows}
        if "label" in dataset.column_names and dataset.num_rows:
            counts: dict[str, int] = {}
            for value in column_values(dataset, "label"):
                counts[str(value)] = counts.get(str(value), 0) + 1
            summary[part]["label_counts"] = dict(sorted(counts.items()))
    return summary


@node(
    "data.split",
    title="Split dataset",
    category="data",
    inputs=[Input("dataset", DATASET)],
    outputs=[
        Output("train", DATASET, "Rows for training"),
        Output("validation", DATASET, "Rows for validation (empty when its fraction is 0)"),
        Output("test", DATASET, "Rows for testing (empty when its fraction is 0)"),
        Output("report", REPORT, "Rows per part, and the validation and test rows dropped by drop_overlap"),
    ],
    params=SplitParams,
    version=2,  # 2: the report output and drop_overlap
    key_params=("train_fraction", "validation_fraction", "test_fraction"),
    summarize=_split_summary,
)
def split_dataset(ctx: RunContext, inputs: dict, params: SplitParams) -> dict:
    """Split rows at random into train, validation and test parts, stratified by a label column when there is one.

    With drop_overlap, validation and test rows that repeat a training row are dropped after the
    split, so they measure generalization and not memory: `exact` drops rows whose text equals a
    training row's after normalization (Unicode NFKC, case, whitespace), `near` also those whose word
    set has a Jaccard similarity of at least overlap_threshold with a training row's (data.quality's
    near duplicates). The report counts them.
    """
    import numpy as np

    dataset = inputs["dataset"]
    seed = ctx.seed if params.seed is None else params.seed
    labels = None
    if params.stratify_column:
        if params.stratify_column in dataset.column_names:
            labels = np.array([str(value) for value in column_values(dataset, params.stratify_column)])
        elif "stratify_column" in params.model_fields_set:  # asked for by name, not the default
            require_columns(dataset, [params.stratify_column], "data.split: parameter 'stratify_column'")
    test_count = round(dataset.num_rows * params.test_fraction)
    validation_count = round(dataset.num_rows * params.validation_fraction)
    if dataset.num_rows - test_count - validation_count < 1:
        raise NodeError(
            f"data.split: {dataset.num_rows} rows leave none for training with these fractions; "
            "raise 'train_fraction' or load more rows"
        )
    try:
        rest, test = _split_off(np.arange(dataset.num_rows), test_count, labels, seed)
        train, validation = _split_off(rest, validation_count, labels, seed)
    except ValueError as exc:  # scikit-learn: a class too small to appear in every part
        raise NodeError(
            f"data.split: cannot stratify by column '{params.stratify_column}': {exc}; "
            "load more rows, change the fractions, or set 'stratify_column' to empty"
        ) from exc
    dropped = {"validation": 0, "test": 0}
    if params.drop_overlap != "off":
        validation, test, dropped = _drop_overlap(dataset, params, train, validation, test)
    ctx.log(
        f"split {dataset.num_rows} rows into {len(train)} train, {len(validation)} validation, {len(test)} test"
        + (f", stratified by '{params.stratify_column}'" if labels is not None else "")
        + (
            f"; dropped {dropped['validation']} validation and {dropped['test']} test rows that repeat training rows"
            if params.drop_overlap != "off"
            else ""
        )
    )
    parts = (("train", train), ("validation", validation), ("test", test))
    report = {
        "rows": {part: len(indices) for part, indices in parts},
        "drop_overlap": params.drop_overlap,
        "dropped_overlap": dropped,
    }
    # in memory: datasets would otherwise write index files beside an input from NodeLoom's cache
    return {part: dataset.select(indices, keep_in_memory=True) for part, indices in parts} | {"report": report}


def _drop_overlap(dataset: Any, params: SplitParams, train: Any, validation: Any, test: Any) -> tuple[Any, Any, dict]:
    """Validation and test indices without the rows that repeat a training row, and how many each lost."""
    import numpy as np

    from nodeloom.nodes.quality import TextNormalization, column_texts, normalized_keys, rows_overlapping

    texts = column_texts(dataset, params.overlap_columns, "data.split: parameter 'overlap_columns'")
    keys = normalized_keys(texts, TextNormalization())
    threshold = params.overlap_threshold if params.drop_overlap == "near" else None
    repeats = set(rows_overlapping(keys, train.tolist(), [*validation.tolist(), *test.tolist()], threshold))
    kept = [
        np.array([row for row in part.tolist() if row not in repeats], dtype=part.dtype) for part in (validation, test)
    ]
    return kept[0], kept[1], {"validation": len(validation) - len(kept[0]), "test": len(test) - len(kept[1])}
