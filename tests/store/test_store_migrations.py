"""A database written by an older NodeLoom (schema version 1) is upgraded on open, keeping its data."""

from __future__ import annotations

import json
import sqlite3

import pytest

from nodeloom.engine.store import Store, schema

# The schema as NodeLoom's first store release wrote it (frozen here, independent of the code).
SCHEMA_V1 = """
CREATE TABLE "schema_version" ("version" INTEGER PRIMARY KEY, "applied" TEXT);
CREATE TABLE "pipelines" ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL, "description" TEXT DEFAULT '',
   "created" TEXT NOT NULL, "updated" TEXT NOT NULL);
CREATE UNIQUE INDEX "idx_pipelines_name" ON "pipelines" ("name");
CREATE TABLE "pipeline_versions" ("id" INTEGER PRIMARY KEY,
   "pipeline_id" INTEGER NOT NULL REFERENCES "pipelines"("id"), "version" INTEGER NOT NULL,
   "content" TEXT NOT NULL, "content_hash" TEXT NOT NULL, "message" TEXT DEFAULT '', "created" TEXT NOT NULL);
CREATE UNIQUE INDEX "idx_pipeline_versions_pipeline_id_version" ON "pipeline_versions" ("pipeline_id", "version");
CREATE INDEX "idx_pipeline_versions_pipeline_id_content_hash" ON "pipeline_versions" ("pipeline_id", "content_hash");
CREATE TABLE "runs" ("id" TEXT PRIMARY KEY,
   "pipeline_version_id" INTEGER NOT NULL REFERENCES "pipeline_versions"("id"), "status" TEXT NOT NULL,
   "created" TEXT NOT NULL, "started" TEXT, "finished" TEXT, "seconds" REAL, "device" TEXT,
   "requested_device" TEXT, "overrides" TEXT, "targets" TEXT, "use_cache" INTEGER, "error" TEXT);
CREATE INDEX "idx_runs_pipeline_version_id_created" ON "runs" ("pipeline_version_id", "created");
CREATE INDEX "idx_runs_status" ON "runs" ("status");
CREATE TABLE "node_runs" ("run_id" TEXT REFERENCES "runs"("id"), "node_id" TEXT, "type" TEXT,
   "status" TEXT NOT NULL, "cached" INTEGER DEFAULT 0, "seconds" REAL, "error" TEXT, "summary" TEXT,
   "cache_key" TEXT, "started" TEXT, "finished" TEXT, PRIMARY KEY ("run_id", "node_id"));
CREATE TABLE "metrics" ("run_id" TEXT NOT NULL REFERENCES "runs"("id"), "node_id" TEXT NOT NULL,
   "name" TEXT NOT NULL, "step" INTEGER, "value" REAL);
CREATE INDEX "idx_metrics_run_id_node_id_name_step" ON "metrics" ("run_id", "node_id", "name", "step");
CREATE INDEX metrics_final ON metrics(run_id) WHERE step IS NULL;
CREATE TABLE "artifacts" ("id" INTEGER PRIMARY KEY, "run_id" TEXT NOT NULL REFERENCES "runs"("id"),
   "node_id" TEXT NOT NULL, "port" TEXT, "kind" TEXT NOT NULL, "path" TEXT NOT NULL, "size" INTEGER);
CREATE INDEX "idx_artifacts_run_id" ON "artifacts" ("run_id");
INSERT INTO schema_version VALUES (1, '2026-01-01T00:00:00.000+00:00');
"""

PIPELINE = {"schema_version": 1, "name": "legacy", "nodes": [{"id": "a", "type": "text.clean"}], "edges": []}


