"""Store errors that tell the truth (issue [trust]): read-only, locked, full and damaged are different problems,
each with its own advice. Every sqlite3 error here is a real one, made by SQLite itself, because as root chmod
cannot make a file read-only for a subprocess test."""

from __future__ import annotations

import errno
import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest

from nodeloom.cli import main
from nodeloom.engine.store import (
    Store,
    StoreCorrupt,
    StoreError,
    StoreFull,
    StoreLocked,
    StoreReadOnly,
    explain_failure,
)
from nodeloom.engine.store import database as store_database


def sqlite_error(action) -> sqlite3.Error:
    with pytest.raises(sqlite3.Error) as caught:
        action()
    return caught.value


@pytest.fixture
def database(tmp_path) -> Path:
    path = tmp_path / "nodeloom.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE t (x)")
    connection.commit()
    connection.close()
    return path


def read_only_error(path: Path) -> sqlite3.Error:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    return sqlite_error(lambda: connection.execute("INSERT INTO t VALUES (1)"))


def locked_error(path: Path) -> sqlite3.Error:
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    waiter = sqlite3.connect(path, timeout=0, isolation_level=None)
    return sqlite_error(lambda: waiter.execute("BEGIN IMMEDIATE"))


def full_error(path: Path) -> sqlite3.Error:
    connection = sqlite3.connect(path)
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.execute(f"PRAGMA max_page_count = {pages}")  # the disk is "full" at the size it has now
    return sqlite_error(lambda: connection.execute("INSERT INTO t VALUES (?)", [b"x" * 100_000]))


def damaged_error(path: Path) -> sqlite3.Error:
    path.write_bytes(b"this is not SQLite at all" * 200)
    return sqlite_error(lambda: sqlite3.connect(path).execute("SELECT * FROM sqlite_master").fetchall())


@pytest.mark.parametrize(
    ("make_error", "kind", "words"),
    [
        (read_only_error, StoreReadOnly, ("read-only", "writable", "NODELOOM_HOME")),
        (locked_error, StoreLocked, ("locked by another process", "try again")),
        (full_error, StoreFull, ("no space left", "nodeloom gc")),
        (damaged_error, StoreCorrupt, ("damaged", "left untouched", "move it aside")),
    ],
    ids=["read-only", "locked", "full", "damaged"],
)
def test_each_sqlite_error_gets_its_own_message_and_advice(database, make_error, kind, words):
    explained = explain_failure(database, make_error(database))
    assert type(explained) is kind
    message = str(explained)
    assert str(database) in message and "\n" not in message
    for word in words:
        assert word in message, message
    others = {"read-only": StoreReadOnly, "locked": StoreLocked, "no space": StoreFull, "damaged": StoreCorrupt}
    for word, other in others.items():
        if other is not kind:
            assert word not in message, message


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (sqlite3.OperationalError("attempt to write a readonly database"), StoreReadOnly),
        (sqlite3.OperationalError("database is locked"), StoreLocked),
        (sqlite3.OperationalError("database or disk is full"), StoreFull),
        (sqlite3.DatabaseError("database disk image is malformed"), StoreCorrupt),
        (OSError(errno.EROFS, "Read-only file system"), StoreReadOnly),
        (OSError(errno.EACCES, "Permission denied"), StoreReadOnly),
        (OSError(errno.ENOSPC, "No space left on device"), StoreFull),
        (sqlite3.OperationalError("disk I/O error"), StoreError),
    ],
    ids=["readonly", "locked", "full", "malformed", "erofs", "eacces", "enospc", "other"],
)
def test_errors_without_a_sqlite_code_are_told_apart_by_their_words(tmp_path, error, kind):
    """Older SQLite builds give no error code, and OSErrors none at all."""
    explained = explain_failure(tmp_path / "nodeloom.db", error)
    assert type(explained) is kind
    assert str(tmp_path / "nodeloom.db") in str(explained)


def test_a_store_locked_by_another_process_says_locked_not_damaged(nodeloom_home, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(store_database, "BUSY_TIMEOUT_S", 0.2)
    Store.open().close()
    holder = sqlite3.connect(nodeloom_home / "nodeloom.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # what a long write of another nodeloom looks like
    pipeline = tmp_path / "p.json"
    pipeline.write_text(json.dumps({"schema_version": 1, "name": "locked", "nodes": [], "edges": []}))
    try:
        assert main(["run", str(pipeline)]) == 2
    finally:
        holder.rollback()
    error = capsys.readouterr().err
    assert "locked by another process" in error and "damaged" not in error and "Traceback" not in error


def test_an_io_error_on_a_full_disk_is_a_full_disk(tmp_path, monkeypatch):
    """SQLite reports growing its -shm file on a full disk as a plain 'disk I/O error' (seen on a full tmpfs)."""
    io_error = sqlite3.OperationalError("disk I/O error")
    assert type(explain_failure(tmp_path / "nodeloom.db", io_error)) is StoreError  # space left: just I/O
    monkeypatch.setattr(store_database.shutil, "disk_usage", lambda folder: FULL_DISK)
    assert type(explain_failure(tmp_path / "nodeloom.db", io_error)) is StoreFull


FULL_DISK = SimpleNamespace(total=10**9, used=10**9, free=0)  # what shutil.disk_usage says of a full disk
