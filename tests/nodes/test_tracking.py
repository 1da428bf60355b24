"""train.trainer's experiment tracking: report_to through transformers' own integrations."""

from __future__ import annotations

import importlib.util

import pytest

from nodeloom.engine import NodeError
from nodeloom.engine.events import NodeLog
from tests.support.tiny_models import TINY_GPT, causal_dataset, context, run_node


def tiny_training(tmp_path, tokenizer, events=None, **params):
    model = run_node("model.from_config", context(tmp_path), {"tokenizer": tokenizer}, **TINY_GPT)["model"]
    inputs = {"model": model, "train": causal_dataset(tokenizer, block_size=16)}
    return run_node(
        "train.trainer", context(tmp_path, events=events), inputs, max_steps=3, batch_size=4, save_steps=0, **params
    )


def test_tensorboard_logs_every_step_into_the_nodes_working_folder(tmp_path, tokenizer):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events: list = []
    out = tiny_training(tmp_path, tokenizer, events, report_to="tensorboard", run_name="tiny")
    folder = tmp_path / "work" / "tensorboard"  # tiny_models.context's workdir is tmp_path/work
    event_files = list(folder.glob("events.out.tfevents.*"))
    assert len(event_files) == 1, list(folder.parent.rglob("*"))
    logged = EventAccumulator(str(folder)).Reload()
    losses = logged.Scalars("train/loss")
    assert [point.step for point in losses] == [1, 2, 3]
    assert losses[-1].value == pytest.approx(out["history"]["steps"][-1]["loss"])
    messages = [event.message for event in events if isinstance(event, NodeLog)]
    assert f"TensorBoard logs in {folder}; watch with: tensorboard --logdir {folder}" in messages  # nodeloom show


def test_no_tracking_by_default_writes_no_logs(tmp_path, tokenizer):
    tiny_training(tmp_path, tokenizer)
    assert not list((tmp_path / "work").rglob("events.out.tfevents.*"))


@pytest.mark.parametrize("tracker", ["mlflow", "wandb"])
def test_a_tracker_that_is_not_installed_is_named_with_the_fix(tmp_path, tokenizer, tracker):
    if importlib.util.find_spec(tracker) is not None:
        pytest.skip(f"{tracker} is installed here")
    with pytest.raises(NodeError, match=rf"parameter 'report_to': {tracker} is not installed; pip install {tracker}"):
        tiny_training(tmp_path, tokenizer, report_to=tracker)


def test_unknown_trackers_are_refused_by_validation():
    from nodeloom.engine.node import discover
    from nodeloom.engine.validation import param_problems

    problems = param_problems(discover().get("train.trainer"), {"report_to": "comet"}, "train")
    assert len(problems) == 1 and "report_to" in problems[0].message
