"""Writing one run's history: node states, metric points, log lines and artifacts.

Every call only queues rows in memory; `flush()` commits everything queued in one transaction, on
the store's connection. The caller (engine.recorder) decides when to flush — at once for node
state changes, every so often for progress — so a training loop reporting every step pays for a
list append, not a transaction.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections.abc import Iterable
from typing import Any

from nodeloom.engine.events import ACTIVE, RunStatus
from nodeloom.engine.store.database import StoreConnection
from nodeloom.engine.store.records import utc_now

log = logging.getLogger("nodeloom.recorder")

INSERT_METRIC = "INSERT INTO metrics (run_id, node_id, name, step, value) VALUES (?, ?, ?, ?, ?)"
INSERT_LOG = "INSERT INTO logs (run_id, node_id, level, message, traceback, created) VALUES (?, ?, ?, ?, ?, ?)"
INSERT_ARTIFACT = "INSERT INTO artifacts (run_id, node_id, port, kind, path, size) VALUES (?, ?, ?, ?, ?, ?)"
INSERT_NODE = "INSERT OR IGNORE INTO node_runs (run_id, node_id, type, status, cached) VALUES (?, ?, ?, ?, 0)"
UPDATE_NODE = "UPDATE node_runs SET {} WHERE run_id = ? AND node_id = ?"


def plotted(value: float) -> float | None:
    """NaN and infinities are stored as NULL: a gap in the curve, not a crash."""
    return float(value) if math.isfinite(value) else None


class RunWriter:
    """The queued writes of one run, already recorded by `Store.create_run`. Not thread-safe: the
    recorder serialises its calls."""

    def __init__(self, store: StoreConnection, run_id: str):
        self.store = store
        self.run_id = run_id
        self._pending: list[tuple[str, list[tuple[Any, ...]]]] = []  # (sql, rows), consecutive sql merged
        self._pending_rows = 0
        # Only the latest progress of each node is worth writing: it replaces earlier ones until the flush.
        self._latest_progress: dict[str, tuple[float | None, str]] = {}

    @property
    def pending_rows(self) -> int:
        return self._pending_rows

    def _queue(self, sql: str, row: tuple[Any, ...]) -> None:
        if self._pending and self._pending[-1][0] == sql:
            self._pending[-1][1].append(row)
        else:
            self._pending.append((sql, [row]))
        self._pending_rows += 1

    def _node(self, node_id: str, **columns: Any) -> None:
        assignments = ", ".join(f"{name} = ?" for name in columns)
        self._queue(UPDATE_NODE.format(assignments), (*columns.values(), self.run_id, node_id))

    # -- the run -------------------------------------------------------------------------------

    def run_started(self, device: str, planned: Iterable[tuple[str, str | None]]) -> None:
        """The run started on `device`; `planned` is (node id, node type) in execution order."""
        self._queue(
            "UPDATE runs SET status = ?, started = ?, device = ? WHERE id = ?",
            (RunStatus.RUNNING, utc_now(), device, self.run_id),
        )
        for node_id, node_type in planned:
            self._queue(INSERT_NODE, (self.run_id, node_id, node_type, RunStatus.QUEUED))

    def run_finished(self, status: RunStatus, seconds: float, error: str | None) -> None:
        self._queue(
            "UPDATE runs SET status = ?, finished = ?, seconds = ?, error = ? WHERE id = ?",
            (status, utc_now(), seconds, error, self.run_id),
        )

    def run_ended_early(self, status: RunStatus, error: str) -> None:
        """The run ended by an exception, without finishing: its running nodes end with it, the
        queued ones never start."""
        now = utc_now()
        self._queue(
            "UPDATE runs SET status = ?, finished = ?, error = ? WHERE id = ? AND status IN (?, ?)",
            (status, now, error, self.run_id, *ACTIVE),
        )
        self._queue(
            "UPDATE node_runs SET status = ?, finished = ? WHERE run_id = ? AND status = ?",
            (status, now, self.run_id, RunStatus.RUNNING),
        )
        self._queue(
            "UPDATE node_runs SET status = ? WHERE run_id = ? AND status = ?",
            (RunStatus.SKIPPED, self.run_id, RunStatus.QUEUED),
        )

    # -- its nodes -----------------------------------------------------------------------------

    def node_started(self, node_id: str) -> None:
        self._node(node_id, status=RunStatus.RUNNING, started=utc_now())

    def node_succeeded(self, node_id: str, seconds: float, summary: dict[str, Any], cached: bool = False) -> None:
        columns: dict[str, Any] = {"status": RunStatus.SUCCEEDED}
        if cached:
            columns["cached"] = 1
        self._node(node_id, **columns, seconds=seconds, summary=json.dumps(summary, default=str), finished=utc_now())

    def node_failed(self, node_id: str, error: str, traceback: str | None) -> None:
        """The node's status, and its error (with the traceback of a crash) in the run's log."""
        now = utc_now()
        self._node(node_id, status=RunStatus.FAILED, error=error, finished=now)
        self._queue(INSERT_LOG, (self.run_id, node_id, "error", error, traceback, now))

    def node_skipped(self, node_id: str, reason: str) -> None:
        self._node(node_id, status=RunStatus.SKIPPED, error=reason)

    def node_cancelled(self, node_id: str) -> None:
        self._node(node_id, status=RunStatus.CANCELLED, finished=utc_now())

    def node_progress(self, node_id: str, fraction: float | None, message: str) -> None:
        self._latest_progress[node_id] = (fraction, message)

    def node_outcome(self, node_id: str, cache_key: str | None, seconds: float) -> None:
        """What the runner knows once the run is over: the node's cache key and its exact time."""
        self._node(node_id, cache_key=cache_key, seconds=seconds)

    def metric(self, node_id: str, name: str, value: float, step: int | None = None) -> None:
        """A point on a curve (`step` given) or one of the node's final results (`step` None)."""
        self._queue(INSERT_METRIC, (self.run_id, node_id, name, step, plotted(value)))

    def log(self, node_id: str | None, level: str, message: str) -> None:
        self._queue(INSERT_LOG, (self.run_id, node_id, level, message, None, utc_now()))

    def artifact(self, node_id: str, port: str | None, kind: str, path: str, size: int) -> None:
        self._queue(INSERT_ARTIFACT, (self.run_id, node_id, port, kind, path, size))

    # -- committing ----------------------------------------------------------------------------

    def flush(self) -> bool:
        """Commit everything queued in one transaction. On a lock timeout the queue is kept for
        the next try (a run never fails because its history could not be written yet)."""
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
        return True
