"""The store's tables and the migrations that build them.

Migrations only ever append: a database written by an older NodeLoom is upgraded on open by
applying the steps it lacks, inside one transaction (a crash mid-upgrade leaves the old schema).
A database written by a newer NodeLoom is refused rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlite_utils import Database


def _initial_tables(db: Database) -> None:
    """Version 1: pipelines and their versions, runs, node runs, metrics, artifacts."""
    db["pipelines"].create(
        {"id": int, "name": str, "description": str, "created": str, "updated": str},
        pk="id",
        not_null={"name", "created", "updated"},
        defaults={"description": ""},
    )
    db["pipelines"].create_index(["name"], unique=True)
    db["pipeline_versions"].create(
        {
            "id": int,
            "pipeline_id": int,
            "version": int,
            "content": str,  # the pipeline JSON exactly as saved
            "content_hash": str,  # sha256 of its canonical form (sorted keys, no whitespace)
            "message": str,
            "created": str,
        },
        pk="id",
        foreign_keys=[("pipeline_id", "pipelines", "id")],
        not_null={"pipeline_id", "version", "content", "content_hash", "created"},
        defaults={"message": ""},
    )
    db["pipeline_versions"].create_index(["pipeline_id", "version"], unique=True)
    db["pipeline_versions"].create_index(["pipeline_id", "content_hash"])
    db["runs"].create(
        {
            "id": str,
            "pipeline_version_id": int,
            "status": str,  # queued, running, succeeded, failed, cancelled, interrupted
            "created": str,
            "started": str,
            "finished": str,
            "seconds": float,
            "device": str,  # the device the run resolved to
            "requested_device": str,  # what was asked for (None: the pipeline's setting)
            "overrides": str,  # JSON list of --set assignments
            "targets": str,  # JSON list of --until nodes (empty: the whole pipeline)
            "use_cache": int,
            "error": str,
        },
        pk="id",
        foreign_keys=[("pipeline_version_id", "pipeline_versions", "id")],
        not_null={"pipeline_version_id", "status", "created"},
    )
    db["runs"].create_index(["pipeline_version_id", "created"])
    db["runs"].create_index(["status"])
    db["node_runs"].create(
        {
            "run_id": str,
            "node_id": str,
            "type": str,
            "status": str,  # queued, running, succeeded, failed, skipped, cancelled, interrupted
            "cached": int,
            "seconds": float,
            "error": str,
            "summary": str,  # JSON description of the outputs
            "cache_key": str,
            "started": str,
            "finished": str,
        },
        pk=("run_id", "node_id"),
        foreign_keys=[("run_id", "runs", "id")],
        not_null={"status"},
        defaults={"cached": 0},
    )
    db["metrics"].create(
        {"run_id": str, "node_id": str, "name": str, "step": int, "value": float},
        foreign_keys=[("run_id", "runs", "id")],
        not_null={"run_id", "node_id", "name"},
    )
    # step is NULL for a node's final results, a number for points on a curve
    db["metrics"].create_index(["run_id", "node_id", "name", "step"])
    # listing runs reads only final results; a partial index keeps that fast however long the curves
    db.execute("CREATE INDEX metrics_final ON metrics(run_id) WHERE step IS NULL")
    db["artifacts"].create(
        {"id": int, "run_id": str, "node_id": str, "port": str, "kind": str, "path": str, "size": int},
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
        not_null={"run_id", "node_id", "kind", "path"},
    )
    db["artifacts"].create_index(["run_id"])


def _processes_logs_and_lineage(db: Database) -> None:
    """Version 2: which process runs a run (crash detection), reruns' origin, node logs, live progress."""
    runs = db["runs"]
    runs.add_column("pid", int)
    runs.add_column("pid_started", float)  # the process's start time: a reused pid is not our run
    runs.add_column("host", str)
    runs.add_column("rerun_of", str)
    node_runs = db["node_runs"]
    node_runs.add_column("progress", float)  # latest fraction reported, 0..1
    node_runs.add_column("message", str)  # latest progress message
    node_runs.create_index(["cache_key"])  # which run computed a cached node's outputs (its curves)
    db["artifacts"].add_column("removed", str)  # when `nodeloom gc` deleted the files; the row stays
    db["logs"].create(
        {"id": int, "run_id": str, "node_id": str, "level": str, "message": str, "traceback": str, "created": str},
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
        not_null={"run_id", "level", "message", "created"},
    )
    db["logs"].create_index(["run_id", "node_id"])


