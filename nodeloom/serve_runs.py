"""The runs `nodeloom serve` executes: what a run request means, the queue that keeps at most N worker
processes going, and the watcher that turns a run's progress in the store into the API's events.

A run is accepted only after its pipeline and overrides are checked (the CLI's own check), and is then
executed by a `nodeloom run NAME@VERSION --set …` worker (engine.worker, as the app starts them), which
records it in the store. Until the worker has recorded it — while it waits for a free slot, or while the
worker starts — the run exists only here, as a `PendingRun`.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nodeloom.engine.events import ACTIVE, RunStatus
from nodeloom.engine.paths import new_run_id
from nodeloom.engine.store import PipelineVersion, RunDetail, Store
from nodeloom.engine.store.records import utc_now
from nodeloom.engine.worker import Worker, start_worker, warm_up
from nodeloom.history import run_summary
from nodeloom.output import UsageError
from nodeloom.sources import check_pipeline

log = logging.getLogger("nodeloom.serve")

ENDED_KEPT = 200  # runs that ended before the store recorded them, remembered for GET /runs/{id}
RECOVER_SECONDS = 5.0  # how often runs whose process died are marked interrupted, as every CLI command does


# ---------------------------------------------------------------------------------------------
# what a request means


def overrides_of(assignments: dict[str, Any], seed: int | None) -> list[str]:
    """The request's `set` and `seed` as the CLI's --set assignments (values as JSON, which --set parses
    back), seed last so it wins, as `nodeloom run --seed` orders them."""
    overrides = [f"{target}={json.dumps(value)}" for target, value in assignments.items()]
    return overrides + ([] if seed is None else [f"settings.seed={seed}"])


def requested_pipeline(store: Store, pipeline: str | dict[str, Any]) -> tuple[Any, PipelineVersion | None, str]:
    """(pipeline JSON, its saved version or None, how to name it in messages) for a request's `pipeline`:
    an inline pipeline object, `example:NAME`, or a saved `NAME` / `NAME@VERSION`. Files on the server
    are not offered: a client names what the store or the package holds. Raises UsageError or NotFound."""
    from nodeloom.engine.validation import read_pipeline_json
    from nodeloom.pipelines import PREFIX, UnknownExample, example_path

    if isinstance(pipeline, dict):
        return pipeline, None, "the posted pipeline"
    if pipeline.startswith(PREFIX):
        try:
            return read_pipeline_json(example_path(pipeline)), None, pipeline
        except UnknownExample as exc:
            raise UsageError(str(exc)) from None
    name, at, number = pipeline.rpartition("@") if "@" in pipeline else (pipeline, "", "")
    if at and not number.isdigit():
        raise UsageError(f"'{pipeline}': expected NAME@VERSION with a version number")
    version = store.get_version(name, int(number) if at else None)
    return version.data, version, pipeline


def prepare_run(
    store: Store, pipeline: str | dict[str, Any], assignments: dict[str, Any], seed: int | None
) -> tuple[PipelineVersion, list[str]]:
    """Check a run request as `nodeloom run` checks its command line (PipelineInvalid lists the problems),
    and save an inline pipeline or an example as a version, as `nodeloom run FILE` does. Returns the
    version the worker will run and its overrides."""
    data, version, label = requested_pipeline(store, pipeline)
    overrides = overrides_of(assignments, seed)
    checked = check_pipeline(data, overrides)
    if version is None:
        version = store.ensure_version(checked.name or "untitled", data, f"run from the API ({label})").version
    return version, overrides


# ---------------------------------------------------------------------------------------------
# the queue


@dataclass
class PendingRun:
    """A run this server accepted that the store does not hold (yet): waiting for a slot, its worker
    starting, or ended before the worker recorded it (cancelled while waiting, a worker that failed)."""

    id: str
    version: PipelineVersion
    overrides: list[str]
    created: str = field(default_factory=utc_now)
    status: RunStatus = RunStatus.QUEUED
    error: str | None = None
    worker: Worker | None = None
    recorded: bool = False  # the worker has recorded it: the store is where to read it now
    cancel_requested: bool = False
    stop_sent: bool = False

    def detail(self) -> RunDetail:
        """The run in the store's shape, so the API answers with the same objects either way."""
        return RunDetail(
            id=self.id,
            pipeline=self.version.pipeline,
            version=self.version.version,
            version_id=self.version.id,
            status=self.status,
            created=self.created,
            started=None,
            finished=None,
            seconds=None,
            device=None,
            requested_device=None,
            overrides=list(self.overrides),
            targets=[],
            use_cache=True,
            error=self.error,
            pid=None,
            host=None,
            rerun_of=None,
            metrics={},
        )


