"""The Runs page's sweeps section: a recorded sweep's runs ranked by the chosen metric, with their swept values and
a chart of the metric against each swept parameter."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from nodeloom import pipelines as examples_package
from nodeloom.cli import main
from nodeloom.engine.node import REGISTRY, discover
from nodeloom.engine.store import RunInfo
from nodeloom.ui import library
from nodeloom.ui.sweeps import comparison_rows, log_axis, ranked, swept_parameters
from tests.support import REPO
from tests.support.pipelines import bleu_pipeline
from tests.support.store_nodes import REGISTRY as STORE_TEST_NODES
from tests.support.store_nodes import train_pipeline, write_pipeline


def run_info(run_id: str, overrides: list[str], loss: float | None, status: str = "succeeded") -> RunInfo:
    return RunInfo(
        id=run_id,
        pipeline="trainer",
        version=1,
        version_id=1,
        status=status,
        created=f"2026-01-01T00:00:0{run_id[-1]}",
        started=None,
        finished=None,
        seconds=1.0,
        device="cpu",
        requested_device=None,
        overrides=overrides,
        targets=[],
        use_cache=True,
        error=None,
        pid=None,
        host=None,
        rerun_of=None,
        metrics={} if loss is None else {"train": {"final_loss": loss}},
        sweep_id="s1",
    )


def test_swept_parameters_are_the_overrides_that_differ_and_runs_rank_with_failures_last():
    runs = [
        run_info("r1", ["train.steps=5", "train.learning_rate=0.001", 'data.text="a"'], 2.0),
        run_info("r2", ["train.steps=5", "train.learning_rate=0.1", 'data.text="a"'], None, "failed"),
        run_info("r3", ["train.steps=5", "train.learning_rate=0.1", 'data.text="b"'], 1.0),
    ]
    assert swept_parameters(runs) == ["data.text", "train.learning_rate"]  # steps was --set for all: not swept
    assert [run.id for run in ranked(runs, "train.final_loss", lower_is_better=True)] == ["r3", "r1", "r2"]
    assert [run.id for run in ranked(runs, "train.final_loss", lower_is_better=False)] == ["r1", "r3", "r2"]
    rows = comparison_rows(ranked(runs, "train.final_loss", True), swept_parameters(runs), ["train.final_loss"])
    assert rows[0] == {
        "#": 1,
        "run": "r3",
        "status": "succeeded",
        "data.text": '"b"',
        "train.learning_rate": "0.1",
        "train.final_loss": 1.0,
    }
    assert rows[2]["train.final_loss"] is None
    assert log_axis([0.001, 0.1]) and not log_axis([1, 2]) and not log_axis([0, 10_000])


@pytest.fixture
def recorded_sweep(tmp_path, monkeypatch, capsys) -> dict:
    """A 2x2 sweep of the store test trainer, recorded by `nodeloom sweep`; the app opens a small example."""
    discover()
    for type_id, node_type in STORE_TEST_NODES.types.items():
        monkeypatch.setitem(REGISTRY.types, type_id, node_type)
    path = write_pipeline(tmp_path, train_pipeline(steps=6))
    grid = ["--grid", 'data.text="1","2"', "--grid", "train.learning_rate=0.001,0.1"]
    assert main(["sweep", str(path), *grid, "--rank-by", "train.final_loss:asc", "--json"]) == 0
    folder = tmp_path / "examples"
    folder.mkdir()
    (folder / library.FIRST_EXAMPLE).write_text(json.dumps(bleu_pipeline("chatbot-stand-in")))
    monkeypatch.setattr(examples_package, "FOLDER", folder)
    return json.loads(capsys.readouterr().out)


def test_the_runs_page_ranks_a_sweeps_runs_and_charts_the_metric_by_each_swept_parameter(recorded_sweep):
    test = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    test.run()
    test.radio(key="page").set_value("Runs").run()
    test.radio(key="runs-scope").set_value("all pipelines").run()
    assert not test.exception, [error.value for error in test.exception]
    assert "Sweeps" in [header.value for header in test.subheader]
    test.selectbox(key=f"sweep-metric:{recorded_sweep['sweep_id']}").set_value("train.final_loss").run()
    test.toggle(key=f"sweep-lower:{recorded_sweep['sweep_id']}").set_value(True).run()

    [table] = [frame.value for frame in test.dataframe if "train.learning_rate" in frame.value.columns]
    assert list(table["run"]) == [run["run_id"] for run in recorded_sweep["runs"]]  # the CLI's ranking, lowest first
    assert list(table["data.text"]) == [json.dumps(run["overrides"]["data.text"]) for run in recorded_sweep["runs"]]
    losses = [run["metrics"]["train"]["final_loss"] for run in recorded_sweep["runs"]]
    assert list(table["train.final_loss"]) == pytest.approx(losses)

    charts = [json.loads(chart.proto.spec) for chart in test.get("plotly_chart")]
    titles = {chart["layout"]["title"]["text"]: chart for chart in charts}
    by_rate = titles["train.final_loss by train.learning_rate"]
    assert sorted(by_rate["data"][0]["y"]) == pytest.approx(sorted(losses))
    assert by_rate["layout"]["xaxis"]["type"] == "log"  # 0.001 to 0.1: a hundredfold
    assert "train.final_loss by data.text" in titles
