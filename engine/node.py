"""The node API: how a node type declares itself, and the registry that finds them.

A node type is one decorated function::

    class CleanParams(NodeParams):
        lowercase: bool = Field(True, description="Lower-case the text")
        # when a parameter applies, a fixed list of choices, a unit: see engine/params.py
        template: str = Field("", json_schema_extra=param_rules(applies_when={"mode": ["template"]}))

    @node("text.clean", title="Clean text", category="text",
          inputs=[Input("dataset", DATASET)], outputs=[Output("dataset", DATASET)],
          params=CleanParams, version=1)
    def clean_text(ctx: RunContext, inputs: dict, params: CleanParams) -> dict:
        '''Normalise and filter text columns.'''  # the docstring is the node's help
        ...
        return {"dataset": cleaned}

Third-party packages register node modules under the `nodeloom.nodes` entry-point group;
importing the module runs its decorators.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from nodeloom.engine.context import RunContext
from nodeloom.engine.params import NodeParams, applicable_params, overwrite_flag, param_rules
from nodeloom.engine.types import PortType

__all__ = [
    "Input",
    "NodeParams",
    "NodeType",
    "Output",
    "Registry",
    "applicable_params",
    "discover",
    "node",
    "param_defaults",
    "param_rules",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "nodeloom.nodes"


@dataclass(frozen=True)
class Input:
    name: str
    type: PortType
    required: bool = True
    description: str = ""


@dataclass(frozen=True)
class Output:
    name: str
    type: PortType
    description: str = ""


RunFunction = Callable[[RunContext, dict[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True)
class NodeType:
    type_id: str  # stable "category.name"; part of saved pipelines
    title: str  # short human name for the palette and the canvas
    category: str  # palette group and canvas colour
    doc: str  # help text (the run function's docstring)
    inputs: tuple[Input, ...]
    outputs: tuple[Output, ...]
    params: type[NodeParams]
    version: int  # bump when outputs change for the same inputs: part of the cache key
    run: RunFunction
    wants_accelerator: bool = False  # True for nodes that gain from a GPU (training, inference)
    key_params: tuple[str, ...] = ()  # parameters worth showing on the canvas card
    # Files the node reads, given its parameters: fingerprinted into the cache key so that an
    # edited file is never served from a stale cache.
    external_files: Callable[[Any], Iterable[str]] | None = None
    # A small JSON description of the outputs, for run tables and previews.
    summarize: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # Parameters that set how much memory the node holds at once (batch_size, max_length…), biggest lever first:
    # running out of memory names them as what to lower (engine/out_of_memory.py).
    memory_params: tuple[str, ...] = ()
    # Run by every process of a multi-process run (`nodeloom run --processes N`, torchrun), rather than by rank 0
    # alone: the node trains with torch.distributed itself (engine/distributed.py).
    distributed: bool = False

    @property
    def summary_line(self) -> str:
        return self.doc.strip().splitlines()[0] if self.doc.strip() else self.title

    def input(self, name: str) -> Input | None:
        return next((port for port in self.inputs if port.name == name), None)

    def output(self, name: str) -> Output | None:
        return next((port for port in self.outputs if port.name == name), None)

    def describe(self) -> dict[str, Any]:
        """The catalog entry: everything a UI or a validator needs, as JSON."""
        return {
            "type": self.type_id,
            "title": self.title,
            "category": self.category,
            "version": self.version,
            "doc": self.doc,
            "wants_accelerator": self.wants_accelerator,
            "distributed": self.distributed,
            "inputs": [
                {"name": p.name, "type": p.type.name, "required": p.required, "description": p.description}
                for p in self.inputs
            ],
            "outputs": [{"name": p.name, "type": p.type.name, "description": p.description} for p in self.outputs],
            "params": self.params.model_json_schema(),
            "key_params": list(self.key_params),
        }


@dataclass
class Registry:
    types: dict[str, NodeType] = field(default_factory=dict)

    def add(self, node_type: NodeType) -> None:
        existing = self.types.get(node_type.type_id)
        if existing is not None and existing.run is not node_type.run:
            raise ValueError(f"node type '{node_type.type_id}' is registered twice")
        self.types[node_type.type_id] = node_type

    def get(self, type_id: str) -> NodeType | None:
        return self.types.get(type_id)

    def __contains__(self, type_id: str) -> bool:
        return type_id in self.types

    def __iter__(self):
        return iter(sorted(self.types.values(), key=lambda t: (t.category, t.type_id)))

    def __len__(self) -> int:
        return len(self.types)


REGISTRY = Registry()
_discovered = False


def node(
    type_id: str,
    *,
    title: str,
    category: str,
    inputs: Iterable[Input] = (),
    outputs: Iterable[Output] = (),
    params: type[NodeParams],
    version: int = 1,
    wants_accelerator: bool = False,
    key_params: Iterable[str] = (),
    external_files: Callable[[Any], Iterable[str]] | None = None,
    summarize: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    memory_params: Iterable[str] = (),
    distributed: bool = False,
    registry: Registry | None = None,
) -> Callable[[RunFunction], RunFunction]:
    """Register the decorated function as the `run` of a new node type."""
    if "." not in type_id:
        raise ValueError(f"node type id '{type_id}' must look like 'category.name'")
    if not issubclass(params, NodeParams):
        raise TypeError(f"{type_id}: params must subclass engine.NodeParams (it forbids unknown keys)")
    sizing = tuple(memory_params)
    unknown = [name for name in sizing if name not in params.model_fields]
    if unknown:
        raise ValueError(f"{type_id}: memory_params names {', '.join(unknown)}, not among its parameters")
    flags = [overwrite_flag(params, name) for name in params.model_fields]
    unknown_flags = sorted({flag for flag in flags if flag is not None and flag not in params.model_fields})
    if unknown_flags:  # validation reads the flag's value: a typo would fail every validation, not this once
        raise ValueError(f"{type_id}: overwrite_flag names {', '.join(unknown_flags)}, not among its parameters")

    def register(run: RunFunction) -> RunFunction:
        node_type = NodeType(
            type_id=type_id,
            title=title,
            category=category,
            doc=inspect.getdoc(run) or "",
            inputs=tuple(inputs),
            outputs=tuple(outputs),
            params=params,
            version=version,
            run=run,
            wants_accelerator=wants_accelerator,
            key_params=tuple(key_params),
            external_files=external_files,
            summarize=summarize,
            memory_params=sizing,
            distributed=distributed,
        )
        (REGISTRY if registry is None else registry).add(node_type)  # an empty registry is falsy
        run.node_type = node_type  # type: ignore[attr-defined]
        return run

    return register


def param_defaults(type_id: str, registry: Registry | None = None) -> dict[str, Any] | None:
    """The defaults of a node type's optional parameters (what a saved pipeline leaves out); None for a
    type that is not installed. Looked up in `registry`, by default the discovered one."""
    node_type = (discover() if registry is None else registry).get(type_id)
    if node_type is None:
        return None
    return {
        name: field.get_default(call_default_factory=True)
        for name, field in node_type.params.model_fields.items()
        if not field.is_required()
    }


def discover() -> Registry:
    """The registry with every `nodeloom.nodes` entry point loaded (the built-in nodes are one)."""
    global _discovered
    if not _discovered:
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            try:
                entry.load()
            except Exception as exc:  # a broken plug-in must not take the built-in nodes down
                log.warning("could not load node plug-in %s (%s): %s", entry.name, entry.value, exc)
        _discovered = True
    return REGISTRY
