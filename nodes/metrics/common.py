"""What the metric nodes share: reading prediction/reference rows, ranking the worst rows, pausing the cyclic GC."""

from __future__ import annotations

import contextlib
import gc
import heapq
from typing import Any

from pydantic import Field

from nodeloom.engine import NodeError, NodeParams
from nodeloom.nodes.data import column_values, require_columns

WORST_EXAMPLE_COUNT = 10


class PairParams(NodeParams):
    prediction_column: str = Field("prediction", description="Column with the model's outputs")
    reference_column: str = Field("reference", description="Column with the reference text (or a list of references)")


def check_rows(dataset: Any, columns: list[str], where: str) -> None:
    require_columns(dataset, columns, where)
    if dataset.num_rows == 0:
        raise NodeError(f"{where}: the dataset has no rows to score; connect a dataset with predictions")


def read_pairs(
    dataset: Any, prediction_column: str, reference_column: str, where: str
) -> tuple[list[str], list[list[str]]]:
    """Predictions and references from a dataset; a reference may be a string or a list of strings.

    Empty strings are kept: an empty prediction is a (bad) answer, not a missing one.
    """
    check_rows(dataset, [prediction_column, reference_column], where)
    predictions, references = column_values(dataset, prediction_column), column_values(dataset, reference_column)
    normalized: list[list[str]] = []
    for row, (prediction, reference) in enumerate(zip(predictions, references, strict=False)):
        if not isinstance(prediction, str):
            raise NodeError(f"{where}: column '{prediction_column}', row {row}: expected text, got {_kind(prediction)}")
        refs = [reference] if isinstance(reference, str) else reference
        if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
            raise NodeError(
                f"{where}: column '{reference_column}', row {row}: expected a string or a non-empty list of strings, "
                f"got {_kind(reference)}"
            )
        normalized.append(refs)
    return predictions, normalized


def read_labels(dataset: Any, prediction_column: str, reference_column: str, where: str) -> tuple[list, list]:
    """Predicted and true class labels: all integers or all strings, in both columns."""
    check_rows(dataset, [prediction_column, reference_column], where)
    columns = {column: column_values(dataset, column) for column in (prediction_column, reference_column)}
    kinds = {column: {_label_kind(value) for value in values} for column, values in columns.items()}
    for column, values in columns.items():
        if None in kinds[column]:
            row = next(row for row, value in enumerate(values) if _label_kind(value) is None)
            raise NodeError(
                f"{where}: column '{column}', row {row}: expected a class label (integer or text), "
                f"got {_kind(values[row])}"
            )
    if len(kinds[prediction_column] | kinds[reference_column]) > 1:
        expected = _label_kind(columns[prediction_column][0])
        column = prediction_column if len(kinds[prediction_column]) > 1 else reference_column
        row = next(row for row, value in enumerate(columns[column]) if _label_kind(value) != expected)
        raise NodeError(
            f"{where}: column '{column}', row {row} holds {_label_kind(columns[column][row])} "
            f"but column '{prediction_column}' starts with {expected} labels; "
            "give both columns the same kind (e.g. map class names to ids first)"
        )
    return columns[prediction_column], columns[reference_column]


def _label_kind(value: Any) -> str | None:
    return "text" if isinstance(value, str) else "integer" if isinstance(value, int) else None


def _kind(value: Any) -> str:
    return "an empty value (null)" if value is None else f"a {type(value).__name__} ({repr(value)[:40]})"


@contextlib.contextmanager
def cyclic_gc_paused():
    """Pause Python's cyclic garbage collector while scoring.

    Scoring allocates millions of small objects (n-gram counters, score objects) that form no
    cycles, so reference counting frees them anyway; but each allocation burst triggers
    collections that walk every live object of a process holding torch and transformers, which
    made sacreBLEU per row 1.4x slower than `corpus_bleu` there.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def worst_examples(scores: list[float], predictions: list[str], references: list[list[str]]) -> list[dict]:
    """The rows with the lowest scores, earlier rows winning ties; a single reference shown as a string."""
    chosen = heapq.nsmallest(WORST_EXAMPLE_COUNT, range(len(scores)), key=lambda row: (scores[row], row))
    return [
        {
            "row": row,
            "prediction": predictions[row],
            "reference": references[row][0] if len(references[row]) == 1 else references[row],
            "score": scores[row],
        }
        for row in chosen
    ]
