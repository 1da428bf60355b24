"""Run history: recording a run's row, reading runs with their nodes, metrics, curves, logs and
artifacts, finding runs whose process died, and the questions `gc` asks before it deletes files.

A run's events are written by `RunWriter` (engine/store/writer.py), not here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nodeloom.engine.events import ACTIVE, RunStatus
from nodeloom.engine.paths import InvalidRunId, check_run_id
from nodeloom.engine.store.database import StoreConnection, serialised
from nodeloom.engine.store.pipelines import content_hash
from nodeloom.engine.store.processes import ProcessIdentity, process_alive, this_process
from nodeloom.engine.store.records import (
    Artifact,
    LogEntry,
    NodeRun,
    NotFound,
    PipelineVersion,
    RunDetail,
    RunInfo,
    Series,
    StoreError,
    loads,
    utc_now,
)

_RUN_COLUMNS = """
    r.id, r.pipeline_name AS pipeline, v.version, v.id AS version_id, r.status, r.created, r.started, r.finished,
    r.seconds, r.device, r.requested_device, r.overrides, r.targets, r.use_cache, r.error, r.pid, r.host, r.rerun_of,
    r.sweep_id
"""
# A run of a pipeline that matched no saved version (a draft) has no version: its columns read NULL.
_RUN_FROM = "runs r LEFT JOIN pipeline_versions v ON v.id = r.pipeline_version_id"


def _run_info(row: dict[str, Any], metrics: dict[str, dict[str, float]]) -> dict[str, Any]:
    return {
        **row,
        "overrides": loads(row["overrides"], []),
        "targets": loads(row["targets"], []),
        "use_cache": bool(row["use_cache"]),
        "metrics": metrics,
    }


class RunStore(StoreConnection):
    """The store's run history (a part of `Store`)."""

    @serialised
    def create_run(
        self,
        version: PipelineVersion | int | None,
        *,
        run_id: str,
        pipeline: dict[str, Any] | None = None,
        requested_device: str | None = None,
        overrides: Iterable[str] = (),
        targets: Iterable[str] = (),
        use_cache: bool = True,
        rerun_of: str | None = None,
        sweep_id: str | None = None,
        process: ProcessIdentity | None = None,
    ) -> str:
        """Record a new run (status `queued`) owned by `process` (default: this one), keeping the exact
        pipeline JSON it runs (before `overrides`): a saved `version`'s, or — `version` None — `pipeline`,
        tied to the saved version of its name with that content when there is one, else a draft.
        Recording a run never creates a version. `sweep_id` groups the runs of one `nodeloom sweep`."""
        try:
            check_run_id(run_id)
        except InvalidRunId as exc:
            raise StoreError(str(exc)) from None
        owner = process or this_process()
        with self.write() as db:
            if db.execute("SELECT 1 FROM runs WHERE id = ?", [run_id]).fetchone():
                raise StoreError(f"run id '{run_id}' is already taken; choose another")
            version_id: int | None
            if version is not None:
                version_id, name, content = self._saved_pipeline(
                    version.id if isinstance(version, PipelineVersion) else int(version)
                )
            elif isinstance(pipeline, dict):
                version_id, name, content = self._draft_pipeline(pipeline)
            else:
                raise StoreError("a run records either a saved pipeline version or the pipeline JSON it runs")
            db["runs"].insert(
                {
                    "id": run_id,
                    "pipeline_version_id": version_id,
                    "pipeline_name": name,
                    "pipeline_json": content,
                    "status": RunStatus.QUEUED,
                    "created": utc_now(),
                    "requested_device": requested_device,
                    "overrides": json.dumps(list(overrides)),
                    "targets": json.dumps(list(targets)),
                    "use_cache": int(use_cache),
                    "rerun_of": rerun_of,
                    "sweep_id": sweep_id,
                    "pid": owner.pid,
                    "pid_started": owner.started,
                    "host": owner.host,
                }
            )
        return run_id

    def _saved_pipeline(self, version_id: int) -> tuple[int, str, str]:
        """(version id, pipeline name, JSON) of a saved version."""
        row = self.db.execute(
            "SELECT p.name, v.content FROM pipeline_versions v JOIN pipelines p ON p.id = v.pipeline_id WHERE v.id = ?",
            [version_id],
        ).fetchone()
        if row is None:
            raise NotFound(f"no pipeline version with id {version_id}")
        return version_id, row[0], row[1]

    def _draft_pipeline(self, data: dict[str, Any]) -> tuple[int | None, str, str]:
        """(id of the saved version with this content or None, pipeline name, JSON) of a pipeline to run.
        Its name is the JSON's `name` ("untitled" without one), as a save would set it."""
        given = data.get("name")
        name = given if isinstance(given, str) and given.strip() else "untitled"
        data = {**data, "name": name}
        try:
            content = json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"pipeline '{name}' cannot be recorded as JSON: {exc}") from None
        match = self.db.execute(
            "SELECT v.id FROM pipeline_versions v JOIN pipelines p ON p.id = v.pipeline_id "
            "WHERE p.name = ? AND v.content_hash = ? ORDER BY v.version DESC LIMIT 1",
            [name, content_hash(data)],
        ).fetchone()
        return (match[0] if match else None), name, content

    @serialised
    def run_pipeline(self, run_id: str) -> dict[str, Any]:
        """The exact pipeline JSON a run executed, before its overrides: what a rerun runs again."""
        row = self.db.execute("SELECT pipeline_json FROM runs WHERE id = ?", [run_id]).fetchone()
        if row is None:
            raise NotFound(f"no run '{run_id}'; `nodeloom runs` lists them")
        return json.loads(row[0])

    def _final_metrics(self, run_ids: list[str]) -> dict[str, dict[str, dict[str, float]]]:
        found: dict[str, dict[str, dict[str, float]]] = {run_id: {} for run_id in run_ids}
        for start in range(0, len(run_ids), 500):
            chunk = run_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for run_id, node_id, name, value in self.db.execute(
                "SELECT run_id, node_id, name, value FROM metrics "
                f"WHERE step IS NULL AND run_id IN ({marks}) ORDER BY rowid",
                chunk,
            ):
                found[run_id].setdefault(node_id, {})[name] = value
        return found

    @serialised
    def list_runs(
        self,
        pipeline: str | None = None,
        *,
        status: str | Iterable[str] | None = None,
        sweep_id: str | None = None,
        limit: int | None = 100,
    ) -> list[RunInfo]:
        """Runs, newest first, each with its final metrics; filter by pipeline name, status and sweep."""
        where, params = [], []
        if pipeline is not None:
            where.append("r.pipeline_name = ?")
            params.append(pipeline)
        if sweep_id is not None:
            where.append("r.sweep_id = ?")
            params.append(sweep_id)
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
        return [RunInfo(**_run_info(row, metrics[row["id"]])) for row in rows]

    @serialised
    def resolve_run_id(self, prefix: str) -> str:
        """The full id of the run whose id is `prefix` or uniquely starts with it. Raises NotFound."""
        if self.db.execute("SELECT 1 FROM runs WHERE id = ?", [prefix]).fetchone():
            return prefix
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        matches = [
            row[0]
            for row in self.db.execute("SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' LIMIT 5", [escaped + "%"])
        ]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise NotFound(f"no run '{prefix}'; `nodeloom runs` lists them")
        raise NotFound(f"run id '{prefix}' is ambiguous: {', '.join(matches)}…")

    @serialised
    def get_run(self, run_id: str) -> RunDetail | None:
        """A run with its node runs (execution order) and artifacts; None when there is no such run."""
        with self.read() as db:
            row = next(db.query(f"SELECT {_RUN_COLUMNS} FROM {_RUN_FROM} WHERE r.id = ?", [run_id]), None)
            if row is None:
                return None
            metrics = self._final_metrics([run_id])[run_id]
            nodes = {
                node["node_id"]: NodeRun(
                    node_id=node["node_id"],
                    type=node["type"],
                    status=node["status"],
                    cached=bool(node["cached"]),
                    seconds=node["seconds"],
                    error=node["error"],
                    summary=loads(node["summary"], {}),
                    cache_key=node["cache_key"],
                    progress=node["progress"],
                    message=node["message"],
                    started=node["started"],
                    finished=node["finished"],
                )
                for node in db.query("SELECT * FROM node_runs WHERE run_id = ? ORDER BY rowid", [run_id])
            }
            artifacts = [
                Artifact(a["node_id"], a["port"], a["kind"], a["path"], a["size"] or 0, a["removed"])
                for a in db.query("SELECT * FROM artifacts WHERE run_id = ? ORDER BY id", [run_id])
            ]
        return RunDetail(**_run_info(row, metrics), nodes=nodes, artifacts=artifacts)

    @serialised
    def metric_series(
        self, run_id: str, node_id: str | None = None, name: str | None = None
    ) -> dict[str, dict[str, Series]]:
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
            "SELECT node_id, cached, cache_key FROM node_runs "
            "WHERE run_id = ? AND (? IS NULL OR node_id = ?) ORDER BY rowid",
            [run_id, node_id, node_id],
        ).fetchall()
        if not rows:  # node runs not recorded (yet): whatever curves exist under this run
            names = (
                [node_id]
                if node_id
                else [
                    r[0]
                    for r in self.db.execute(
                        "SELECT DISTINCT node_id FROM metrics WHERE run_id = ? AND step IS NOT NULL", [run_id]
                    )
                ]
            )
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

    @serialised
    def logs(self, run_id: str, node_id: str | None = None, after_id: int = 0) -> list[LogEntry]:
        """Log lines and tracebacks of a run (or one node), oldest first; `after_id` to poll for new ones."""
        sql = "SELECT id, node_id, level, message, traceback, created FROM logs WHERE run_id = ? AND id > ?"
        params: list[Any] = [run_id, after_id]
        if node_id is not None:
            sql += " AND node_id = ?"
            params.append(node_id)
        return [LogEntry(**row) for row in self.db.query(sql + " ORDER BY id", params)]

    @serialised
    def mark_interrupted(self) -> list[str]:
        """Mark `queued`/`running` runs whose process is gone as `interrupted`; returns their ids."""
        candidates = list(self.db.query("SELECT id, pid, pid_started, host FROM runs WHERE status IN (?, ?)", ACTIVE))
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

    # -- what `gc` asks before deleting files ---------------------------------------------------

    @serialised
    def runs_newest_first(self) -> list[dict[str, Any]]:
        """id, pipeline (its name) and status of every run, newest first."""
        return list(
            self.db.query("SELECT id, pipeline_name AS pipeline, status FROM runs ORDER BY created DESC, rowid DESC")
        )

    @serialised
    def active_run_ids(self) -> list[str]:
        """Runs still queued or running."""
        return [row[0] for row in self.db.execute("SELECT id FROM runs WHERE status IN (?, ?)", ACTIVE)]

    @serialised
    def cache_keys_used(self, run_ids: Iterable[str]) -> set[str]:
        """The cache entries these runs' nodes used or made."""
        chosen = sorted(run_ids)
        marks = ",".join("?" * len(chosen)) or "NULL"
        return {
            row[0]
            for row in self.db.execute(
                f"SELECT DISTINCT cache_key FROM node_runs WHERE cache_key IS NOT NULL AND run_id IN ({marks})", chosen
            )
        }

    @serialised
    def mark_artifacts_removed(self, folder: Path) -> None:
        """The files in `folder` (an artifact, or a folder holding some) were deleted: the rows stay, dated."""
        with self.write() as db:
            db.execute(
                "UPDATE artifacts SET removed = :now WHERE removed IS NULL AND (path = :folder OR "
                "substr(path, 1, length(:inside)) = :inside)",
                {"now": utc_now(), "folder": str(folder), "inside": str(folder) + os.sep},
            )
