"""metric.evaluate: any Hugging Face `evaluate` metric, by Hub name or local path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from nodeloom.engine import Input, NodeError, Output, RunContext, node
from nodeloom.engine.types import DATASET, METRICS
from nodeloom.nodes.bundled import hub_unreachable
from nodeloom.nodes.data import column_values
from nodeloom.nodes.metrics.common import PairParams, check_rows


class EvaluateParams(PairParams):
    metric: str = Field("", description="An evaluate metric: a Hub name such as 'meteor', or a local script or folder")
    config_name: str = Field(
        "", description="The metric's configuration, for metrics that have several (empty: default)"
    )
    compute_args: dict[str, Any] = Field(
        {}, description='Extra keyword arguments for compute(), e.g. {"average": "macro"}'
    )
    trust_remote_code: bool = Field(
        False,
        description="evaluate metrics are Python scripts that run when loaded: turn on only for a metric you trust",
    )


def _load_evaluate_metric(params: EvaluateParams) -> Any:
    import evaluate
    from huggingface_hub import constants

    where = f"metric.evaluate: parameter 'metric' ('{params.metric}')"
    if not params.metric.strip():
        raise NodeError(f"{where}: name a metric, e.g. 'meteor' or a local metric script (.py) or folder")
    if not params.trust_remote_code:
        raise NodeError(
            f"{where}: evaluate runs the metric's Python script when it loads it; "
            "set trust_remote_code to true if you trust it"
        )
    try:
        return evaluate.load(params.metric, params.config_name or None)
    except Exception as exc:
        local = Path(params.metric).expanduser().exists()
        if not local and (constants.HF_HUB_OFFLINE or hub_unreachable(exc) or isinstance(exc, FileNotFoundError)):
            reason = (
                "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else "the Hub is unreachable or has no such metric"
            )
            raise NodeError(
                f"{where}: no local metric at that path, "
                f"and it cannot be fetched from the Hugging Face Hub ({reason}); "
                "use metric.bleu, metric.sacrebleu, metric.rouge, metric.accuracy, metric.precision_recall_f1 or "
                "metric.exact_match, which work offline, or give the path of a downloaded metric script"
            ) from exc
        raise NodeError(f"{where}: could not be loaded: {type(exc).__name__}: {exc}") from exc


def _json_number_tree(value: Any) -> Any:
    """numpy scalars and arrays (which some metrics return) as plain JSON numbers and lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {str(key): _json_number_tree(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_number_tree(item) for item in value]
    return value


@node(
    "metric.evaluate",
    title="evaluate metric",
    category="metric",
    inputs=[Input("dataset", DATASET, description="Rows with prediction and reference columns")],
    outputs=[Output("metrics", METRICS, "Whatever the metric's compute() returns")],
    params=EvaluateParams,
    key_params=("metric",),
)
def evaluate_metric(ctx: RunContext, inputs: dict, params: EvaluateParams) -> dict:
    """Any Hugging Face `evaluate` metric, by Hub name or local path (needs the Hub unless local).

    The columns go to compute() as they are (text, lists or numbers, as the metric expects).
    `evaluate` gives no per-row scores, so this node returns none.
    """
    dataset = inputs["dataset"]
    check_rows(dataset, [params.prediction_column, params.reference_column], "metric.evaluate")
    metric = _load_evaluate_metric(params)
    try:
        result = metric.compute(
            predictions=column_values(dataset, params.prediction_column),
            references=column_values(dataset, params.reference_column),
            **params.compute_args,
        )
    except Exception as exc:  # the metric's own checks: wrong value types, unknown arguments
        raise NodeError(
            f"metric.evaluate: metric '{params.metric}' could not score the rows: {type(exc).__name__}: {exc}"
        ) from exc
    return {"metrics": _json_number_tree(dict(result or {}))}