class RunQueue:
    """Runs waiting for a worker slot, and the workers this server started; at most `max_runs` at once.

    A supervisor thread starts waiting runs as slots free up, forwards cancellations to workers once
    they have recorded their run (a SIGINT before the CLI's handler is installed would end the worker
    without a record), and remembers workers that ended without recording anything, with their output.
    """

    def __init__(self, store: Store, max_runs: int, output_folder: Path, poll_seconds: float = 0.25):
        self.store = store
        self.max_runs = max_runs
        self.output_folder = output_folder
        self.poll_seconds = poll_seconds
        self._waiting: collections.deque[PendingRun] = collections.deque()
        self._started: dict[str, PendingRun] = {}  # workers alive, recorded in the store or not yet
        self._ended: collections.OrderedDict[str, PendingRun] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="nodeloom-run-queue", daemon=True)
        self._last_recovery = 0.0

    def start(self) -> None:
        warm_up()  # the run server imports torch now, not when the first run is requested
        self._thread.start()

    def close(self) -> int:
        """Stop starting runs; returns how many were still waiting (they are dropped). Running workers
        carry on and finish recording their runs: they do not depend on the server."""
        self._closing.set()
        self._wake.set()
        self._thread.join(timeout=5)
        with self._lock:
            dropped = len(self._waiting)
            self._waiting.clear()
        return dropped

    def submit(self, version: PipelineVersion, overrides: list[str]) -> PendingRun:
        run = PendingRun(new_run_id(), version, overrides)
        with self._lock:
            self._waiting.append(run)
        self._wake.set()
        return run

    def find(self, run_id: str) -> PendingRun | None:
        """The server's own record of a run the store may not hold yet (exact id)."""
        with self._lock:
            for run in self._waiting:
                if run.id == run_id:
                    return run
            return self._started.get(run_id) or self._ended.get(run_id)

    def unrecorded(self) -> list[PendingRun]:
        """Runs accepted but not (yet) in the store, newest first: waiting, starting, ended early."""
        with self._lock:
            starting = [run for run in self._started.values() if not run.recorded]
            return [*reversed(self._waiting), *reversed(starting), *reversed(self._ended.values())]

    def cancel(self, run_id: str) -> PendingRun | None:
        """Cancel a waiting run at once, or ask a started worker to stop after its current step. None when
        this server did not start the run."""
        with self._lock:
            for run in self._waiting:
                if run.id == run_id:
                    self._waiting.remove(run)
                    self._end(run, RunStatus.CANCELLED, "cancelled before it started")
                    return run
            run = self._started.get(run_id)
            if run is not None:
                run.cancel_requested = True
        self._wake.set()
        return run

    # -- the supervisor thread ------------------------------------------------------------------

    def _supervise(self) -> None:
        while not self._closing.is_set():
            try:
                self._tick()
            except Exception:  # a store hiccup must not end supervision: log it, try again
                log.exception("run queue: supervision step failed")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def _tick(self) -> None:
        if time.monotonic() - self._last_recovery >= RECOVER_SECONDS:
            self.store.mark_interrupted()
            self._last_recovery = time.monotonic()
        with self._lock:
            started = list(self._started.values())
        for run in started:
            self._follow(run)
        with self._lock:
            while self._waiting and len(self._started) < self.max_runs and not self._closing.is_set():
                self._launch(self._waiting.popleft())

    def _follow(self, run: PendingRun) -> None:
        assert run.worker is not None
        exit_code = run.worker.exit_code()  # before looking in the store: an ended worker's record is final
        run.recorded = run.recorded or self.store.get_run(run.id) is not None
        if run.cancel_requested and not run.stop_sent and run.recorded and exit_code is None:
            run.worker.stop()
            run.stop_sent = True
        if exit_code is None:
            return
        with self._lock:
            self._started.pop(run.id, None)
            if not run.recorded:
                if run.cancel_requested:
                    self._end(run, RunStatus.CANCELLED, "cancelled before it started")
                else:
                    why = run.worker.output_tail() or f"the run process exited with code {exit_code}"
                    self._end(run, RunStatus.FAILED, why)

    def _launch(self, run: PendingRun) -> None:
        """Start a waiting run's worker (called holding the lock)."""
        arguments = [f"--set={assignment}" for assignment in run.overrides]  # "=": a value may start with "-"
        try:
            run.worker = start_worker(
                "run",
                [*arguments, "--", f"{run.version.pipeline}@{run.version.version}"],
                self.output_folder,
                run_id=run.id,
            )
        except OSError as exc:
            self._end(run, RunStatus.FAILED, f"cannot start the run process: {exc.strerror or exc}")
            return
        self._started[run.id] = run

    def _end(self, run: PendingRun, status: RunStatus, error: str) -> None:
        run.status, run.error = status, error
        self._ended[run.id] = run
        while len(self._ended) > ENDED_KEPT:
            self._ended.popitem(last=False)


