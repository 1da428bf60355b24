"""Recording runs into the store: an event listener, and `run_recorded`, which ties a run to the
exact pipeline version it executes.

Writes are queued and committed in batches on the store's connection: node state changes
(started, finished, failed…) are committed at once so a watching app sees them promptly;
progress points and log lines are committed at most every `flush_interval` seconds, so a
training loop reporting every step pays for a list append, not a transaction.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nodeloom.engine.cache import MANIFEST, OutputCache
from nodeloom.engine.context import CancelToken
from nodeloom.engine.device import resolve_device
from nodeloom.engine.events import ACTIVE, Event, RunStatus
from nodeloom.engine.node import Registry
from nodeloom.engine.paths import new_run_id, run_folder
from nodeloom.engine.pipeline import Pipeline
from nodeloom.engine.planner import plan
from nodeloom.engine.runner import Listener, RunResult, run_pipeline
from nodeloom.engine.store.core import PipelineVersion, Store, folder_size, utc_now

log = logging.getLogger("nodeloom.recorder")

AXES = ("step", "epoch")  # progress values that say where a node is, not curves to plot against it
INSERT_METRIC = "INSERT INTO metrics (run_id, node_id, name, step, value) VALUES (?, ?, ?, ?, ?)"
INSERT_LOG = "INSERT INTO logs (run_id, node_id, level, message, traceback, created) VALUES (?, ?, ?, ?, ?, ?)"
UPDATE_NODE = "UPDATE node_runs SET {} WHERE run_id = ? AND node_id = ?"


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def plotted(value: float) -> float | None:
    """NaN and infinities are stored as NULL: a gap in the curve, not a crash."""
    return float(value) if math.isfinite(value) else None


class RunRecorder:
    """A run listener (`listeners=[recorder]`) that writes the run's events into the store."""

    def __init__(
        self,
        store: Store,
        run_id: str,
        node_types: dict[str, str] | None = None,
        flush_interval: float = 0.5,
        max_pending: int = 5000,
    ):
        self.store = store
        self.run_id = run_id
        self.node_types = node_types or {}
        self.flush_interval = flush_interval
        self.max_pending = max_pending
        self._pending: list[tuple[str, list[tuple[Any, ...]]]] = []  # (sql, rows), consecutive sql merged
        self._pending_rows = 0
        self._latest_progress: dict[str, tuple[float | None, str]] = {}
        self._progress_counts: dict[str, int] = {}
        self._last_flush = time.monotonic()
        self._first_failure: str | None = None  # the run's error, when a node fails
        self._lock = threading.RLock()  # a node may report from threads of its own

    # -- queueing ------------------------------------------------------------------------------

    def _queue(self, sql: str, row: tuple[Any, ...]) -> None:
        if self._pending and self._pending[-1][0] == sql:
            self._pending[-1][1].append(row)
        else:
            self._pending.append((sql, [row]))
        self._pending_rows += 1

    def _node(self, node_id: str, **columns: Any) -> None:
        assignments = ", ".join(f"{name} = ?" for name in columns)
        self._queue(UPDATE_NODE.format(assignments), (*columns.values(), self.run_id, node_id))

    def flush(self) -> bool:
        """Commit everything queued in one transaction. On a lock timeout the queue is kept for
        the next try (a run never fails because its history could not be written yet)."""
        with self._lock:
            return self._flush()

    def _flush(self) -> bool:
        for node_id, (fraction, message) in self._latest_progress.items():
            self._node(node_id, progress=fraction, message=message)
        self._latest_progress.clear()
        if not self._pending:
            return True
        try:
            with self.store.write() as db:
                for sql, rows in self._pending:
                    db.conn.executemany(sql, rows)
        except sqlite3.OperationalError as exc:
            log.warning("run %s: could not record progress yet (%s); will retry", self.run_id, exc)
            return False
        self._pending.clear()
        self._pending_rows = 0
        self._last_flush = time.monotonic()
        return True

    # -- events --------------------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is None:
            return
        with self._lock:
            urgent = handler(event)
            due = time.monotonic() - self._last_flush >= self.flush_interval or self._pending_rows >= self.max_pending
            if urgent or due:
                self.flush()

    def _on_run_started(self, event: Any) -> bool:
        self._queue(
            "UPDATE runs SET status = ?, started = ?, device = ? WHERE id = ?",
            (RunStatus.RUNNING, utc_now(), event.device, self.run_id),
        )
        for node_id in event.planned:
            self._queue(
                "INSERT OR IGNORE INTO node_runs (run_id, node_id, type, status, cached) VALUES (?, ?, ?, ?, 0)",
                (self.run_id, node_id, self.node_types.get(node_id), RunStatus.QUEUED),
            )
        return True

    def _on_started(self, event: Any) -> bool:
        self._node(event.node_id, status=RunStatus.RUNNING, started=utc_now())
        return True

    def _on_progress(self, event: Any) -> bool:
        count = self._progress_counts[event.node_id] = self._progress_counts.get(event.node_id, 0) + 1
        step = event.values.get("step")
        step = int(step) if is_number(step) and math.isfinite(step) else count
        for name, value in event.values.items():
            if name not in AXES and is_number(value):
                self._queue(INSERT_METRIC, (self.run_id, event.node_id, name, step, plotted(value)))
        self._latest_progress[event.node_id] = (event.fraction, event.message)
        return False

    def _on_log(self, event: Any) -> bool:
        self._queue(INSERT_LOG, (self.run_id, event.node_id, event.level, event.message, None, utc_now()))
        return event.level in ("warning", "error", "critical")

    def _on_finished(self, event: Any) -> bool:
        summary = json.dumps(event.summary, default=str)
        self._node(event.node_id, status=RunStatus.SUCCEEDED, seconds=event.seconds, summary=summary, finished=utc_now())
        return True

    def _on_cached(self, event: Any) -> bool:
        summary = json.dumps(event.summary, default=str)
        self._node(event.node_id, status=RunStatus.SUCCEEDED, cached=1, seconds=0.0, summary=summary, finished=utc_now())
        return True

    def _on_failed(self, event: Any) -> bool:
        now = utc_now()
        self._first_failure = self._first_failure or f"node '{event.node_id}' failed: {event.error}"
        self._node(event.node_id, status=RunStatus.FAILED, error=event.error, finished=now)
        self._queue(INSERT_LOG, (self.run_id, event.node_id, "error", event.error, event.traceback or None, now))
        return True

    def _on_skipped(self, event: Any) -> bool:
        self._node(event.node_id, status=RunStatus.SKIPPED, error=event.reason)
        return True

    def _on_cancelled(self, event: Any) -> bool:
        self._node(event.node_id, status=RunStatus.CANCELLED, finished=utc_now())
        return True

    def _on_run_finished(self, event: Any) -> bool:
        for node_id, numbers in event.metrics.items():
            for name, value in numbers.items():
                if is_number(value):
                    self._queue(INSERT_METRIC, (self.run_id, node_id, name, None, plotted(value)))
        error = self._first_failure if event.status == RunStatus.FAILED else None
        self._queue(
            "UPDATE runs SET status = ?, finished = ?, seconds = ?, error = ? WHERE id = ?",
            (event.status, utc_now(), event.seconds, error, self.run_id),
        )
        return True

    # -- after the run -------------------------------------------------------------------------

    def record_result(self, result: RunResult) -> None:
        """Cache keys of every node and the artifacts (cache entries, working folders) it left."""
        workdirs = run_folder(self.run_id)  # where the runner gives nodes their workdir
        for node_id, node_result in result.nodes.items():
            self._node(node_id, cache_key=node_result.key, seconds=node_result.seconds)
            for artifact in _artifacts(result.cache, node_result.key if node_result.status == RunStatus.SUCCEEDED else None,
                                       workdirs / node_id):
                self._queue(
                    "INSERT INTO artifacts (run_id, node_id, port, kind, path, size) VALUES (?, ?, ?, ?, ?, ?)",
                    (self.run_id, node_id, *artifact),
                )
        self.flush()

    def abort(self, error: BaseException) -> None:
        """The run ended by an exception rather than a RunFinished event: record how it ended."""
        cancelled = isinstance(error, KeyboardInterrupt)
        status = RunStatus.CANCELLED if cancelled else RunStatus.FAILED
        message = "stopped by the user" if cancelled else (f"{type(error).__name__}: {error}".splitlines() or [""])[0]
        now = utc_now()
        self._queue(
            "UPDATE runs SET status = ?, finished = ?, error = ? WHERE id = ? AND status IN (?, ?)",
            (status, now, message, self.run_id, *ACTIVE),
        )
        self._queue(
            "UPDATE node_runs SET status = ?, finished = ? WHERE run_id = ? AND status = ?",
            (status, now, self.run_id, RunStatus.RUNNING),
        )
        self._queue(
            "UPDATE node_runs SET status = ? WHERE run_id = ? AND status = ?",
            (RunStatus.SKIPPED, self.run_id, RunStatus.QUEUED),
        )
        self.flush()


