"""What the store hands out (plain dataclasses, each with `to_dict()` for JSON) and the errors it raises."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


class StoreError(Exception):
    """A problem with the store, explained in one line for the user."""


class StoreCorrupt(StoreError):
    """The database file cannot be read as a NodeLoom store (damaged, or not NodeLoom's). It is left untouched."""

    def __init__(self, path: Path, reason: str):
        self.path = path
        super().__init__(
            f"cannot read the NodeLoom database {path}: {reason}. The file was left untouched; "
            "move it aside (or set NODELOOM_HOME elsewhere) to start a new store"
        )


class StoreReadOnly(StoreError):
    """The database, or the folder holding it, cannot be written: nothing is wrong with its content."""


class StoreLocked(StoreError):
    """Another process held a lock on the database for longer than the store waits."""


class StoreFull(StoreError):
    """The disk holding the database is full."""


class StaleVersion(StoreError):
    """A save was based on a version that is no longer the latest."""


class NotFound(StoreError):
    """No such pipeline, version or run."""


def utc_now() -> str:
    """Timestamps as the store records them: ISO 8601 in UTC, to the millisecond."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def loads(text: str | None, default: Any) -> Any:
    """A JSON column's value; `default` where it is NULL or empty."""
    return json.loads(text) if text else default


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
    status: str  # a RunStatus value
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
    pipeline: str  # its name
    version: int | None  # the saved version it ran; None for a draft (a pipeline matching no saved version)
    version_id: int | None
    status: str  # a RunStatus value
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
    sweep_id: str | None = None  # the `nodeloom sweep` it belongs to, if any

    @property
    def version_label(self) -> str:
        """How listings name what ran: `v3`, or `draft`."""
        return "draft" if self.version is None else f"v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunDetail(RunInfo):
    nodes: dict[str, NodeRun] = field(default_factory=dict)  # in execution order
    artifacts: list[Artifact] = field(default_factory=list)
