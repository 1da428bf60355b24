"""The editor around the canvas: run workers, the inspector's rules, diffs and the device box."""

from __future__ import annotations

import time
from concurrent.futures import Future
from pathlib import Path

import pytest

from nodeloom.engine.worker import start_worker
from tests.conftest import REPO


def process_state(pid: int) -> str | None:
    """The kernel's state letter for a process (Z: defunct, waiting to be reaped); None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
def test_a_worker_is_reaped_when_it_ends_though_nobody_asks(tmp_path):
    worker = start_worker("rerun", ["no-such-run"], tmp_path, cwd=REPO)  # exits at once: no such run
    deadline = time.monotonic() + 120
    while process_state(worker.process.pid) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert process_state(worker.process.pid) is None, "the ended worker was left defunct"
    assert worker.exit_code() == 2 and "no run 'no-such-run'" in worker.output_text()


# --- the device box -------------------------------------------------------------------------------


def test_the_device_check_names_what_this_machine_has():
    from nodeloom.ui import runs

    found = dict(runs.probe_devices())  # a real process importing torch, as the app asks it
    assert found["cpu"].startswith("CPU (") and found["cpu"].endswith(" threads)")
    assert list(found)[-1] == "cpu"  # accelerators first


def test_the_device_box_says_what_it_found(monkeypatch):
    from streamlit.testing.v1 import AppTest

    from nodeloom.ui import runs

    answer: Future = Future()
    monkeypatch.setattr(runs, "_device_probe", answer)  # the check, still under way
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    app.run()
    assert not app.exception, [error.value for error in app.exception]
    assert "Looking for accelerators…" in [caption.value for caption in app.sidebar.caption]
    answer.set_result([("cuda:0", "NVIDIA H200 (139.8 GiB)"), ("cpu", "CPU (16 threads)")])
    app.run()
    captions = [caption.value for caption in app.sidebar.caption]
    assert "Found NVIDIA H200 (139.8 GiB), CPU (16 threads)" in captions
    assert "Looking for accelerators…" not in captions
    options = app.sidebar.selectbox(key="device").options
    assert options[:2] == ["auto (best available)", "cuda:0 — NVIDIA H200 (139.8 GiB)"]