def _artifacts(cache: OutputCache, key: str | None, workdir: Path) -> list[tuple[str | None, str, str, int]]:
    """(port, kind, path, size) of a node's stored outputs and of its working folder."""
    found: list[tuple[str | None, str, str, int]] = []
    if key:
        folder = cache.root / key[:2] / key
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {"outputs": {}}  # kept in memory only
        for port, entry in manifest.get("outputs", {}).items():
            found.append((port, entry.get("codec", "?"), str(folder / port), folder_size(folder / port)))
    if workdir.is_dir():
        found.append((None, "workdir", str(workdir), folder_size(workdir)))
    return found


def run_recorded(
    store: Store,
    pipeline: Pipeline,
    version: PipelineVersion,
    *,
    run_id: str | None = None,
    targets: Iterable[str] = (),
    device: str | None = None,
    use_cache: bool = True,
    overrides: Iterable[str] = (),
    listeners: Iterable[Listener] = (),
    cancel: CancelToken | None = None,
    rerun_of: str | None = None,
    registry: Registry | None = None,
) -> RunResult:
    """Run a checked pipeline (the `version` with `overrides` applied) and record it in the store.

    The run is recorded as `queued` before anything executes, so a watcher polling the store by
    `run_id` sees it from the start. Any exception out of the run is recorded, then re-raised.
    """
    run_id = run_id or new_run_id()
    targets, overrides = list(targets), list(overrides)
    # Bad targets and missing devices are the caller's mistakes: refuse them before recording a run.
    plan(pipeline, targets or None)
    resolve_device(device or pipeline.settings.device)
    store.create_run(
        version, run_id=run_id, requested_device=device, overrides=overrides, targets=targets,
        use_cache=use_cache, rerun_of=rerun_of,
    )
    recorder = RunRecorder(store, run_id, {spec.id: spec.type for spec in pipeline.nodes})
    try:
        result = run_pipeline(
            pipeline,
            targets=targets or None,
            device=device,
            use_cache=use_cache,
            listeners=[recorder, *listeners],
            cancel=cancel,
            run_id=run_id,
            registry=registry,
        )
    except BaseException as exc:
        recorder.abort(exc)
        raise
    recorder.record_result(result)
    return result
