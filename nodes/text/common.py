"""What the text nodes share: text-column checks, datasets.map settings and fingerprints, length statistics."""

from __future__ import annotations

from typing import Any

from nodeloom.engine import NodeError, NodeParams
from nodeloom.nodes.data import column_values, require_columns

MAP_BATCH = 1000  # rows per datasets.map batch
# Every map and select here keeps its result in memory (keep_in_memory=True) and never reads an
# old result back (load_from_cache_file=False): left to itself, datasets writes and reads cache
# files next to the input's Arrow files, which may be an entry of NodeLoom's output cache that
# must not change. The engine caches the outputs itself.
HISTOGRAM_BINS = 20
MAP_CODE_VERSION = "1"  # part of every map fingerprint: bump when a map function's output changes for the same input


def require_text_column(dataset: Any, column: str, where: str) -> None:
    """Stop unless `column` exists and holds text."""
    require_columns(dataset, [column], where)
    dtype = getattr(dataset.features[column], "dtype", None)
    if dtype not in ("string", "large_string"):
        raise NodeError(
            f"{where}: column '{column}' holds {dtype or type(dataset.features[column]).__name__} values, not text; "
            "choose a text column"
        )


def text_column_values(dataset: Any, column: str, where: str) -> list[str]:
    """A text column as Python strings (None as ""), after checking it exists and holds text."""
    require_text_column(dataset, column, where)
    return [value or "" for value in column_values(dataset, column)]


def length_statistics(lengths: Any) -> dict[str, Any]:
    """Min, mean, percentiles, max and a histogram of a list of lengths (JSON numbers only)."""
    import numpy as np

    values = np.asarray(lengths, dtype=np.int64)
    if values.size == 0:
        return {"count": 0}
    percentiles = np.percentile(values, [50, 90, 95, 99])
    counts, edges = np.histogram(values, bins=min(HISTOGRAM_BINS, max(1, int(values.max() - values.min()) + 1)))
    return {
        "count": int(values.size),
        "min": int(values.min()),
        "mean": round(float(values.mean()), 2),
        "p50": float(percentiles[0]),
        "p90": float(percentiles[1]),
        "p95": float(percentiles[2]),
        "p99": float(percentiles[3]),
        "max": int(values.max()),
        "histogram": {"edges": [round(float(edge), 2) for edge in edges], "counts": [int(count) for count in counts]},
    }


def map_fingerprint(dataset: Any, params: NodeParams, *material: str) -> str:
    """The fingerprint of a `datasets.map` result, from what decides it: input, parameters, `material`.

    datasets would otherwise hash the map function with dill, closure included: over a second
    for a tokenizer, and impossible for the run context (then it picks a random fingerprint).
    """
    import hashlib

    text = "|".join(
        (MAP_CODE_VERSION, dataset._fingerprint, type(params).__name__, params.model_dump_json(), *material)
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def tokenizer_identity(tokenizer: Any) -> str:
    """Everything about a fast tokenizer that changes its ids: its tokenizer.json and eos token."""
    return f"{tokenizer.backend_tokenizer.to_str()}|{tokenizer.eos_token_id}"
