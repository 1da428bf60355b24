"""The first rows of a data file, read without reading the rest of it.

data.load_dataset reads this way when `max_rows` is set without `shuffle`, so that five rows of a 200 MB CSV
cost a few kilobytes instead of a full Arrow copy of the file. Each reader makes its table the way the
`datasets` builder for the format does (pandas then pa.Table.from_pandas for CSV, pyarrow's JSON reader for
JSON Lines, one string per line for text, the file's own schema for Parquet), so the rows and column types
are those a full load gives.
"""

from __future__ import annotations

import codecs
import io
from pathlib import Path
from typing import Any


def first_rows(path: Path, builder: str, rows: int, delimiter: str = ",", header: bool = True) -> Any:
    """The first `rows` rows of `path` as a pyarrow Table, or None where a partial read cannot stand in for a
    full one: a .json file holding one JSON array, or a head that does not parse (the full read then reports
    where and why, in the same words as without max_rows)."""
    import pyarrow as pa

    readers = {"csv": _csv_head, "json": _json_lines_head, "text": _text_head, "parquet": _parquet_head}
    try:
        return readers[builder](path, rows, delimiter, header)
    except (OSError, ValueError, TypeError, pa.ArrowException):  # UnicodeDecodeError and ArrowInvalid are ValueErrors
        return None


def _csv_head(path: Path, rows: int, delimiter: str, header: bool) -> Any:
    import pandas as pd
    import pyarrow as pa

    frame = pd.read_csv(path, sep=delimiter, encoding="utf-8-sig", nrows=rows, header="infer" if header else None)
    if not header:  # named as data.load_dataset names them without a header line
        frame.columns = [f"column_{index + 1}" for index in range(len(frame.columns))]
    return pa.Table.from_pandas(frame)


def _json_lines_head(path: Path, rows: int, *_: Any) -> Any:
    import pyarrow.json as paj

    lines: list[bytes] = []
    with path.open("rb") as handle:
        for line in handle:
            if not lines and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8) :]
            if not lines and line.lstrip().startswith(b"["):
                return None  # one JSON array: its first rows are only known once the whole document is parsed
            if line.strip():
                lines.append(line if line.endswith(b"\n") else line + b"\n")
                if len(lines) == rows:
                    break
    return paj.read_json(io.BytesIO(b"".join(lines)))


def _text_head(path: Path, rows: int, *_: Any) -> Any:
    import pyarrow as pa

    lines: list[str] = []
    with path.open("rb") as handle:
        # Decoded line by line (a text-mode file decodes whole blocks, so a bad byte further on would stop it),
        # with \r\n and \r ending lines too, as the datasets text builder's universal newlines do.
        for raw in handle:
            text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
            lines += text.removesuffix("\n").split("\n")
            if len(lines) >= rows:
                break
    return pa.Table.from_arrays([pa.array(lines[:rows], type=pa.string())], names=["text"])


def _parquet_head(path: Path, rows: int, *_: Any) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    groups, covered = [], 0
    while covered < rows and len(groups) < parquet.num_row_groups:  # the row groups that hold the first rows
        covered += parquet.metadata.row_group(len(groups)).num_rows
        groups.append(len(groups))
    # one thread: with more, pyarrow reads ahead into row groups it will not be asked for
    batches = parquet.iter_batches(batch_size=rows, row_groups=groups, use_threads=False)
    batch = next(batches, None)
    return pa.Table.from_batches([] if batch is None else [batch], schema=parquet.schema_arrow)
