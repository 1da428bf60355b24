"""Run events: plain dataclasses that any front end (CLI, app, store) can consume, and the
statuses runs and nodes go through.

Every event carries the run id; node events carry the node id. `kind` is a stable string
so listeners in other processes can tell events apart after a JSON round trip.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


class RunStatus(str, enum.Enum):
    """Where a run or one of its nodes stands. A `str`, so JSON output and the database hold the
    plain value ("succeeded"), and comparing with a string read back from either just works."""

    QUEUED = "queued"  # recorded, not started yet
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # for a node: computed, or taken from the cache
    FAILED = "failed"
    SKIPPED = "skipped"  # nodes only: an upstream node did not succeed
    CANCELLED = "cancelled"  # stopped on request (Ctrl-C, SIGINT, the app's Stop)
    INTERRUPTED = "interrupted"  # its process disappeared (killed, crashed, machine rebooted)

    # The value, not "RunStatus.FAILED", wherever a status is printed or formatted (Python 3.10-3.13 alike).
    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


# Not finished yet: a run or node in one of these may still change.
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)
# What a whole run can end up as (only nodes are skipped).
RUN_STATUSES = tuple(status for status in RunStatus if status is not RunStatus.SKIPPED)


@dataclass
class Event:
    kind: ClassVar[str] = "event"
    run_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass
class RunStarted(Event):
    kind: ClassVar[str] = "run_started"
    pipeline: str
    device: str
    planned: list[str]  # node ids in execution order


@dataclass
class NodeQueued(Event):
    kind: ClassVar[str] = "queued"
    node_id: str


@dataclass
class NodeStarted(Event):
    kind: ClassVar[str] = "started"
    node_id: str


@dataclass
class NodeProgress(Event):
    kind: ClassVar[str] = "progress"
    node_id: str
    fraction: float | None  # 0..1, None when the total is unknown
    message: str = ""
    values: dict[str, Any] = field(default_factory=dict)  # e.g. loss, learning_rate, step


@dataclass
class NodeLog(Event):
    kind: ClassVar[str] = "log"
    node_id: str
    level: str
    message: str


@dataclass
class NodeFinished(Event):
    kind: ClassVar[str] = "finished"
    node_id: str
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)  # small JSON description of outputs


@dataclass
class NodeCached(Event):
    kind: ClassVar[str] = "cached"
    node_id: str
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class NodeFailed(Event):
    kind: ClassVar[str] = "failed"
    node_id: str
    error: str  # one line for the user
    traceback: str = ""  # full detail for the log; empty for errors the node explained


@dataclass
class NodeSkipped(Event):
    kind: ClassVar[str] = "skipped"
    node_id: str
    reason: str  # e.g. "upstream node 'clean' failed"


@dataclass
class NodeCancelled(Event):
    kind: ClassVar[str] = "cancelled"
    node_id: str


@dataclass
class RunFinished(Event):
    kind: ClassVar[str] = "run_finished"
    status: RunStatus  # succeeded, failed or cancelled
    seconds: float
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
