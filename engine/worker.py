"""Run workers: a run executed in the background by the command line, `nodeloom run|rerun --json --run-id ID`,
in a process of its own that records the run in the store. The app and `nodeloom serve` start and stop runs
this one way, so a run behaves the same whichever front end started it.

A worker is forked from a warm fork server (multiprocessing's "forkserver" start method) that imported the
heavy libraries once (torch above all: seconds of every cold start), so a run of a cached pipeline shows its
results within a second of the click. Each run is still a fresh process of its own: a crash in a run never
takes its starter or the server down, and the accelerator's memory goes back when the run exits. Because the
server only forks and never runs a pipeline itself, it does not grow: it needs no recycling after a number of
runs or on memory growth. multiprocessing starts it again when it has died.

The server imports engine.warm_imports, which starts no CUDA and no thread but numpy's fork-safe OpenBLAS pool.
A run gets the starter's environment and working folder as they are when it starts; the preloaded libraries
read theirs when the server started (the app's and the API server's do not change meanwhile).

A run is its own session (os.setsid), so the starter's Ctrl-C does not reach it. It outlives the app or the
server that started it, and the fork server waits for it before exiting. Stopping is SIGINT, which the CLI
turns into "stop after the current step", recording the run as cancelled. The fork server reaps each run and
passes its exit code on; a run whose fork server was killed reports 255 (the store still has its status).

Where the fork server cannot be used (no forkserver start method on this platform, or it failed to start a
run), the run starts as a fresh `python -m nodeloom` process instead, with a one-line note in the log.

This module runs the command line by its module name; it never imports it.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing
import multiprocessing.forkserver
import multiprocessing.process
import os
import runpy
import select
import signal
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nodeloom.engine.paths import new_run_id

log = logging.getLogger(__name__)

RUN_COMMANDS = ("run", "rerun")
CLI_MODULE = "nodeloom"  # `python -m nodeloom`

WARM_IMPORTS = "nodeloom.engine.warm_imports"  # what the fork server imports, once

_context_lock = threading.Lock()
_start_lock = threading.Lock()  # around no_main_script: one start at a time swaps the main module
_fork_server_context: multiprocessing.context.BaseContext | None = None


@dataclass
class Worker:
    """A worker process this process started, and the file holding its stdout and stderr."""

    run_id: str
    pid: int
    arguments: list[str]  # the command line's: COMMAND --json --run-id ID ...
    output: Path
    started: float = field(default_factory=time.monotonic)  # time.monotonic() when it was started
    _ended: threading.Event = field(default_factory=threading.Event, repr=False)
    _exit_code: int | None = field(default=None, repr=False)

    def exit_code(self) -> int | None:
        """The exit code once the worker has ended (negative: the signal that ended it), else None."""
        return self._exit_code if self._ended.is_set() else None

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait up to `timeout` seconds for the worker to end; its exit code, or None while it runs."""
        self._ended.wait(timeout)
        return self.exit_code()

    def stop(self) -> None:
        """Ask the run to stop after its current step. Only while it has not been seen to end, so a reaped
        worker's reused pid is never signalled (the reaper reports the end microseconds after reaping)."""
        if not self._ended.is_set():
            interrupt_process(self.pid)

    def output_text(self) -> str:
        try:
            return self.output.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def output_tail(self, lines: int = 8) -> str:
        """The last non-empty lines of the worker's output: why it ended, when it ended early."""
        return "\n".join([line for line in self.output_text().splitlines() if line.strip()][-lines:])

    def _watch(self, wait_for_exit: Callable[[], int]) -> None:
        """Record the exit code in a thread of its own the moment the worker ends, so a starter that never
        asks again (an app whose page moved on to another run) leaves nothing behind."""

        def watch() -> None:
            self._exit_code = wait_for_exit()
            self._ended.set()

        threading.Thread(target=watch, name=f"watch-worker-{self.pid}", daemon=True).start()


def worker_arguments(command: str, run_id: str, arguments: list[str]) -> list[str]:
    if command not in RUN_COMMANDS:
        raise ValueError(f"a worker runs one of {', '.join(RUN_COMMANDS)}, not {command!r}")
    return [command, "--json", "--run-id", run_id, *arguments]


def start_worker(
    command: str,
    arguments: list[str],
    output_folder: Path,
    *,
    run_id: str | None = None,
    cwd: Path | None = None,
) -> Worker:
    """Start `nodeloom COMMAND --json --run-id ID ARGUMENTS`, its output in OUTPUT_FOLDER/ID.log, in the
    environment and folder of this process as they are now.

    The worker records the run under ID once it has checked the pipeline, so a starter polls the store
    for ID (and reads the log for why, when the worker exits without recording it)."""
    run_id = run_id or new_run_id()
    full_arguments = worker_arguments(command, run_id, arguments)
    output_folder.mkdir(parents=True, exist_ok=True)
    output = output_folder / f"{run_id}.log"
    output.write_bytes(b"")
    folder = Path(cwd or os.getcwd()).resolve()
    context = fork_server_context()
    if context is not None:
        try:
            return start_forked(context, run_id, full_arguments, output, folder)
        except (OSError, EOFError, RuntimeError) as exc:  # a server that died mid-request, or could not start
            log.warning("the warm run server could not start run %s (%s); starting a fresh process", run_id, exc)
    return start_fresh(run_id, full_arguments, output, folder)


