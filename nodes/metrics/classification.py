"""Classification metrics: metric.accuracy and metric.precision_recall_f1 (scikit-learn)."""

from __future__ import annotations

import itertools
from typing import Any, Literal

from pydantic import Field

from nodeloom.engine import Input, NodeError, Output, RunContext, node
from nodeloom.engine.types import DATASET, METRICS
from nodeloom.nodes.metrics.common import WORST_EXAMPLE_COUNT, PairParams, read_labels


def _label_names(dataset: Any, column: str) -> list[str] | None:
    """Class names when the column is a datasets ClassLabel."""
    feature = dataset.features.get(column)
    return list(feature.names) if type(feature).__name__ == "ClassLabel" else None


def _misclassified(predictions: list, references: list) -> tuple[list[float], list[dict]]:
    """1.0 or 0.0 per row, and the first misclassified rows (correct rows are no example of anything)."""
    scores = [float(p == r) for p, r in zip(predictions, references, strict=False)]
    wrong = itertools.islice((row for row, score in enumerate(scores) if not score), WORST_EXAMPLE_COUNT)
    return scores, [
        {"row": row, "prediction": predictions[row], "reference": references[row], "score": 0.0} for row in wrong
    ]


@node(
    "metric.accuracy",
    title="Accuracy",
    category="metric",
    inputs=[Input("dataset", DATASET, description="Rows with predicted and true class labels")],
    outputs=[Output("metrics", METRICS, "accuracy (0-1), correct, total")],
    params=PairParams,
)
def accuracy(ctx: RunContext, inputs: dict, params: PairParams) -> dict:
    """The share of rows whose predicted class equals the true class (scikit-learn's accuracy_score)."""
    from sklearn.metrics import accuracy_score

    predictions, references = read_labels(
        inputs["dataset"], params.prediction_column, params.reference_column, "metric.accuracy"
    )
    scores, worst = _misclassified(predictions, references)
    correct = int(accuracy_score(references, predictions, normalize=False))
    return {
        "metrics": {
            "accuracy": correct / len(references),  # the same division accuracy_score makes
            "correct": correct,
            "total": len(references),
            "example_scores": scores,
            "worst_examples": worst,
        }
    }


class PrecisionRecallParams(PairParams):
    average: Literal["binary", "macro", "micro", "weighted"] = Field(
        "macro",
        description="binary: the positive class only; macro: unweighted mean over classes; "
        "micro: from total counts; weighted: mean weighted by each class's support",
    )
    pos_label: str = Field("1", description="The positive class for average 'binary' (a number or a class name)")


def _positive_label(text: str, labels: list, names: list[str] | None) -> Any:
    """`pos_label` as the labels' own type: an integer id (or the id of a class name) or a string."""
    if isinstance(labels[0], str):
        return text
    if names and text in names:
        return names.index(text)
    try:
        return int(text)
    except ValueError:
        raise NodeError(
            f"metric.precision_recall_f1: parameter 'pos_label': '{text}' is not a number, and the labels are numbers"
        ) from None


@node(
    "metric.precision_recall_f1",
    title="Precision / recall / F1",
    category="metric",
    inputs=[Input("dataset", DATASET, description="Rows with predicted and true class labels")],
    outputs=[Output("metrics", METRICS, "precision, recall, f1 (0-1) and a per-class table")],
    params=PrecisionRecallParams,
    key_params=("average",),
)
def precision_recall_f1(ctx: RunContext, inputs: dict, params: PrecisionRecallParams) -> dict:
    """Precision, recall and F1 from scikit-learn (binary, macro, micro or weighted), with a per-class table.

    A class never predicted (or never present) has precision (or recall) 0, not a warning.
    """
    from sklearn.metrics import precision_recall_fscore_support

    dataset = inputs["dataset"]
    predictions, references = read_labels(
        dataset, params.prediction_column, params.reference_column, "metric.precision_recall_f1"
    )
    names = _label_names(dataset, params.reference_column)
    options: dict[str, Any] = {"zero_division": 0.0}
    if params.average == "binary":
        options["pos_label"] = _positive_label(params.pos_label, references, names)
    try:
        precision, recall, f1, _ = precision_recall_fscore_support(
            references, predictions, average=params.average, **options
        )
    except ValueError as exc:  # e.g. average='binary' on three classes, or pos_label not among the labels
        raise NodeError(f"metric.precision_recall_f1: parameter 'average' is '{params.average}': {exc}") from exc
    classes = sorted(set(references) | set(predictions))
    table = precision_recall_fscore_support(references, predictions, labels=classes, average=None, zero_division=0.0)
    per_class = [
        {
            "label": names[label] if names and isinstance(label, int) and 0 <= label < len(names) else label,
            "precision": float(p),
            "recall": float(r),
            "f1": float(f),
            "support": int(s),
        }
        for label, p, r, f, s in zip(classes, *table, strict=False)
    ]
    scores, worst = _misclassified(predictions, references)
    return {
        "metrics": {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "per_class": per_class,
            "example_scores": scores,
            "worst_examples": worst,
        }
    }
