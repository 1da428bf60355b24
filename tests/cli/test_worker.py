"""Run workers (engine.worker): runs forked from the warm run server, each a process of its own. The test nodes
reach the runs as a real plug-in: a `nodeloom.nodes` entry point in a folder on sys.path, which a forked run
gets from the process that starts it."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nodeloom.engine import worker as workers
from nodeloom.engine.store import Store
from nodeloom.output import EXIT_INTERRUPTED
from tests.support import REPO
from tests.support.store_nodes import train_pipeline

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes in Linux's /proc")

PLUGIN_MODULE = """
import os
import signal

from nodeloom.engine import NodeParams, Output, node
from nodeloom.engine.node import REGISTRY
from nodeloom.engine.types import TEXT
from tests.support.store_nodes import REGISTRY as STORE_TEST_NODES

REGISTRY.types.update(STORE_TEST_NODES.types)


@node("worker_test.crash", title="Crash", category="test", outputs=[Output("value", TEXT)], params=NodeParams)
def crash(ctx, inputs, params):
    os.kill(os.getpid(), signal.SIGSEGV)  # what a crash in native code looks like from outside
"""

CRASH_PIPELINE = {
    "schema_version": 1,
    "name": "crash",
    "settings": {"device": "cpu"},
    "nodes": [{"id": "crash", "type": "worker_test.crash"}],
    "edges": [],
}


@pytest.fixture
def test_nodes(tmp_path, monkeypatch) -> None:
    """The store tests' nodes and a crashing node, registered through the `nodeloom.nodes` entry points."""
    folder = tmp_path / "plugin"
    info = folder / "nodeloom_worker_test_nodes-0.dist-info"
    info.mkdir(parents=True)
    (folder / "worker_test_nodes.py").write_text(PLUGIN_MODULE)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nodeloom-worker-test-nodes\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[nodeloom.nodes]\nworker_test = worker_test_nodes\n")
    monkeypatch.syspath_prepend(str(folder))  # for forked runs, which get this process's sys.path
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(folder), str(REPO)]))  # for a fresh process


def start(tmp_path: Path, pipeline: dict) -> workers.Worker:
    path = tmp_path / f"{pipeline['name']}.json"
    path.write_text(json.dumps(pipeline))
    return workers.start_worker("run", ["--no-version", "--", str(path)], tmp_path / "runs", cwd=REPO)


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def wait_until_training(store: Store, run: workers.Worker) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        recorded = store.get_run(run.run_id)
        if recorded is not None and recorded.nodes.get("train") and recorded.nodes["train"].status == "running":
            return
        assert run.exit_code() is None, run.output_text()
        time.sleep(0.1)
    raise AssertionError(f"run {run.run_id} never started training:\n{run.output_text()}")


def stop_and_check_cancelled(store: Store, run: workers.Worker, exit_code: int = EXIT_INTERRUPTED) -> None:
    run.stop()
    assert run.wait(timeout=60) == exit_code, run.output_text()
    assert store.get_run(run.run_id).status == "cancelled"


def test_runs_fork_from_one_warm_server_that_started_no_threads_and_stop_records_cancelled(
    tmp_path, nodeloom_home, test_nodes
):
    store = Store.open(nodeloom_home)
    slow = train_pipeline("slow", steps=2000, step_seconds=0.05)
    first = start(tmp_path, slow)
    wait_until_training(store, first)
    server = parent_of(first.pid)
    assert server != os.getpid()  # forked by the server, not by this process
    stop_and_check_cancelled(store, first)

    second = start(tmp_path, slow | {"name": "slow-again"})
    wait_until_training(store, second)
    assert parent_of(second.pid) == server  # the same warm server: its imports were not paid again
    stop_and_check_cancelled(store, second)

    # Forking is safe only from a server with no threads of its own running: importing torch must not have
    # started its intra-op pool. The one pool allowed is numpy's OpenBLAS, which any `import numpy` starts
    # and which stops itself around a fork.
    numpy_threads = subprocess.run(
        [sys.executable, "-c", "import numpy, os; print(len(os.listdir('/proc/self/task')))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert thread_count(server) == int(numpy_threads.stdout)


def test_a_crashed_run_leaves_the_server_and_the_next_run_well(tmp_path, nodeloom_home, test_nodes):
    crashed = start(tmp_path, CRASH_PIPELINE)
    assert crashed.wait(timeout=120) == -signal.SIGSEGV, crashed.output_text()

    store = Store.open(nodeloom_home)
    after = start(tmp_path, train_pipeline("after-crash", steps=3))
    assert after.wait(timeout=120) == 0, after.output_text()
    assert store.get_run(after.run_id).status == "succeeded"


def test_a_server_that_died_is_started_again(tmp_path, nodeloom_home, test_nodes):
    store = Store.open(nodeloom_home)
    slow = train_pipeline("slow", steps=2000, step_seconds=0.05)
    first = start(tmp_path, slow)
    wait_until_training(store, first)
    server = parent_of(first.pid)
    os.kill(server, signal.SIGKILL)
    # The run carries on without its server (a process of its own) and is stopped as usual; only its exit
    # code went with the server, which reaped it (multiprocessing says 255).
    stop_and_check_cancelled(store, first, exit_code=255)

    second = start(tmp_path, slow | {"name": "slow-again"})
    wait_until_training(store, second)
    assert parent_of(second.pid) not in (server, os.getpid())  # a new server, still not this process
    stop_and_check_cancelled(store, second)


def test_a_run_the_server_cannot_start_starts_as_a_fresh_process(
    tmp_path, nodeloom_home, test_nodes, monkeypatch, caplog
):
    def refuse(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(workers, "start_forked", refuse)
    with caplog.at_level(logging.WARNING, logger=workers.__name__):
        run = start(tmp_path, train_pipeline("fresh", steps=3))
    assert run.wait(timeout=120) == 0, run.output_text()
    assert Store.open(nodeloom_home).get_run(run.run_id).status == "succeeded"
    assert [record.getMessage() for record in caplog.records] == [
        f"the warm run server could not start run {run.run_id} (connection refused); starting a fresh process"
    ]


def test_a_run_outlives_the_process_that_started_it(tmp_path, nodeloom_home, test_nodes):
    pipeline = tmp_path / "outlives.json"
    pipeline.write_text(json.dumps(train_pipeline("outlives", steps=40, step_seconds=0.05)))
    starter = (
        "from pathlib import Path\n"
        "from nodeloom.engine.worker import start_worker\n"
        f"arguments = ['--no-version', '--', {str(pipeline)!r}]\n"
        f"run = start_worker('run', arguments, Path({str(tmp_path)!r}), run_id='outlives')\n"
        "print(run.pid)\n"
    )
    started = subprocess.run([sys.executable, "-c", starter], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert started.returncode == 0, started.stderr  # it did not wait for its run to end…
    assert Path(f"/proc/{started.stdout.strip()}").exists()  # …which goes on without it

    store = Store.open(nodeloom_home)
    deadline = time.monotonic() + 120
    while (run := store.get_run("outlives")) is None or run.status in ("queued", "running"):
        assert time.monotonic() < deadline, (tmp_path / "outlives.log").read_text()
        time.sleep(0.2)
    assert run.status == "succeeded"
