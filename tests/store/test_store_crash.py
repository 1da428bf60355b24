"""A run process killed with SIGKILL leaves a consistent database; the next open marks the run interrupted."""

from __future__ import annotations

import signal
import sqlite3
import time

import pytest

from nodeloom.engine.store import Store
from tests.support.store_nodes import start_nodeloom_with_test_nodes, train_pipeline, write_pipeline


def wait_for(condition, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


def recorded_steps(path, run_id: str) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT count(*) FROM metrics WHERE run_id = ? AND name = 'loss'", [run_id]).fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        db.close()


@pytest.mark.parametrize("delay", [0.0, 0.35, 0.8])
def test_sigkill_mid_run_leaves_the_database_intact_and_the_run_interrupted(tmp_path, nodeloom_home, delay):
    pipeline = write_pipeline(tmp_path, train_pipeline(steps=100_000, step_seconds=0.0005))
    database = nodeloom_home / "nodeloom.db"
    process = start_nodeloom_with_test_nodes("run", str(pipeline), "--json", "--run-id", "doomed")
    try:
        wait_for(lambda: recorded_steps(database, "doomed") > 0)  # training, and writing its curve
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
        process.communicate()

    raw = sqlite3.connect(database)
    assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert raw.execute("SELECT status FROM runs WHERE id = 'doomed'").fetchone() == ("running",)
    raw.close()

    with Store.open() as store:
        run = store.get_run("doomed")
        assert run.status == "interrupted" and run.finished is not None
        assert run.nodes["train"].status == "interrupted" and run.nodes["data"].status == "succeeded"
        curve = store.metric_series("doomed", "train", "loss")["train"]["loss"]
        assert curve.steps == list(range(1, len(curve.steps) + 1))  # a prefix of the run, no gaps
        assert store.integrity_check() == "ok"
        # and the store keeps working
        assert store.save_pipeline("after", {"schema_version": 1, "nodes": [], "edges": []}).created