def fork_server_context() -> multiprocessing.context.BaseContext | None:
    """multiprocessing's forkserver context, its preload set; None where this platform has none."""
    global _fork_server_context
    with _context_lock:
        if _fork_server_context is None:
            if "forkserver" not in multiprocessing.get_all_start_methods():
                log.info("no forkserver start method here: each run starts as a fresh process")
                return None
            context = multiprocessing.get_context("forkserver")
            # Not "__main__", multiprocessing's default: the server must not run the starter's main script (in the
            # app, Streamlit's page script).
            context.set_forkserver_preload([WARM_IMPORTS])
            _fork_server_context = context
        return _fork_server_context


def warm_up() -> None:
    """Start the fork server now, so the first run does not wait for its imports (it imports in the
    background; a run started meanwhile waits for it). Safe to call again: a live server is kept."""
    if fork_server_context() is not None:
        multiprocessing.forkserver.ensure_running()


def start_forked(
    context: multiprocessing.context.BaseContext, run_id: str, arguments: list[str], output: Path, folder: Path
) -> Worker:
    process = context.Process(  # type: ignore[attr-defined]
        target=run_command_line,
        args=(arguments, str(output), str(folder), dict(os.environ)),
        name=f"nodeloom-run-{run_id}",
    )
    with _start_lock, no_main_script():
        process.start()
    # multiprocessing joins every child it knows when this process exits: the app's or the server's exit
    # would wait for its runs, which outlive them by design.
    multiprocessing.process._children.discard(process)  # type: ignore[attr-defined]
    assert process.pid is not None
    worker = Worker(run_id, process.pid, arguments, output)
    handle = process_handle(process.pid)

    def wait_for_exit() -> int:
        process.join()  # the fork server reaps the run and sends its exit code here…
        code = process.exitcode
        process.close()  # the exit code's pipe: a long-lived app would otherwise keep one per run
        wait_until_gone(worker.pid, handle)  # …or dies first (255), the run still going
        return -1 if code is None else code

    worker._watch(wait_for_exit)
    return worker


def process_handle(pid: int) -> int | None:
    """A pidfd for the run (Linux): readable once it has exited, though it is the fork server's child, not ours."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfds here, or the run has already ended
        return None


def wait_until_gone(pid: int, handle: int | None) -> None:
    if handle is not None:
        select.select([handle], [], [])
        os.close(handle)
        return
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)


@contextlib.contextmanager
def no_main_script() -> Iterator[None]:
    """multiprocessing has each child import its starter's main script again (as __mp_main__): in the app that is
    Streamlit's page script (Streamlit runs it as __main__), which must not run inside a run. While a run is
    started, the starter shows it a main module with no script; the run needs none (it runs the CLI by name)."""
    main = sys.modules["__main__"]
    stand_in = types.ModuleType("__main__")
    sys.modules["__main__"] = stand_in
    try:
        yield
    finally:
        if sys.modules.get("__main__") is stand_in:  # unless Streamlit began a script run meanwhile
            sys.modules["__main__"] = main


def start_fresh(run_id: str, arguments: list[str], output: Path, folder: Path) -> Worker:
    with open(output, "ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", CLI_MODULE, *arguments],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=folder,
            env=os.environ.copy(),
        )
    worker = Worker(run_id, process.pid, arguments, output)
    worker._watch(process.wait)  # reaps it: no defunct process is left behind
    return worker


def run_command_line(arguments: list[str], output: str, folder: str, environment: dict[str, str]) -> None:
    """A forked run: what `python -m nodeloom ARGUMENTS` would do in FOLDER with ENVIRONMENT, its stdout and
    stderr in OUTPUT, in a session of its own."""
    os.setsid()
    os.chdir(folder)
    os.environ.clear()
    os.environ.update(environment)
    sys.path.insert(0, folder)  # where `python -m` looks first
    log_fd = os.open(output, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    sys.argv = [CLI_MODULE, *arguments]
    try:
        runpy.run_module(CLI_MODULE, run_name="__main__", alter_sys=True)
    finally:
        # multiprocessing ends its processes with os._exit; what a process registered to do at exit (logging's
        # flush among others) is done here, as a `python -m nodeloom` process would do it.
        atexit._run_exitfuncs()


def interrupt_process(pid: int) -> None:
    """SIGINT to a run's process: it stops after the current step. Also for a run this process did not
    start (a worker of an earlier app session, a `nodeloom run` in a terminal)."""
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        pass
