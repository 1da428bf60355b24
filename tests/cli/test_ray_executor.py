"""`--executor ray`: independent branches run at the same time as Ray tasks, with the local executor's metrics;
stopping the run cancels its tasks; `nodeloom run --executor ray` records one run; without Ray, one line says what
to install. One local Ray instance (2 CPUs) serves the whole module."""

from __future__ import annotations

import logging
import sys
import time

import pytest

from nodeloom.engine.cache import OutputCache
from nodeloom.engine.context import CancelToken
from nodeloom.engine.events import NodeFinished, NodeStarted
from nodeloom.engine.ray_executor import RayExecutor
from nodeloom.engine.recorder import run_recorded
from nodeloom.engine.store import Store
from nodeloom.engine.validation import load_pipeline
from tests.support import engine_nodes
from tests.support.cli import one_json_object
from tests.support.store_nodes import train_pipeline, write_pipeline

ray = pytest.importorskip("ray")


def two_branches(seconds: float) -> dict:
    """source -> (left sleep -> left score) and (right sleep -> right score): two branches that need nothing of
    each other."""
    return {
        "schema_version": 1,
        "name": "two_branches",
        "nodes": [
            {"id": "source", "type": "test.source", "params": {"value": 3}},
            {"id": "left", "type": "test.sleep", "params": {"seconds": seconds}},
            {"id": "right", "type": "test.sleep", "params": {"seconds": seconds}},
            {"id": "left_score", "type": "test.score"},
            {"id": "right_score", "type": "test.score"},
        ],
        "edges": [
            {"source": "source", "target": "left"},
            {"source": "source", "target": "right"},
            {"source": "left", "target": "left_score"},
            {"source": "right", "target": "right_score"},
        ],
    }


@pytest.fixture(scope="module")
def executor(tmp_path_factory):
    """A Ray executor on a local instance of 2 CPUs, its two workers warmed up (they have imported NodeLoom and
    the test nodes), so that timings measure the run, not a worker's first imports."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    with RayExecutor() as started, pytest.MonkeyPatch.context() as patch:
        patch.setenv("NODELOOM_HOME", str(tmp_path_factory.mktemp("warm-up")))  # the tests' own homes come later
        engine_nodes.run(two_branches(1.0), executor=started, use_cache=False)
        patch.undo()
        yield started
    ray.shutdown()


def test_two_branches_run_at_the_same_time_with_the_local_executors_metrics(executor):
    times: dict[tuple[str, str], float] = {}

    def clock(event):
        if isinstance(event, (NodeStarted, NodeFinished)):
            times[(event.kind, event.node_id)] = time.monotonic()

    on_ray = engine_nodes.run(two_branches(2.0), executor=executor, listeners=[clock])
    local = engine_nodes.run(two_branches(0.0))

    assert on_ray.status == local.status == "succeeded"
    assert on_ray.metrics == local.metrics == {"left_score": {"value": 3.0}, "right_score": {"value": 3.0}}
    assert list(on_ray.nodes) == list(local.nodes)  # reported in plan order, whatever order they finished in
    assert all(result.seconds >= 2.0 for node_id, result in on_ray.nodes.items() if node_id in ("left", "right"))
    left = times[("started", "left")], times[("finished", "left")]
    right = times[("started", "right")], times[("finished", "right")]
    assert left[0] < right[1] and right[0] < left[1], f"the branches did not overlap: {left} {right}"
    assert on_ray.outputs("left") == {"value": "3.0"}  # written to the cache by the task, read here on demand

    again = engine_nodes.run(two_branches(2.0), executor=executor, cache=OutputCache())
    assert all(result.cached for result in again.nodes.values()) and again.metrics == on_ray.metrics


def test_stopping_a_ray_run_cancels_its_running_tasks_and_records_the_run_cancelled(executor):
    cancel = CancelToken()
    started: set[str] = set()

    def stop_once_both_branches_run(event):
        if isinstance(event, NodeStarted):
            started.add(event.node_id)
            if {"left", "right"} <= started:
                cancel.cancel()

    pipeline = load_pipeline(two_branches(30.0), engine_nodes.REGISTRY)
    clock = time.monotonic()
    with Store.open() as store:
        version = store.ensure_version("two_branches", two_branches(30.0), "test").version
        result = run_recorded(
            store,
            pipeline,
            version,
            device="cpu",
            listeners=[stop_once_both_branches_run],
            cancel=cancel,
            registry=engine_nodes.REGISTRY,
            executor=executor,
        )
        recorded = store.get_run(result.run_id)
    assert time.monotonic() - clock < 20, "the running tasks were not interrupted"
    assert result.status == recorded.status == "cancelled"
    expected = {"source": "succeeded", "left": "cancelled", "right": "cancelled"} | {
        score: "cancelled" for score in ("left_score", "right_score")
    }
    assert {node_id: node.status for node_id, node in recorded.nodes.items()} == expected


def test_nodeloom_run_with_the_ray_executor_records_one_run_with_the_local_metrics(tmp_path, nodeloom, executor):
    pipeline_file = write_pipeline(tmp_path, train_pipeline(steps=8))

    on_ray = nodeloom("run", str(pipeline_file), "--executor", "ray", "--json", "--no-cache")
    assert on_ray.returncode == 0, on_ray.stderr
    printed = one_json_object(on_ray.stdout)
    local = one_json_object(nodeloom("run", str(pipeline_file), "--json", "--no-cache").stdout)
    assert printed["metrics"] == local["metrics"] and printed["metrics"]["train"]["final_loss"] > 0

    with Store.open() as store:
        runs = store.list_runs()
        recorded = store.get_run(printed["run_id"])
    assert [run.id for run in runs] == [local["run_id"], printed["run_id"]]  # newest first: one run each
    assert recorded.status == "succeeded" and all(node.status == "succeeded" for node in recorded.nodes.values())
    # the task's progress events reached the driver's recorder: the same loss curve as the local run's
    curves = [one_json_object(nodeloom("show", run["run_id"], "--json").stdout)["series"] for run in (printed, local)]
    assert curves[0]["train"]["loss"]["steps"] == list(range(1, 9)) and curves[0] == curves[1]


def test_a_sweep_on_ray_records_each_point_and_computes_the_shared_node_once(tmp_path, nodeloom, executor):
    pipeline_file = write_pipeline(tmp_path, train_pipeline(steps=4))
    grid = ["--grid", "train.learning_rate=0.01,0.05"]
    completed = nodeloom("sweep", str(pipeline_file), *grid, "--executor", "ray", "--json")
    assert completed.returncode == 0, completed.stderr
    runs = one_json_object(completed.stdout)["runs"]
    assert [run["status"] for run in runs] == ["succeeded"] * 2
    assert [run["nodes"]["data"]["cached"] for run in runs] == [False, True]  # through the cache the tasks wrote
    with Store.open() as store:
        assert len(store.list_runs(sweep_id=one_json_object(completed.stdout)["sweep_id"])) == 2
    local = one_json_object(nodeloom("sweep", str(pipeline_file), *grid, "--json").stdout)["runs"]
    assert [run["metrics"] for run in runs] == [run["metrics"] for run in local]


def test_without_ray_installed_the_ray_executor_is_refused_in_one_line(tmp_path, nodeloom, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as where the extra is not installed
    completed = nodeloom("run", str(write_pipeline(tmp_path, train_pipeline(steps=2))), "--executor", "ray")
    assert completed.returncode == 2 and len(completed.stderr.strip().splitlines()) == 1, completed.stderr
    assert 'pip install "nodeloom[ray]"' in completed.stderr
