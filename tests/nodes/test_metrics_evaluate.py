"""metric.evaluate: local metric scripts work offline; Hub names fail offline with a clear message."""

from __future__ import annotations

import datasets
import pytest

from nodeloom.engine import NodeError
from nodeloom.engine.context import CancelToken, RunContext
from nodeloom.engine.node import discover

LOCAL_METRIC = """
import datasets
import evaluate
import numpy as np


class ShareEqual(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="share of rows whose prediction equals the reference",
            citation="",
            inputs_description="",
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, scale=1.0):
        equal = np.array([p == r for p, r in zip(predictions, references)])
        return {"share_equal": scale * equal.mean(), "equal": equal}
"""

PAIRS = {"prediction": ["a", "b", "c", "d"], "reference": ["a", "x", "c", "y"]}


def run_evaluate(dataset=PAIRS, **params) -> dict:
    node_type = discover().get("metric.evaluate")
    ctx = RunContext("test", "evaluate", "cpu", 0, None, CancelToken(), lambda event: None)  # type: ignore[arg-type]
    return node_type.run(
        ctx, {"dataset": datasets.Dataset.from_dict(dataset)}, node_type.params.model_validate(params)
    )["metrics"]


def test_local_metric_script_runs_offline_with_compute_args(tmp_path):
    script = tmp_path / "share_equal.py"
    script.write_text(LOCAL_METRIC, encoding="utf-8")
    metrics = run_evaluate(metric=str(script), trust_remote_code=True, compute_args={"scale": 100})
    assert metrics == {"share_equal": 50.0, "equal": [True, False, True, False]}  # numpy values made plain JSON
    assert isinstance(metrics["share_equal"], float)


def test_hub_metric_offline_names_the_cause_and_the_offline_nodes(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(NodeError) as caught:
        run_evaluate(metric="bleu", trust_remote_code=True)
    message = str(caught.value)
    assert message.startswith("metric.evaluate: parameter 'metric' ('bleu'): no local metric at that path")
    assert "cannot be fetched from the Hugging Face Hub (HF_HUB_OFFLINE is set)" in message
    assert "metric.bleu" in message and "\n" not in message


def test_scripts_run_only_when_trusted_and_columns_are_checked_first(tmp_path):
    with pytest.raises(NodeError, match="set trust_remote_code to true if you trust it"):
        run_evaluate(metric="bleu")
    with pytest.raises(NodeError, match="name a metric"):
        run_evaluate(metric=" ", trust_remote_code=True)
    with pytest.raises(
        NodeError, match="column 'reference' is not in the dataset; its columns are: prediction, answer"
    ):
        run_evaluate({"prediction": ["a"], "answer": ["a"]}, metric="bleu", trust_remote_code=True)


def test_compute_errors_are_explained(tmp_path):
    script = tmp_path / "share_equal.py"
    script.write_text(LOCAL_METRIC, encoding="utf-8")
    with pytest.raises(
        NodeError, match="metric.evaluate: metric '.*share_equal.py' could not score the rows: TypeError"
    ):
        run_evaluate(metric=str(script), trust_remote_code=True, compute_args={"no_such_argument": 1})
