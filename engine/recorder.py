"""Recording runs into the store: an event listener, and `run_recorded`, which ties a run to the
exact pipeline version it executes.

The listener turns events into the store's `RunWriter` calls and decides when to commit them:
node state changes (started, finished, failed…) at once, so a watching app sees them promptly;
progress points and log lines at most every `flush_interval` seconds, so a training loop
reporting every step pays for a list append, not a transaction.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nodeloom.engine.cache import MANIFEST, OutputCache
from nodeloom.engine.context import CancelToken
from nodeloom.engine.events import Event, RunStatus
from nodeloom.engine.node import Registry
from nodeloom.engine.paths import folder_size, new_run_id, node_workdir
from nodeloom.engine.pipeline import Pipeline
from nodeloom.engine.planner import plan_run
from nodeloom.engine.runner import Executor, Listener, RunResult, run_planned
from nodeloom.engine.store import PipelineVersion, Store
from nodeloom.engine.store.writer import RunWriter

AXES = ("step", "epoch")  # progress values that say where a node is, not curves to plot against it
URGENT_LOG_LEVELS = ("warning", "error", "critical")  # worth showing at once, not at the next flush


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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
        self.writer = RunWriter(store, run_id)
        self._progress_counts: dict[str, int] = {}
        self._last_flush = time.monotonic()
        self._first_failure: str | None = None  # the run's error, when a node fails
        self._lock = threading.RLock()  # a node may report from threads of its own

    def flush(self) -> bool:
        """Commit everything queued; False (the writes kept for the next try) when the database stayed locked."""
        with self._lock:
            written = self.writer.flush()
            if written:
                self._last_flush = time.monotonic()
            return written

    # -- events --------------------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is None:
            return
        with self._lock:
            urgent = handler(event)
            overdue = time.monotonic() - self._last_flush >= self.flush_interval
            if urgent or overdue or self.writer.pending_rows >= self.max_pending:
                self.flush()

    # Each handler queues its writes and says whether they are urgent (committed at once).

    def _on_run_started(self, event: Any) -> bool:
        self.writer.run_started(event.device, [(node_id, self.node_types.get(node_id)) for node_id in event.planned])
        return True

    def _on_started(self, event: Any) -> bool:
        self.writer.node_started(event.node_id)
        return True

    def _on_progress(self, event: Any) -> bool:
        count = self._progress_counts[event.node_id] = self._progress_counts.get(event.node_id, 0) + 1
        step = event.values.get("step")
        step = int(step) if is_number(step) and math.isfinite(step) else count
        for name, value in event.values.items():
            if name not in AXES and is_number(value):
                self.writer.metric(event.node_id, name, value, step)
        self.writer.node_progress(event.node_id, event.fraction, event.message)
        return False

    def _on_log(self, event: Any) -> bool:
        self.writer.log(event.node_id, event.level, event.message)
        return event.level in URGENT_LOG_LEVELS

    def _on_finished(self, event: Any) -> bool:
        self.writer.node_succeeded(event.node_id, event.seconds, event.summary)
        return True

    def _on_cached(self, event: Any) -> bool:
        self.writer.node_succeeded(event.node_id, 0.0, event.summary, cached=True)
        return True

    def _on_failed(self, event: Any) -> bool:
        self._first_failure = self._first_failure or f"node '{event.node_id}' failed: {event.error}"
        self.writer.node_failed(event.node_id, event.error, event.traceback or None)
        return True

    def _on_skipped(self, event: Any) -> bool:
        self.writer.node_skipped(event.node_id, event.reason)
        return True

    def _on_cancelled(self, event: Any) -> bool:
        self.writer.node_cancelled(event.node_id)
        return True

    def _on_run_finished(self, event: Any) -> bool:
        for node_id, numbers in event.metrics.items():
            for name, value in numbers.items():
                if is_number(value):
                    self.writer.metric(node_id, name, value)
        error = self._first_failure if event.status == RunStatus.FAILED else None
        self.writer.run_finished(event.status, event.seconds, error)
        return True

    # -- after the run -------------------------------------------------------------------------

    def record_result(self, result: RunResult) -> None:
        """Cache keys of every node and the artifacts (cache entries, working folders) it left."""
        with self._lock:
            for node_id, node_result in result.nodes.items():
                self.writer.node_outcome(node_id, node_result.key, node_result.seconds)
                stored = node_result.key if node_result.status == RunStatus.SUCCEEDED else None
                for port, kind, path, size in _artifacts(result.cache, stored, _workdir_of(self.run_id, node_id)):
                    self.writer.artifact(node_id, port, kind, path, size)
            self.flush()

    def abort(self, error: BaseException) -> None:
        """The run ended by an exception rather than a RunFinished event: record how it ended."""
        cancelled = isinstance(error, KeyboardInterrupt)
        status = RunStatus.CANCELLED if cancelled else RunStatus.FAILED
        message = "stopped by the user" if cancelled else (f"{type(error).__name__}: {error}".splitlines() or [""])[0]
        with self._lock:
            self.writer.run_ended_early(status, message)
            self.flush()


def _workdir_of(run_id: str, node_id: str) -> Path | None:
    """Where the runner gave the node its working folder; None for an id that cannot name one (it never ran)."""
    try:
        return node_workdir(run_id, node_id)
    except ValueError:
        return None


def _artifacts(cache: OutputCache, key: str | None, workdir: Path | None) -> list[tuple[str | None, str, str, int]]:
    """(port, kind, path, size) of a node's stored outputs and of its working folder."""
    found: list[tuple[str | None, str, str, int]] = []
    if key:
        folder = cache.entry_folder(key)
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {"outputs": {}}  # kept in memory only
        for port, entry in manifest.get("outputs", {}).items():
            found.append((port, entry.get("codec", "?"), str(folder / port), folder_size(folder / port)))
    if workdir is not None and workdir.is_dir():
        found.append((None, "workdir", str(workdir), folder_size(workdir)))
    return found