# ---------------------------------------------------------------------------------------------
# events


class RunWatcher:
    """Turns what the store (or the queue) knows about one run into events, each `poll()` handing out
    what changed since the last: `run` (status), `node` (status, progress, message), `metric` (a curve
    point), `log` (a log line), and finally `end` (the run as `nodeloom runs --json` shows it).
    It reads what the app's run view reads: the run's node records, its curves and its log."""

    def __init__(self, store: Store, queue: RunQueue, run_id: str):
        self.store = store
        self.queue = queue
        self.run_id = run_id
        self._status: str | None = None
        self._nodes: dict[str, tuple] = {}
        self._points: dict[tuple[str, str], int] = {}  # (node, metric) -> points sent
        self._last_log = 0

    def poll(self) -> tuple[list[tuple[str, dict[str, Any]]], bool]:
        """(events, ended)."""
        run = self.store.get_run(self.run_id)
        if run is None:
            pending = self.queue.find(self.run_id)
            if pending is None:  # forgotten (ENDED_KEPT) or never known: nothing more will come
                forgotten = {"id": self.run_id, "status": None, "error": "this server no longer knows the run"}
                return [("end", forgotten)], True
            run = pending.detail()
        events = []
        if run.nodes:  # what the nodes did comes before the run's status it led to
            events += self._node_events(run)
            events += self._metric_events()
            events += self._log_events()
        events += self._status_events(run)
        ended = run.status not in ACTIVE
        if ended:
            events.append(("end", run_summary(run)))
        return events, ended

    def _status_events(self, run: RunDetail) -> list[tuple[str, dict[str, Any]]]:
        if run.status == self._status:
            return []
        self._status = run.status
        return [
            (
                "run",
                {
                    "id": run.id,
                    "pipeline": run.pipeline,
                    "version": run.version,
                    "status": run.status,
                    "device": run.device,
                    "error": run.error,
                },
            )
        ]

    def _node_events(self, run: RunDetail) -> list[tuple[str, dict[str, Any]]]:
        events = []
        for node_id, node in run.nodes.items():
            state = (node.status, node.cached, node.progress, node.message, node.seconds, node.error)
            if self._nodes.get(node_id) != state:
                self._nodes[node_id] = state
                events.append(
                    (
                        "node",
                        {
                            "node_id": node_id,
                            "type": node.type,
                            "status": node.status,
                            "cached": node.cached,
                            "progress": node.progress,
                            "message": node.message,
                            "seconds": node.seconds,
                            "error": node.error,
                        },
                    )
                )
        return events

    def _metric_events(self) -> list[tuple[str, dict[str, Any]]]:
        events = []
        for node_id, metrics in self.store.metric_series(self.run_id).items():
            for name, series in metrics.items():
                sent = self._points.get((node_id, name), 0)
                for step, value in zip(series.steps[sent:], series.values[sent:], strict=True):
                    events.append(("metric", {"node_id": node_id, "name": name, "step": step, "value": value}))
                self._points[(node_id, name)] = len(series.steps)
        return events

    def _log_events(self) -> list[tuple[str, dict[str, Any]]]:
        entries = self.store.logs(self.run_id, after_id=self._last_log)
        if entries:
            self._last_log = entries[-1].id
        return [("log", entry.to_dict()) for entry in entries]
