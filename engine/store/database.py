"""The store's connection to its SQLite file: opening (and upgrading) it safely, and the
transactions every other part of the store reads and writes through.

Concurrency: every write is one short `BEGIN IMMEDIATE` transaction, so writers from several
processes queue up (30 s busy timeout) instead of failing, and readers never wait (WAL).
Durability: `synchronous=NORMAL` — a killed process never loses a committed transaction nor
corrupts the file; only a power cut may roll back the last commits.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from nodeloom.engine.paths import database_path
from nodeloom.engine.store import schema
from nodeloom.engine.store.records import StoreCorrupt, StoreError, utc_now

BUSY_TIMEOUT_S = 30.0
T = TypeVar("T")
Connected = TypeVar("Connected", bound="StoreConnection")


def serialised(method: Callable[..., T]) -> Callable[..., T]:
    """One call at a time on a store's connection, whichever thread makes it."""

    @functools.wraps(method)
    def locked(self: StoreConnection, *args: Any, **kwargs: Any) -> T:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


class StoreConnection:
    """One SQLite connection, shared safely by threads. The store's parts (pipelines, runs) build on it."""

    def __init__(self, path: Path, connection: sqlite3.Connection):
        self.path = path
        self.db = Database(connection)
        self._lock = threading.RLock()

    @classmethod
    def connect(cls: type[Connected], home: str | Path | None = None) -> Connected:
        """Open (creating or upgrading) the database in `home` (default: NODELOOM_HOME, else ~/.nodeloom).

        Raises `StoreCorrupt` (naming the file) when the database cannot be read, and `StoreError`
        when it was written by a newer NodeLoom; neither touches it.
        """
        path = database_path(Path(home) if home is not None else None)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreCorrupt(path, f"cannot create its folder ({exc.strerror or exc})") from None
        if path.exists() and not path.is_file():
            raise StoreCorrupt(path, "it is not a file")
        try:
            connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreCorrupt(path, str(exc)) from None
        opened = cls(path, connection)
        try:
            opened._prepare()
        except sqlite3.OperationalError as exc:
            connection.close()
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreError(
                    f"the NodeLoom database {path} stayed locked for {BUSY_TIMEOUT_S:.0f} s: {exc}"
                ) from None
            raise StoreCorrupt(path, str(exc)) from None
        except sqlite3.DatabaseError as exc:
            connection.close()
            raise StoreCorrupt(path, str(exc)) from None
        except BaseException:
            connection.close()
            raise
        return opened

    def _prepare(self) -> None:
        # Reading the header first: on a file that is not SQLite this fails before anything is written.
        self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000:.0f}")
        self._check_compatible()  # before anything below writes to the file
        if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        if schema.pending(self.db):
            # Foreign keys are enforced only after the upgrade (SQLite's own recipe for rebuilding a
            # table others point at); schema.apply checks them all before it commits.
            self.db.execute("PRAGMA foreign_keys = OFF")
            with self.write() as db:
                self._check_compatible()  # another process may have upgraded meanwhile
                schema.apply(db, schema.pending(db), utc_now())
        self.db.execute("PRAGMA foreign_keys = ON")

    def _check_compatible(self) -> None:
        """Refuse files that are some other program's database, or a newer NodeLoom's."""
        tables = self.db.table_names()
        if tables and "schema_version" not in tables:
            listed = ", ".join(tables[:5])
            raise StoreCorrupt(self.path, f"it is an SQLite database, but not NodeLoom's (tables: {listed})")
        version = schema.current_version(self.db)
        if version > schema.LATEST:
            raise StoreError(
                f"the NodeLoom database {self.path} has schema version {version}, newer than this NodeLoom "
                f"understands ({schema.LATEST}); upgrade NodeLoom to use it"
            )

    @property
    def schema_version(self) -> int:
        return schema.current_version(self.db)

    def close(self) -> None:
        with self._lock:
            self.db.conn.close()

    def __enter__(self: Connected) -> Connected:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def write(self) -> Iterator[Database]:
        """One write transaction, taken at once (`BEGIN IMMEDIATE`) so concurrent writers queue."""
        with self._lock:
            if self.db.conn.in_transaction:  # nested: join the outer transaction
                yield self.db
                return
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                self.db.execute("COMMIT")
            except BaseException:  # the body's error, or a failed COMMIT: leave no transaction open
                self.db.conn.rollback()
                raise

    @contextlib.contextmanager
    def read(self) -> Iterator[Database]:
        """Several reads from one consistent snapshot."""
        with self._lock:
            if self.db.conn.in_transaction:
                yield self.db
                return
            self.db.execute("BEGIN")
            try:
                yield self.db
            finally:
                self.db.conn.rollback()

    @serialised
    def integrity_check(self) -> str:
        """SQLite's own check of the whole file: 'ok' when healthy."""
        return "\n".join(row[0] for row in self.db.execute("PRAGMA integrity_check"))