def _runs_keep_their_pipeline(db: Database) -> None:
    """Version 3: a run keeps the exact pipeline JSON it ran and its pipeline's name, and points at a
    saved version only when that JSON is one: versions are made by Save, a run of unsaved edits is a draft.

    SQLite cannot drop a NOT NULL constraint in place, so `runs` is rebuilt under the tables that point
    at it (migrations run with foreign keys off; `apply` checks them afterwards)."""
    db["runs_rebuilt"].create(
        {
            "id": str,
            "pipeline_version_id": int,
            "pipeline_name": str,
            "pipeline_json": str,
            "status": str,
            "created": str,
            "started": str,
            "finished": str,
            "seconds": float,
            "device": str,
            "requested_device": str,
            "overrides": str,
            "targets": str,
            "use_cache": int,
            "error": str,
            "pid": int,
            "pid_started": float,
            "host": str,
            "rerun_of": str,
        },
        pk="id",
        foreign_keys=[("pipeline_version_id", "pipeline_versions", "id")],
        not_null={"pipeline_name", "pipeline_json", "status", "created"},
    )
    kept = (
        "id, pipeline_version_id, status, created, started, finished, seconds, device, requested_device, "
        "overrides, targets, use_cache, error, pid, pid_started, host, rerun_of"
    )
    db.execute(
        f"INSERT INTO runs_rebuilt ({kept}, pipeline_name, pipeline_json) "
        f"SELECT {', '.join('r.' + column for column in kept.split(', '))}, p.name, v.content "
        "FROM runs r JOIN pipeline_versions v ON v.id = r.pipeline_version_id JOIN pipelines p ON p.id = v.pipeline_id"
    )
    db.execute("DROP TABLE runs")
    db.execute("ALTER TABLE runs_rebuilt RENAME TO runs")
    db["runs"].create_index(["pipeline_version_id", "created"])
    db["runs"].create_index(["pipeline_name", "created"])  # a pipeline's runs, saved versions or drafts
    db["runs"].create_index(["status"])


def _runs_belong_to_sweeps(db: Database) -> None:
    """Version 4: the sweep a run belongs to (`nodeloom sweep`), so a sweep's runs are listed and compared
    together. Older runs belong to none (NULL)."""
    db["runs"].add_column("sweep_id", str)
    db["runs"].create_index(["sweep_id"])


# (version, step). Append new steps; never edit one that has shipped.
MIGRATIONS: list[tuple[int, Callable[[Database], None]]] = [
    (1, _initial_tables),
    (2, _processes_logs_and_lineage),
    (3, _runs_keep_their_pipeline),
    (4, _runs_belong_to_sweeps),
]
LATEST = MIGRATIONS[-1][0]


def current_version(db: Database) -> int:
    if "schema_version" not in db.table_names():
        return 0
    row = db.execute("SELECT max(version) FROM schema_version").fetchone()
    return row[0] or 0


def pending(db: Database) -> list[tuple[int, Callable[[Database], None]]]:
    version = current_version(db)
    return [(number, step) for number, step in MIGRATIONS if number > version]


def apply(db: Database, steps: list[tuple[int, Callable[[Database], None]]], now: str) -> None:
    """Run migration steps; the caller holds the write transaction, with foreign keys off."""
    if "schema_version" not in db.table_names():
        db["schema_version"].create({"version": int, "applied": str}, pk="version")
    for number, step in steps:
        step(db)
        db["schema_version"].insert({"version": number, "applied": now})
    broken = db.execute("PRAGMA foreign_key_check").fetchone()
    if broken:
        raise RuntimeError(
            f"upgrading the store broke a reference from table {broken[0]} (row {broken[1]}) "
            f"to {broken[2]}; the upgrade was rolled back"
        )
