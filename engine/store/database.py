"""The store's connection to its SQLite file: opening (and upgrading) it safely, and the
transactions every other part of the store reads and writes through.

Concurrency: every write is one short `BEGIN IMMEDIATE` transaction, so writers from several
processes queue up (30 s busy timeout) instead of failing, and readers never wait (WAL).
Durability: `synchronous=NORMAL` — a killed process never loses a committed transaction nor
corrupts the file; only a power cut may roll back the last commits.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from nodeloom.engine.paths import database_path
from nodeloom.engine.store import schema
from nodeloom.engine.store.records import StoreCorrupt, StoreError, StoreFull, StoreLocked, StoreReadOnly, utc_now

BUSY_TIMEOUT_S = 30.0
T = TypeVar("T")
Connected = TypeVar("Connected", bound="StoreConnection")


# SQLite's primary result codes (the low byte of an extended code such as SQLITE_READONLY_DBMOVED).
SQLITE_PERM, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY = 3, 5, 6, 8
SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 10, 11, 13, 14, 26
# Older SQLite builds and OSErrors carry no code: their messages are recognised instead.
MESSAGE_CODES = (
    ("readonly", SQLITE_READONLY),
    ("read-only", SQLITE_READONLY),
    ("locked", SQLITE_BUSY),
    ("busy", SQLITE_BUSY),
    ("disk is full", SQLITE_FULL),
    ("malformed", SQLITE_CORRUPT),
    ("not a database", SQLITE_NOTADB),
    ("unable to open", SQLITE_CANTOPEN),
    ("i/o error", SQLITE_IOERR),
)
OS_CODES = {
    errno.EACCES: SQLITE_PERM,
    errno.EPERM: SQLITE_PERM,
    errno.EROFS: SQLITE_READONLY,
    errno.ENOSPC: SQLITE_FULL,
}
NEARLY_FULL_BYTES = 2**20  # less free space than this, and an I/O error is taken for a full disk


def _primary_code(error: BaseException) -> int | None:
    if isinstance(error, OSError):
        return OS_CODES.get(error.errno or 0)
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF
    text = str(error).lower()
    return next((code for words, code in MESSAGE_CODES if words in text), None)


def _writable(path: Path) -> bool:
    """Whether this process may write the database and its folder (SQLite writes -wal and -shm files beside it)."""
    return os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


def _disk_full(path: Path) -> bool:
    """Whether the disk holding the database has (almost) no space left: SQLite reports some writes that fail for
    want of space, such as growing its -shm file, as a plain I/O error."""
    folder = next((parent for parent in (path.parent, *path.parents) if parent.exists()), path.parent)
    try:
        return shutil.disk_usage(folder).free < NEARLY_FULL_BYTES
    except OSError:
        return False


def explain_failure(path: Path, error: sqlite3.Error | OSError) -> StoreError:
    """The store error that tells the truth about a failed database operation: read-only, locked, full and damaged
    are different problems with different fixes. Fed every sqlite3 error (and OSError) the store meets."""
    code = _primary_code(error)
    detail = (getattr(error, "strerror", None) or str(error) or type(error).__name__).splitlines()[0]
    if code in (SQLITE_BUSY, SQLITE_LOCKED):
        return StoreLocked(
            f"the NodeLoom database {path} is locked by another process ({detail}; waited {BUSY_TIMEOUT_S:.0f} s): "
            "let the other nodeloom command or app finish, or stop it, then try again"
        )
    if code == SQLITE_FULL or (code == SQLITE_IOERR and _disk_full(path)):
        return StoreFull(
            f"no space left to write the NodeLoom database {path} ({detail}): free disk space "
            "(`nodeloom gc` deletes caches and run folders of old runs), then try again"
        )
    if code in (SQLITE_READONLY, SQLITE_PERM) or (code in (SQLITE_CANTOPEN, SQLITE_IOERR) and not _writable(path)):
        return StoreReadOnly(
            f"the NodeLoom database {path} is read-only ({detail}): make the file and its folder writable, "
            "or set NODELOOM_HOME to a folder you can write"
        )
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return StoreCorrupt(path, f"it is damaged or not an SQLite database ({detail})")
    return StoreError(f"cannot use the NodeLoom database {path}: {detail}; check the disk and folder it is on")


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

        Raises `StoreCorrupt` (naming the file) when the database cannot be read, `StoreReadOnly`, `StoreLocked`
        or `StoreFull` when it cannot be written (see `explain_failure`), and `StoreError` when it was written by
        a newer NodeLoom; none touches it.
        """
        path = database_path(Path(home) if home is not None else None)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise explain_failure(path, exc) from None
        if path.exists() and not path.is_file():
            raise StoreCorrupt(path, "it is not a file")
        try:
            connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise explain_failure(path, exc) from None
        opened = cls(path, connection)
        try:
            opened._prepare()
        except sqlite3.Error as exc:
            connection.close()
            raise explain_failure(path, exc) from None
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
