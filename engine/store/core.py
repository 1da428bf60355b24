"""The store: one SQLite database (WAL mode) under NODELOOM_HOME holding saved pipelines, their
versions and the history of every run.

`Store` is the one object front ends use; it joins the store's parts, each in its own module:

    database.py   the connection: opening and upgrading the file, transactions, thread safety
    pipelines.py  saved pipelines and their versions
    runs.py       run history: runs, node runs, metrics, curves, logs, artifacts; crash recovery
    writer.py     RunWriter: the batched writes of a run in progress (used by engine.recorder)
    records.py    the dataclasses handed out, and the errors raised
    processes.py  whether the process that owns a run is still alive
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nodeloom.engine.store.database import explain_failure
from nodeloom.engine.store.pipelines import PipelineStore
from nodeloom.engine.store.runs import RunStore


class Store(PipelineStore, RunStore):
    """Saved pipelines, their versions, and run history. Open with `Store.open()`.

    One object may be shared by threads (calls are serialised); each process opens its own.
    Reading methods never block on a running pipeline writing its history.
    """

    @classmethod
    def open(cls, home: str | Path | None = None, *, recover: bool = True) -> Store:
        """Open (creating or upgrading) the store in `home` (default: NODELOOM_HOME, else ~/.nodeloom).

        With `recover`, runs left `queued`/`running` by a process that no longer exists are
        marked `interrupted`. Raises `StoreCorrupt` (naming the file) when the database cannot
        be read, `StoreReadOnly`, `StoreLocked` or `StoreFull` when it cannot be written, and `StoreError`
        when it was written by a newer NodeLoom; none touches it.
        """
        store = cls.connect(home)
        if recover:
            try:
                store.mark_interrupted()
            except sqlite3.Error as exc:  # the first write: a read-only or locked store shows up here
                store.close()
                raise explain_failure(store.path, exc) from None
        return store
