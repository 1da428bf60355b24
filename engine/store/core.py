"""The store: one SQLite database (WAL mode) under NODELOOM_HOME holding saved pipelines, their
versions and the history of every run.

Concurrency: every write is one short `BEGIN IMMEDIATE` transaction, so writers from several
processes queue up (30 s busy timeout) instead of failing, and readers never wait (WAL).
Durability: `synchronous=NORMAL` — a killed process never loses a committed transaction nor
corrupts the file; only a power cut may roll back the last commits.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import psutil
from sqlite_utils import Database

from nodeloom.engine.events import ACTIVE, RunStatus
from nodeloom.engine.paths import InvalidRunId, check_run_id, database_path
from nodeloom.engine.store import schema
from nodeloom.engine.store.diff import PipelineDiff, diff_pipelines

BUSY_TIMEOUT_S = 30.0
T = TypeVar("T")


class StoreError(Exception):
    """A problem with the store, explained in one line for the user."""


class StoreCorrupt(StoreError):
    """The database file cannot be read as a NodeLoom store. It is left untouched."""

    def __init__(self, path: Path, reason: str):
        self.path = path
        super().__init__(
            f"cannot read the NodeLoom database {path}: {reason}. The file was left untouched; "
            "move it aside (or set NODELOOM_HOME elsewhere) to start a new store"
        )


class StaleVersion(StoreError):
    """A save was based on a version that is no longer the latest."""


class NotFound(StoreError):
    """No such pipeline, version or run."""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(data: Any) -> str:
    """What decides whether a save is a new version: key order and whitespace do not count."""
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def folder_size(path: Path) -> int:
    """Bytes in the files under a folder (what deleting it frees)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass  # removed while we looked
    return total


# ---------------------------------------------------------------------------------------------
# processes: is the process that owns a run still there?


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    started: float | None  # the process's start time, so a reused pid is not mistaken for it
    host: str


def this_process() -> ProcessIdentity:
    return process_identity(os.getpid())


def process_identity(pid: int) -> ProcessIdentity:
    try:
        started: float | None = psutil.Process(pid).create_time()
    except (psutil.Error, OSError):
        started = None
    return ProcessIdentity(pid, started, socket.gethostname())


def process_alive(pid: int | None, started: float | None, host: str | None) -> bool:
    """False only when we can tell the process is gone; runs of other machines count as alive."""
    if pid is None:
        return False
    if host and host != socket.gethostname():
        return True
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(process.create_time() - started) < 1.0
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # e.g. access denied: it exists
        return True


# ---------------------------------------------------------------------------------------------
# what the store hands out


@dataclass
class PipelineInfo:
    name: str
    description: str
    created: str
    updated: str
    latest_version: int
    versions: int
    runs: int
    last_run_id: str | None
    last_run_status: str | None
    last_run_started: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PipelineVersion:
    id: int  # the row id: what runs point at
    pipeline: str
    version: int  # 1, 2, 3… per pipeline
    content_hash: str
    message: str
    created: str
    data: dict[str, Any]  # the pipeline JSON

    def to_dict(self, with_data: bool = True) -> dict[str, Any]:
        found = asdict(self)
        if not with_data:
            found.pop("data")
        return found


@dataclass
class SaveResult:
    version: PipelineVersion
    created: bool  # False when the content matched and no version was added


@dataclass
class Series:
    steps: list[int] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)  # None where the value was NaN


@dataclass
class NodeRun:
    node_id: str
    type: str | None
    status: str
    cached: bool
    seconds: float | None
    error: str | None
    summary: dict[str, Any]
    cache_key: str | None
    progress: float | None
    message: str | None
    started: str | None
    finished: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Artifact:
    node_id: str
    port: str | None  # None for a node's working folder
    kind: str  # the cache codec (arrow dataset, model, json…) or "workdir"
    path: str
    size: int
    removed: str | None  # when `gc` deleted it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LogEntry:
    id: int
    node_id: str | None
    level: str
    message: str
    traceback: str | None
    created: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunInfo:
    id: str
    pipeline: str
    version: int
    version_id: int
    status: str
    created: str
    started: str | None
    finished: str | None
    seconds: float | None
    device: str | None
    requested_device: str | None
    overrides: list[str]
    targets: list[str]
    use_cache: bool
    error: str | None
    pid: int | None
    host: str | None
    rerun_of: str | None
    metrics: dict[str, dict[str, float]]  # final results: node -> name -> value

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunDetail(RunInfo):
    nodes: dict[str, NodeRun] = field(default_factory=dict)  # in execution order
    artifacts: list[Artifact] = field(default_factory=list)