def write_v1_database(path) -> None:
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_V1)
    t = "2026-01-02T00:00:00.000+00:00"
    db.execute("INSERT INTO pipelines VALUES (1, 'legacy', 'from v1', ?, ?)", [t, t])
    for version in (1, 2):
        content = json.dumps({**PIPELINE, "description": f"v{version}"})
        db.execute(
            "INSERT INTO pipeline_versions VALUES (?, 1, ?, ?, ?, 'm', ?)",
            [version, version, content, f"hash{version}", t],
        )
    db.execute(
        "INSERT INTO runs VALUES ('done', 2, 'succeeded', ?, ?, ?, 1.5, 'cpu', NULL, '[]', '[]', 1, NULL)", [t, t, t]
    )
    db.execute(
        "INSERT INTO runs VALUES ('stuck', 2, 'running', ?, ?, NULL, NULL, 'cpu', NULL, '[]', '[]', 1, NULL)", [t, t]
    )
    db.execute(
        "INSERT INTO node_runs VALUES ('done', 'a', 'text.clean', 'succeeded', 0, 1.2, NULL, '{}', 'k', ?, ?)", [t, t]
    )
    db.execute(
        "INSERT INTO node_runs VALUES ('stuck', 'a', 'text.clean', 'running', 0, NULL, NULL, NULL, NULL, ?, NULL)", [t]
    )
    db.executemany(
        "INSERT INTO metrics VALUES ('done', 'a', 'loss', ?, ?)", [(step, 1 / step) for step in range(1, 11)]
    )
    db.execute("INSERT INTO metrics VALUES ('done', 'a', 'rows', NULL, 42)")
    db.commit()
    db.close()


def test_an_older_database_is_upgraded_on_open_and_keeps_its_data(nodeloom_home):
    write_v1_database(nodeloom_home / "nodeloom.db")
    with Store.open() as store:
        assert store.schema_version == schema.LATEST == 4
        assert [v.version for v in store.versions("legacy")] == [2, 1]
        assert store.get_version("legacy", 1).data["description"] == "v1"
        done = store.get_run("done")
        assert done.status == "succeeded" and done.metrics == {"a": {"rows": 42.0}}
        assert done.pid is None and done.rerun_of is None and done.nodes["a"].progress is None
        assert store.metric_series("done")["a"]["loss"].steps == list(range(1, 11))
        assert store.logs("done") == []
        # a run left "running" by the old NodeLoom has no process to check: it is over
        assert store.get_run("stuck").status == "interrupted"
        assert store.get_run("stuck").nodes["a"].status == "interrupted"
        # the new columns and tables work
        saved = store.save_pipeline("legacy", PIPELINE, "after upgrade", base_version=2)
        assert saved.version.version == 3
        # version 3: an old run keeps its version and gains the pipeline JSON it ran, for reruns
        assert (done.pipeline, done.version, done.version_label) == ("legacy", 2, "v2")
        assert store.run_pipeline("done") == {**PIPELINE, "description": "v2"}
        assert [run.id for run in store.list_runs("legacy")] and store.list_pipelines()[0].runs == 2
        store.create_run(None, run_id="draft", pipeline={**PIPELINE, "description": "unsaved"})
        assert store.get_run("draft").version is None
        # version 4: old runs belong to no sweep; new ones can, and are listed by it
        assert done.sweep_id is None
        store.create_run(2, run_id="swept", sweep_id="s1")
        assert [run.id for run in store.list_runs(sweep_id="s1")] == ["swept"]
        assert store.get_run("swept").sweep_id == "s1"
        assert store.integrity_check() == "ok"
    db = sqlite3.connect(nodeloom_home / "nodeloom.db")
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(1,), (2,), (3,), (4,)]
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert db.execute("SELECT count(*) FROM node_runs").fetchone() == (2,)


def test_a_failing_migration_leaves_the_database_as_it_was(nodeloom_home, monkeypatch):
    path = nodeloom_home / "nodeloom.db"
    write_v1_database(path)

    def broken(db):
        db["logs_next"].create({"id": int}, pk="id")
        raise RuntimeError("disk full, say")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, (schema.LATEST + 1, broken)])
    monkeypatch.setattr(schema, "LATEST", schema.LATEST + 1)
    with pytest.raises(RuntimeError, match="disk full"):
        Store.open()
    db = sqlite3.connect(path)
    assert db.execute("SELECT max(version) FROM schema_version").fetchone() == (1,)
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "logs" not in tables and "logs_next" not in tables and "runs_rebuilt" not in tables
    assert db.execute("SELECT count(*) FROM metrics").fetchone() == (11,)
    columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    assert "pipeline_json" not in columns and "sweep_id" not in columns
