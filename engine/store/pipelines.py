"""Saved pipelines and their versions: saving (a new version only when the content changed, refusing
a save based on a stale version), reading, diffing, restoring, importing and exporting."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from nodeloom.engine.limits import too_deep, too_large
from nodeloom.engine.store.database import StoreConnection, serialised
from nodeloom.engine.store.diff import PipelineDiff, diff_pipelines
from nodeloom.engine.store.records import (
    NotFound,
    PipelineInfo,
    PipelineVersion,
    SaveResult,
    StaleVersion,
    StoreError,
    utc_now,
)

_VERSION_SELECT = """
    SELECT v.id, p.name AS pipeline, v.version, v.content_hash, v.message, v.created, v.content
    FROM pipeline_versions v JOIN pipelines p ON p.id = v.pipeline_id
"""


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(data: Any) -> str:
    """What decides whether a save is a new version: key order and whitespace do not count."""
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def _version_from_row(row: dict[str, Any]) -> PipelineVersion:
    return PipelineVersion(
        id=row["id"],
        pipeline=row["pipeline"],
        version=row["version"],
        content_hash=row["content_hash"],
        message=row["message"] or "",
        created=row["created"],
        data=json.loads(row["content"]),
    )


class PipelineStore(StoreConnection):
    """The store's pipelines and versions (a part of `Store`)."""

    @serialised
    def list_pipelines(self) -> list[PipelineInfo]:
        """Every saved pipeline, most recently updated first."""
        rows = self.db.query(
            """
            SELECT p.name, p.description, p.created, p.updated,
                   (SELECT max(version) FROM pipeline_versions WHERE pipeline_id = p.id) AS latest_version,
                   (SELECT count(*) FROM pipeline_versions WHERE pipeline_id = p.id) AS versions,
                   (SELECT count(*) FROM runs r WHERE r.pipeline_name = p.name) AS runs,
                   last.id AS last_run_id, last.status AS last_run_status,
                   coalesce(last.started, last.created) AS last_run_started
            FROM pipelines p
            LEFT JOIN runs last ON last.id = (
                SELECT r.id FROM runs r WHERE r.pipeline_name = p.name ORDER BY r.created DESC LIMIT 1)
            ORDER BY p.updated DESC, p.name
            """
        )
        return [PipelineInfo(**row) for row in rows]

    def _pipeline_id(self, name: str) -> int | None:
        row = self.db.execute("SELECT id FROM pipelines WHERE name = ?", [name]).fetchone()
        return row[0] if row else None

    @serialised
    def versions(self, name: str) -> list[PipelineVersion]:
        """All versions of a pipeline, newest first. Raises NotFound for an unknown name."""
        rows = list(self.db.query(_VERSION_SELECT + " WHERE p.name = ? ORDER BY v.version DESC", [name]))
        if not rows:
            raise NotFound(self._unknown_pipeline(name))
        return [_version_from_row(row) for row in rows]

    @serialised
    def get_version(self, name: str, version: int | None = None) -> PipelineVersion:
        """One version of a pipeline (default: the latest). Raises NotFound."""
        params: list[str | int]
        if version is None:
            sql, params = " WHERE p.name = ? ORDER BY v.version DESC LIMIT 1", [name]
        else:
            sql, params = " WHERE p.name = ? AND v.version = ?", [name, version]
        row = next(self.db.query(_VERSION_SELECT + sql, params), None)
        if row is None:
            if self._pipeline_id(name) is None:
                raise NotFound(self._unknown_pipeline(name))
            raise NotFound(f"pipeline '{name}' has no version {version}")
        return _version_from_row(row)

    @serialised
    def version_by_id(self, version_id: int) -> PipelineVersion:
        row = next(self.db.query(_VERSION_SELECT + " WHERE v.id = ?", [version_id]), None)
        if row is None:
            raise NotFound(f"no pipeline version with id {version_id}")
        return _version_from_row(row)

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

    @serialised
    def _save(
        self, name: str, data: dict[str, Any], message: str, base_version: int | None, reuse_any: bool
    ) -> SaveResult:
        if not isinstance(name, str) or not name.strip():
            raise StoreError("a pipeline needs a non-empty name to be saved")
        if not isinstance(data, dict):
            raise StoreError(f"pipeline '{name}': expected a JSON object, got {type(data).__name__}")
        data = {**data, "name": name}
        refused = too_deep(data)
        try:
            content = json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False) if not refused else ""
        except (TypeError, ValueError) as exc:
            raise StoreError(f"pipeline '{name}' cannot be saved as JSON: {exc}") from None
        refused = refused or too_large(len(content.encode("utf-8", "surrogatepass")))
        if refused:
            raise StoreError(f"pipeline '{name}' cannot be saved: {refused}")
        digest = content_hash(data)
        description = data.get("description") if isinstance(data.get("description"), str) else ""
        now = utc_now()
        with self.write() as db:
            pipeline_id = self._pipeline_id(name)
            if pipeline_id is None:
                if base_version:
                    raise StaleVersion(f"pipeline '{name}' no longer exists in the store; save it as a new pipeline")
                pipeline_id = (
                    db["pipelines"]
                    .insert({"name": name, "description": description, "created": now, "updated": now})
                    .last_pk
                )
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
                    {
                        "pipeline_id": pipeline_id,
                        "version": existing,
                        "content": content,
                        "content_hash": digest,
                        "message": message,
                        "created": now,
                    }
                )
                db["pipelines"].update(pipeline_id, {"description": description, "updated": now})
                created = True
            else:
                created = False
            return SaveResult(self.get_version(name, existing), created)

    @serialised
    def diff(self, name: str, old_version: int, new_version: int | None = None) -> PipelineDiff:
        """What changed from `old_version` to `new_version` (default: the latest)."""
        return diff_pipelines(self.get_version(name, old_version).data, self.get_version(name, new_version).data)

    def restore(self, name: str, version: int, base_version: int | None = None) -> SaveResult:
        """Make an old version current again, as a new version (history is never rewritten)."""
        old = self.get_version(name, version)
        return self.save_pipeline(name, old.data, f"restored version {version}", base_version=base_version)

    def import_pipeline(
        self, source: str | bytes | Path, name: str | None = None, message: str = "imported"
    ) -> SaveResult:
        """Save pipeline JSON (text, bytes or a file) under `name` (default: its own name, else the file's stem).

        Drafts that do not validate are accepted: saving must never lose work.
        """
        from nodeloom.engine.validation import PipelineInvalid, read_pipeline_json

        stem = source.stem if isinstance(source, Path) else None
        try:  # the limits every pipeline file is read within (size, nesting; see engine.limits)
            data = read_pipeline_json(source)
        except PipelineInvalid as exc:
            raise StoreError(f"cannot import: not valid pipeline JSON ({exc.problems[0]})") from None
        if not isinstance(data, dict):
            raise StoreError(f"cannot import: a pipeline is a JSON object, got {type(data).__name__}")
        if not isinstance(data.get("nodes"), list):
            raise StoreError("cannot import: a pipeline lists its nodes ('nodes': [...]), and this has no such list")
        chosen = name or (data.get("name") if isinstance(data.get("name"), str) and data.get("name") else None) or stem
        if not chosen:
            raise StoreError("cannot import: the pipeline has no name; give one")
        return self.save_pipeline(chosen, data, message)

    def export_pipeline(self, name: str, version: int | None = None) -> str:
        """A version's pipeline JSON as text, ready to write to a file or `nodeloom run`."""
        return json.dumps(self.get_version(name, version).data, ensure_ascii=False, indent=2) + "\n"

    # -- runs ----------------------------------------------------------------------------------
