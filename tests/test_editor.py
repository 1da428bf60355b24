"""The editor around the canvas: run workers, the inspector's rules, diffs and the device box."""

from __future__ import annotations

import time
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
