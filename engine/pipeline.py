"""The pipeline file format and its in-memory form.

    {"schema_version": 1, "name": ..., "description": ..., "settings": {...},
     "nodes": [{"id", "type", "params", "position"}],
     "edges": [{"source", "target", "source_port"?, "target_port"?}]}

Unknown top-level keys are kept and written back. Reading and checking a file is
`engine.validation.load_pipeline`; this module holds the data and writes it, and `PipelineSettings`
is the one place the settings (seed, device, presentation) are checked and read.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nodeloom.engine.device import DEVICE_PATTERN

SCHEMA_VERSION = 1
KNOWN_KEYS = ("schema_version", "name", "description", "settings", "nodes", "edges")
MAX_HEADLINES = 12  # more than a screen of big numbers holds


def headline_parts(entry: str, node_ids: list[str]) -> tuple[str, str]:
    """(node id, metric) of a headline entry "NODE.METRIC". A node id may hold dots itself, so the entry is
    split after the longest node id of the pipeline it starts with; failing that, at its first dot."""
    owners = [node_id for node_id in node_ids if entry.startswith(node_id + ".") and len(entry) > len(node_id) + 1]
    if owners:
        node_id = max(owners, key=len)
        return node_id, entry[len(node_id) + 1 :]
    node_id, _, metric = entry.partition(".")
    return node_id, metric


class PresentationSettings(BaseModel):
    """How presentation mode and run reports show the pipeline's results."""

    model_config = ConfigDict(extra="forbid")
    headline: list[str] = Field(
        default_factory=list,
        max_length=MAX_HEADLINES,
        description='The metrics shown as big numbers, each "NODE.METRIC" (e.g. "sacrebleu.score"); '
        "by default each metric node's main score",
    )

    @field_validator("headline")
    @classmethod
    def _node_dot_metric(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            node_id, metric = entry.partition(".")[::2]
            if not node_id or not metric:
                raise ValueError(f'{entry!r} is not NODE.METRIC; write e.g. "sacrebleu.score"')
        return entries


class PipelineSettings(BaseModel):
    """Pipeline-wide settings; unknown keys are kept for other tools and written back."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)
    seed: int = Field(0, ge=0, description="Seed for every node with randomness")
    device: str = Field(
        "auto",
        pattern=DEVICE_PATTERN.pattern,
        description="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps",
    )
    presentation: PresentationSettings = Field(
        default_factory=PresentationSettings,
        description='Presentation mode and reports: {"headline": ["NODE.METRIC", …]}',
    )

    def to_dict(self) -> dict[str, Any]:
        """The settings as the file wrote them: defaults it left out stay out. An editor may hold
        settings that failed their check (kept as written), so they are dumped without complaint."""
        return self.model_dump(exclude_unset=True, warnings=False)


@dataclass
class NodeSpec:
    id: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)  # as the user wrote them, defaults omitted
    position: dict[str, float] = field(default_factory=lambda: {"x": 0.0, "y": 0.0})

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "params": self.params, "position": self.position}


@dataclass
class Edge:
    source: str
    target: str
    source_port: str | None = None  # None until resolved
    target_port: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "source_port": self.source_port,
            "target_port": self.target_port,
        }

    @property
    def ports(self) -> tuple[str, str]:
        """(source port, target port) of an edge whose ports validation has resolved."""
        if self.source_port is None or self.target_port is None:
            raise ValueError(f"edge {self.label()} has unresolved ports")
        return self.source_port, self.target_port

    def label(self) -> str:
        source = f"{self.source}.{self.source_port}" if self.source_port else self.source
        target = f"{self.target}.{self.target_port}" if self.target_port else self.target
        return f"{source} → {target}"


@dataclass
class Pipeline:
    name: str = "untitled"
    description: str = ""
    settings: PipelineSettings = field(default_factory=PipelineSettings)  # a dict is checked into one
    nodes: list[NodeSpec] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # unknown top-level keys, kept verbatim
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if isinstance(self.settings, dict):
            self.settings = PipelineSettings.model_validate(self.settings)

    def node(self, node_id: str) -> NodeSpec:
        for spec in self.nodes:
            if spec.id == node_id:
                return spec
        raise KeyError(node_id)

    def has_node(self, node_id: str) -> bool:
        return any(spec.id == node_id for spec in self.nodes)

    def incoming(self, node_id: str) -> list[Edge]:
        return [edge for edge in self.edges if edge.target == node_id]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema_version": self.schema_version,
            "name": self.name,
            "description": self.description,
            "settings": self.settings.to_dict(),
            "nodes": [spec.to_dict() for spec in self.nodes],
            "edges": [edge.to_dict() for edge in self.edges],
        }
        for key, value in self.extra.items():
            data.setdefault(key, value)
        return copy.deepcopy(data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def copy(self) -> Pipeline:
        return copy.deepcopy(self)
