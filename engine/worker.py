"""Run workers: a run executed in the background by a `python -m nodeloom run|rerun --json --run-id ID`
process of its own, which records the run in the store. The app and `nodeloom serve` start and stop
runs this one way, so a run behaves the same whichever front end started it.

A worker is its own session (start_new_session): a crash in a run never takes its starter down, the
starter's Ctrl-C does not reach it (a run outlives the app or the server that started it), and the
accelerator's memory goes back when the worker exits. Stopping is SIGINT, which the CLI turns into
"stop after the current step", recording the run as cancelled.

This module starts the command line as a process; it never imports it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from nodeloom.engine.paths import new_run_id

RUN_COMMANDS = ("run", "rerun")


@dataclass
class Worker:
    """A worker process this process started, and the file holding its stdout and stderr."""

    run_id: str
    process: subprocess.Popen
    output: Path

    def exit_code(self) -> int | None:
        """The exit code once the worker has ended, else None."""
        return self.process.poll()

    def stop(self) -> None:
        """Ask the run to stop after its current step. Through the Popen, so a reaped worker's reused pid
        is never signalled."""
        if self.process.poll() is None:
            try:
                self.process.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass  # ended between the check and the signal

    def output_text(self) -> str:
        try:
            return self.output.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def output_tail(self, lines: int = 8) -> str:
        """The last non-empty lines of the worker's output: why it ended, when it ended early."""
        return "\n".join([line for line in self.output_text().splitlines() if line.strip()][-lines:])


def worker_command(command: str, run_id: str, arguments: list[str]) -> list[str]:
    if command not in RUN_COMMANDS:
        raise ValueError(f"a worker runs one of {', '.join(RUN_COMMANDS)}, not {command!r}")
    return [sys.executable, "-m", "nodeloom", command, "--json", "--run-id", run_id, *arguments]


def start_worker(
    command: str,
    arguments: list[str],
    output_folder: Path,
    *,
    run_id: str | None = None,
    cwd: Path | None = None,
) -> Worker:
    """Start `python -m nodeloom COMMAND --json --run-id ID ARGUMENTS`, its output in OUTPUT_FOLDER/ID.log.

    The worker records the run under ID once it has checked the pipeline, so a starter polls the store
    for ID (and reads the log for why, when the worker exits without recording it)."""
    run_id = run_id or new_run_id()
    output_folder.mkdir(parents=True, exist_ok=True)
    output = output_folder / f"{run_id}.log"
    with open(output, "wb") as log:
        process = subprocess.Popen(
            worker_command(command, run_id, arguments),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=cwd,
            env=os.environ.copy(),
        )
    reap_when_done(process)
    return Worker(run_id, process, output)


def reap_when_done(process: subprocess.Popen) -> None:
    """Wait for the process in a thread of its own, so it is reaped the moment it ends: a starter that
    never asks again (an app whose page moved on to another run) would keep it as a defunct process.
    Its exit code stays readable through the Popen."""
    threading.Thread(target=process.wait, name=f"reap-worker-{process.pid}", daemon=True).start()


def interrupt_process(pid: int) -> None:
    """SIGINT to the process recorded as running a run that this process did not start (a worker of an
    earlier app session, a `nodeloom run` in a terminal): it stops after the current step."""
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        pass