def _loads(text: str | None, default: Any) -> Any:
    return json.loads(text) if text else default


_RUN_COLUMNS = """
    r.id, p.name AS pipeline, v.version, v.id AS version_id, r.status, r.created, r.started, r.finished,
    r.seconds, r.device, r.requested_device, r.overrides, r.targets, r.use_cache, r.error, r.pid, r.host, r.rerun_of
"""
_RUN_FROM = "runs r JOIN pipeline_versions v ON v.id = r.pipeline_version_id JOIN pipelines p ON p.id = v.pipeline_id"


def _serialised(method: Callable[..., T]) -> Callable[..., T]:
    """One call at a time on a Store's connection, whichever thread makes it."""

    @functools.wraps(method)
    def locked(self: Store, *args: Any, **kwargs: Any) -> T:
        with self._lock:
            return method(self, *args, **kwargs)

    return locked


# ---------------------------------------------------------------------------------------------


class Store:
    """Saved pipelines, their versions, and run history. Open with `Store.open()`.

    One object may be shared by threads (calls are serialised); each process opens its own.
    Reading methods never block on a running pipeline writing its history.
    """

    def __init__(self, path: Path, connection: sqlite3.Connection):
        self.path = path
        self.db = Database(connection)
        self._lock = threading.RLock()

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, home: str | Path | None = None, *, recover: bool = True) -> Store:
        """Open (creating or upgrading) the store in `home` (default: NODELOOM_HOME, else ~/.nodeloom).

        With `recover`, runs left `queued`/`running` by a process that no longer exists are
        marked `interrupted`. Raises `StoreCorrupt` (naming the file) when the database cannot
        be read, and `StoreError` when it was written by a newer NodeLoom; neither touches it.
        """
        path = database_path(Path(home) if home is not None else None)
        folder = path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreCorrupt(path, f"cannot create its folder ({exc.strerror or exc})") from None
        if path.exists() and not path.is_file():
            raise StoreCorrupt(path, "it is not a file")
        try:
            connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreCorrupt(path, str(exc)) from None
        store = cls(path, connection)
        try:
            store._prepare()
        except sqlite3.OperationalError as exc:
            connection.close()
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreError(f"the NodeLoom database {path} stayed locked for {BUSY_TIMEOUT_S:.0f} s: {exc}") from None
            raise StoreCorrupt(path, str(exc)) from None
        except sqlite3.DatabaseError as exc:
            connection.close()
            raise StoreCorrupt(path, str(exc)) from None
        except BaseException:
            connection.close()
            raise
        if recover:
            store.mark_interrupted()
        return store

    def _prepare(self) -> None:
        # Reading the header first: on a file that is not SQLite this fails before anything is written.
        self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        self.db.execute("PRAGMA busy_timeout = %d" % (BUSY_TIMEOUT_S * 1000))
        self._check_compatible()  # before anything below writes to the file
        if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute("PRAGMA foreign_keys = ON")
        if schema.pending(self.db):
            with self.write() as db:
                self._check_compatible()  # another process may have upgraded meanwhile
                schema.apply(db, schema.pending(db), utc_now())

    def _check_compatible(self) -> None:
        """Refuse files that are some other program's database, or a newer NodeLoom's."""
        tables = self.db.table_names()
        if tables and "schema_version" not in tables:
            raise StoreCorrupt(self.path, f"it is an SQLite database, but not NodeLoom's (tables: {', '.join(tables[:5])})")
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

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: Any) -> None:
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

    # -- pipelines -----------------------------------------------------------------------------

    @_serialised
    def list_pipelines(self) -> list[PipelineInfo]:
        """Every saved pipeline, most recently updated first."""
        rows = self.db.query(
            """
            SELECT p.name, p.description, p.created, p.updated,
                   (SELECT max(version) FROM pipeline_versions WHERE pipeline_id = p.id) AS latest_version,
                   (SELECT count(*) FROM pipeline_versions WHERE pipeline_id = p.id) AS versions,
                   (SELECT count(*) FROM runs r JOIN pipeline_versions v ON v.id = r.pipeline_version_id
                     WHERE v.pipeline_id = p.id) AS runs,
                   last.id AS last_run_id, last.status AS last_run_status,
                   coalesce(last.started, last.created) AS last_run_started
            FROM pipelines p
            LEFT JOIN runs last ON last.id = (
                SELECT r.id FROM runs r JOIN pipeline_versions v ON v.id = r.pipeline_version_id
                WHERE v.pipeline_id = p.id ORDER BY r.created DESC LIMIT 1)
            ORDER BY p.updated DESC, p.name
            """
        )
        return [PipelineInfo(**row) for row in rows]

    def _pipeline_id(self, name: str) -> int | None:
        row = self.db.execute("SELECT id FROM pipelines WHERE name = ?", [name]).fetchone()
        return row[0] if row else None

    def _version_from_row(self, row: dict[str, Any]) -> PipelineVersion:
        return PipelineVersion(
            id=row["id"], pipeline=row["pipeline"], version=row["version"], content_hash=row["content_hash"],
            message=row["message"] or "", created=row["created"], data=json.loads(row["content"]),
        )

    _VERSION_SELECT = """
        SELECT v.id, p.name AS pipeline, v.version, v.content_hash, v.message, v.created, v.content
        FROM pipeline_versions v JOIN pipelines p ON p.id = v.pipeline_id
    """

    @_serialised
    def versions(self, name: str) -> list[PipelineVersion]:
        """All versions of a pipeline, newest first. Raises NotFound for an unknown name."""
        rows = list(self.db.query(self._VERSION_SELECT + " WHERE p.name = ? ORDER BY v.version DESC", [name]))
        if not rows:
            raise NotFound(self._unknown_pipeline(name))
        return [self._version_from_row(row) for row in rows]

    @_serialised
    def get_version(self, name: str, version: int | None = None) -> PipelineVersion:
        """One version of a pipeline (default: the latest). Raises NotFound."""
        if version is None:
            sql, params = " WHERE p.name = ? ORDER BY v.version DESC LIMIT 1", [name]
        else:
            sql, params = " WHERE p.name = ? AND v.version = ?", [name, version]
        row = next(self.db.query(self._VERSION_SELECT + sql, params), None)
        if row is None:
            if self._pipeline_id(name) is None:
                raise NotFound(self._unknown_pipeline(name))
            raise NotFound(f"pipeline '{name}' has no version {version}")
        return self._version_from_row(row)

    @_serialised
    def version_by_id(self, version_id: int) -> PipelineVersion:
        row = next(self.db.query(self._VERSION_SELECT + " WHERE v.id = ?", [version_id]), None)
        if row is None:
            raise NotFound(f"no pipeline version with id {version_id}")
        return self._version_from_row(row)

    def _unknown_pipeline(self, name: str) -> str:
        names = [row[0] for row in self.db.execute("SELECT name FROM pipelines ORDER BY name")]
        known = ", ".join(f"'{n}'" for n in names[:10]) or "none yet"
        return f"no saved pipeline named '{name}' (saved: {known})"

    def save_pipeline(
        self,
        name: str,
        data: dict[str, Any],
        message: str = "",
        base_version: int | None = None,
    ) -> SaveResult:
        """Save pipeline JSON under `name`; a new version is added only when the content changed.

        `data["name"]` is set to `name`. Pass `base_version` (the version the editor started
        from; 0 for a pipeline new to the store) to refuse — with `StaleVersion` — a save that
        would silently replace someone else's newer version; `None` always appends.
        """
        return self._save(name, data, message, base_version, reuse_any=False)

    def ensure_version(self, name: str, data: dict[str, Any], message: str = "") -> SaveResult:
        """The version of `name` with exactly this content (any version, not only the latest),
        saved as a new version when none matches. Runs are recorded against it."""
        return self._save(name, data, message, None, reuse_any=True)

    @_serialised
    def _save(
        self, name: str, data: dict[str, Any], message: str, base_version: int | None, reuse_any: bool
    ) -> SaveResult:
        if not isinstance(name, str) or not name.strip():
            raise StoreError("a pipeline needs a non-empty name to be saved")
        if not isinstance(data, dict):
            raise StoreError(f"pipeline '{name}': expected a JSON object, got {type(data).__name__}")
        data = {**data, "name": name}
        try:
            content = json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"pipeline '{name}' cannot be saved as JSON: {exc}") from None
        digest = content_hash(data)
        description = data.get("description") if isinstance(data.get("description"), str) else ""
        now = utc_now()
        with self.write() as db:
            pipeline_id = self._pipeline_id(name)
            if pipeline_id is None:
                if base_version:
                    raise StaleVersion(f"pipeline '{name}' no longer exists in the store; save it as a new pipeline")
                pipeline_id = db["pipelines"].insert(
                    {"name": name, "description": description, "created": now, "updated": now}
                ).last_pk
            latest = db.execute(
                "SELECT max(version), (SELECT content_hash FROM pipeline_versions WHERE pipeline_id = :p "
                "ORDER BY version DESC LIMIT 1) FROM pipeline_versions WHERE pipeline_id = :p",
                {"p": pipeline_id},
            ).fetchone()
            latest_version, latest_hash = latest[0] or 0, latest[1]
            if base_version == 0 and latest_version:
                raise StaleVersion(
                    f"a pipeline named '{name}' already exists (version {latest_version}); "
                    "choose another name, or open it to edit it"
                )
            if base_version is not None and base_version != latest_version:
                raise StaleVersion(
                    f"pipeline '{name}' was saved elsewhere meanwhile: it is at version {latest_version}, "
                    f"your edits started from version {base_version}. Reload it (or save under another name) "
                    "so the newer version is not overwritten"
                )
            if reuse_any:
                match = db.execute(
                    "SELECT version FROM pipeline_versions WHERE pipeline_id = ? AND content_hash = ? "
                    "ORDER BY version DESC LIMIT 1",
                    [pipeline_id, digest],
                ).fetchone()
                existing = match[0] if match else None
            else:
                existing = latest_version if latest_hash == digest else None
            if existing is None:
                existing = latest_version + 1
                db["pipeline_versions"].insert(
                    {"pipeline_id": pipeline_id, "version": existing, "content": content, "content_hash": digest,
                     "message": message, "created": now}
                )
                db["pipelines"].update(pipeline_id, {"description": description, "updated": now})
                created = True
            else:
                created = False
            return SaveResult(self.get_version(name, existing), created)

    @_serialised
    def diff(self, name: str, old_version: int, new_version: int | None = None) -> PipelineDiff:
        """What changed from `old_version` to `new_version` (default: the latest)."""
        return diff_pipelines(self.get_version(name, old_version).data, self.get_version(name, new_version).data)

    def restore(self, name: str, version: int, base_version: int | None = None) -> SaveResult:
        """Make an old version current again, as a new version (history is never rewritten)."""
        old = self.get_version(name, version)
        return self.save_pipeline(name, old.data, f"restored version {version}", base_version=base_version)

    def import_pipeline(self, source: str | bytes | Path, name: str | None = None, message: str = "imported") -> SaveResult:
        """Save pipeline JSON (text, bytes or a file) under `name` (default: its own name, else the file's stem).

        Drafts that do not validate are accepted: saving must never lose work.
        """
        stem = None
        if isinstance(source, Path):
            stem = source.stem
            try:
                source = source.read_bytes()
            except OSError as exc:
                raise StoreError(f"cannot read {source}: {exc.strerror or exc}") from None
        try:
            data = json.loads(source)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise StoreError(f"cannot import: not valid pipeline JSON ({exc})") from None
        if not isinstance(data, dict):
            raise StoreError(f"cannot import: a pipeline is a JSON object, got {type(data).__name__}")
        chosen = name or (data.get("name") if isinstance(data.get("name"), str) and data.get("name") else None) or stem
        if not chosen:
            raise StoreError("cannot import: the pipeline has no name; give one")
        return self.save_pipeline(chosen, data, message)

    def export_pipeline(self, name: str, version: int | None = None) -> str:
        """A version's pipeline JSON as text, ready to write to a file or `nodeloom run`."""
        return json.dumps(self.get_version(name, version).data, ensure_ascii=False, indent=2) + "\n"

    # -- runs ----------------------------------------------------------------------------------

    @_serialised
    def create_run(
        self,
        version: PipelineVersion | int,
        *,
        run_id: str,
        requested_device: str | None = None,
        overrides: Iterable[str] = (),
        targets: Iterable[str] = (),
        use_cache: bool = True,
        rerun_of: str | None = None,
        process: ProcessIdentity | None = None,
    ) -> str:
        """Record a new run (status `queued`) owned by `process` (default: this one)."""
        try:
            check_run_id(run_id)
        except InvalidRunId as exc:
            raise StoreError(str(exc)) from None
        version_id = version.id if isinstance(version, PipelineVersion) else int(version)
        owner = process or this_process()
        with self.write() as db:
            if db.execute("SELECT 1 FROM runs WHERE id = ?", [run_id]).fetchone():
                raise StoreError(f"run id '{run_id}' is already taken; choose another")
            db["runs"].insert(
                {
                    "id": run_id, "pipeline_version_id": version_id, "status": RunStatus.QUEUED, "created": utc_now(),
                    "requested_device": requested_device, "overrides": json.dumps(list(overrides)),
                    "targets": json.dumps(list(targets)), "use_cache": int(use_cache), "rerun_of": rerun_of,
                    "pid": owner.pid, "pid_started": owner.started, "host": owner.host,
                }
            )
        return run_id

    def _run_info(self, row: dict[str, Any], metrics: dict[str, dict[str, float]]) -> dict[str, Any]:
        return {
            **row,
            "overrides": _loads(row["overrides"], []),
            "targets": _loads(row["targets"], []),
            "use_cache": bool(row["use_cache"]),
            "metrics": metrics,
        }

    def _final_metrics(self, run_ids: list[str]) -> dict[str, dict[str, dict[str, float]]]:
        found: dict[str, dict[str, dict[str, float]]] = {run_id: {} for run_id in run_ids}
        for start in range(0, len(run_ids), 500):
            chunk = run_ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for run_id, node_id, name, value in self.db.execute(
                f"SELECT run_id, node_id, name, value FROM metrics WHERE step IS NULL AND run_id IN ({marks}) ORDER BY rowid",
                chunk,
            ):
                found[run_id].setdefault(node_id, {})[name] = value
        return found

    @_serialised
    def list_runs(
        self,
        pipeline: str | None = None,
        *,
        status: str | Iterable[str] | None = None,
        limit: int | None = 100,
    ) -> list[RunInfo]:
        """Runs, newest first, each with its final metrics; filter by pipeline name and status."""
        where, params = [], []
        if pipeline is not None:
            where.append("p.name = ?")
            params.append(pipeline)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            where.append(f"r.status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        sql = f"SELECT {_RUN_COLUMNS} FROM {_RUN_FROM}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.created DESC, r.rowid DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self.read():
            rows = list(self.db.query(sql, params))
            metrics = self._final_metrics([row["id"] for row in rows])
        return [RunInfo(**self._run_info(row, metrics[row["id"]])) for row in rows]

    @_serialised
    def resolve_run_id(self, prefix: str) -> str:
        """The full id of the run whose id is `prefix` or uniquely starts with it. Raises NotFound."""
        if self.db.execute("SELECT 1 FROM runs WHERE id = ?", [prefix]).fetchone():
            return prefix
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        matches = [row[0] for row in self.db.execute(
            "SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' LIMIT 5", [escaped + "%"]
        )]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise NotFound(f"no run '{prefix}'; `nodeloom runs` lists them")
        raise NotFound(f"run id '{prefix}' is ambiguous: {', '.join(matches)}…")

    @_serialised
    def get_run(self, run_id: str) -> RunDetail | None:
        """A run with its node runs (execution order) and artifacts; None when there is no such run."""
        with self.read() as db:
            row = next(db.query(f"SELECT {_RUN_COLUMNS} FROM {_RUN_FROM} WHERE r.id = ?", [run_id]), None)
            if row is None:
                return None
            metrics = self._final_metrics([run_id])[run_id]
            nodes = {
                node["node_id"]: NodeRun(
                    node_id=node["node_id"], type=node["type"], status=node["status"], cached=bool(node["cached"]),
                    seconds=node["seconds"], error=node["error"], summary=_loads(node["summary"], {}),
                    cache_key=node["cache_key"], progress=node["progress"], message=node["message"],
                    started=node["started"], finished=node["finished"],
                )
                for node in db.query("SELECT * FROM node_runs WHERE run_id = ? ORDER BY rowid", [run_id])
            }
            artifacts = [
                Artifact(a["node_id"], a["port"], a["kind"], a["path"], a["size"] or 0, a["removed"])
                for a in db.query("SELECT * FROM artifacts WHERE run_id = ? ORDER BY id", [run_id])
            ]
        return RunDetail(**self._run_info(row, metrics), nodes=nodes, artifacts=artifacts)

    @_serialised
    def metric_series(self, run_id: str, node_id: str | None = None, name: str | None = None) -> dict[str, dict[str, Series]]:
        """Per-step curves (training loss, learning rate…): node -> metric name -> Series.

        A node this run took from the cache shows the curves of the run that computed it.
        """
        found: dict[str, dict[str, Series]] = {}
        with self.read() as db:
            for node, (source_run, source_node) in self._curve_sources(run_id, node_id).items():
                sql = "SELECT name, step, value FROM metrics WHERE run_id = ? AND node_id = ? AND step IS NOT NULL"
                params: list[Any] = [source_run, source_node]
                if name is not None:
                    sql += " AND name = ?"
                    params.append(name)
                for metric, step, value in db.execute(sql + " ORDER BY rowid", params):
                    series = found.setdefault(node, {}).setdefault(metric, Series())
                    series.steps.append(step)
                    series.values.append(value)
        return found

    def _curve_sources(self, run_id: str, node_id: str | None) -> dict[str, tuple[str, str]]:
        """node id -> (run, node) whose recorded curves it has: its own, or for a cached node the
        latest run that computed the same cache entry."""
        rows = self.db.execute(
            "SELECT node_id, cached, cache_key FROM node_runs WHERE run_id = ? AND (? IS NULL OR node_id = ?) ORDER BY rowid",
            [run_id, node_id, node_id],
        ).fetchall()
        if not rows:  # node runs not recorded (yet): whatever curves exist under this run
            names = [node_id] if node_id else [r[0] for r in self.db.execute(
                "SELECT DISTINCT node_id FROM metrics WHERE run_id = ? AND step IS NOT NULL", [run_id])]
            return {node: (run_id, node) for node in names}
        sources = {}
        for node, cached, key in rows:
            origin = None
            if cached and key:
                origin = self.db.execute(
                    "SELECT n.run_id, n.node_id FROM node_runs n JOIN runs r ON r.id = n.run_id "
                    "WHERE n.cache_key = ? AND n.cached = 0 AND n.status = ? ORDER BY r.created DESC LIMIT 1",
                    [key, RunStatus.SUCCEEDED],
                ).fetchone()
            sources[node] = tuple(origin) if origin else (run_id, node)
        return sources

    @_serialised
    def logs(self, run_id: str, node_id: str | None = None, after_id: int = 0) -> list[LogEntry]:
        """Log lines and tracebacks of a run (or one node), oldest first; `after_id` to poll for new ones."""
        sql = "SELECT id, node_id, level, message, traceback, created FROM logs WHERE run_id = ? AND id > ?"
        params: list[Any] = [run_id, after_id]
        if node_id is not None:
            sql += " AND node_id = ?"
            params.append(node_id)
        return [LogEntry(**row) for row in self.db.query(sql + " ORDER BY id", params)]

    @_serialised
    def mark_interrupted(self) -> list[str]:
        """Mark `queued`/`running` runs whose process is gone as `interrupted`; returns their ids."""
        candidates = list(self.db.query(
            "SELECT id, pid, pid_started, host FROM runs WHERE status IN (?, ?)", ACTIVE
        ))
        gone = [row["id"] for row in candidates if not process_alive(row["pid"], row["pid_started"], row["host"])]
        if not gone:
            return []
        now = utc_now()
        with self.write() as db:
            for run_id in gone:
                db.execute(
                    "UPDATE runs SET status = ?, finished = coalesce(finished, ?), "
                    "error = coalesce(error, 'the process running it stopped unexpectedly') "
                    "WHERE id = ? AND status IN (?, ?)",
                    [RunStatus.INTERRUPTED, now, run_id, *ACTIVE],
                )
                db.execute(
                    "UPDATE node_runs SET status = ?, finished = coalesce(finished, ?) "
                    "WHERE run_id = ? AND status IN (?, ?)",
                    [RunStatus.INTERRUPTED, now, run_id, *ACTIVE],
                )
        return gone

    @_serialised
    def integrity_check(self) -> str:
        """SQLite's own check of the whole file: 'ok' when healthy."""
        return "\n".join(row[0] for row in self.db.execute("PRAGMA integrity_check"))
