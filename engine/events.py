"""Run events: plain dataclasses that any front end (CLI, app, store) can consume.

Every event carries the run id; node events carry the node id. `kind` is a stable string
so listeners in other processes can tell events apart after a JSON round trip.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


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
    status: str  # succeeded, failed or cancelled
    seconds: float
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