def run_recorded(
    store: Store,
    pipeline: Pipeline,
    version: PipelineVersion | None,
    *,
    pipeline_data: dict[str, Any] | None = None,
    run_id: str | None = None,
    targets: Iterable[str] = (),
    device: str | None = None,
    use_cache: bool = True,
    overrides: Iterable[str] = (),
    listeners: Iterable[Listener] = (),
    cancel: CancelToken | None = None,
    rerun_of: str | None = None,
    sweep_id: str | None = None,
    registry: Registry | None = None,
    executor: Executor | None = None,
) -> RunResult:
    """Run a checked pipeline (the `version`, or with `version` None the JSON `pipeline_data`, with
    `overrides` applied) and record it in the store, with the exact JSON it ran (and the `sweep_id` of the
    sweep it is part of, if any). The `executor` runs the nodes (default: in this process, see `engine.runner`).

    The run is recorded as `queued` before anything executes, so a watcher polling the store by
    `run_id` sees it from the start. Any exception out of the run is recorded, then re-raised.
    """
    run_id = run_id or new_run_id()
    # Planned once, before the run is recorded: bad targets, missing devices and saves that would replace
    # what is there are the caller's mistakes, refused without leaving a run behind.
    run_plan = plan_run(pipeline, targets, device, registry)
    store.create_run(
        version,
        run_id=run_id,
        pipeline=pipeline_data,
        requested_device=run_plan.requested_device,
        overrides=list(overrides),
        targets=run_plan.targets,
        use_cache=use_cache,
        rerun_of=rerun_of,
        sweep_id=sweep_id,
    )
    recorder = RunRecorder(store, run_id, {spec.id: spec.type for spec in pipeline.nodes})
    try:
        result = run_planned(
            run_plan,
            use_cache=use_cache,
            listeners=[recorder, *listeners],
            cancel=cancel,
            run_id=run_id,
            registry=registry,
            executor=executor,
        )
    except BaseException as exc:
        recorder.abort(exc)
        raise
    recorder.record_result(result)
    return result
