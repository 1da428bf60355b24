"""What changed between two pipeline versions, by node id: nodes, parameters, edges, settings.

Works on raw pipeline JSON (as saved), so drafts that do not validate can be compared too. A saved
pipeline leaves out parameters at their default, so a parameter that appears or disappears is compared
with its node type's default: `~ train.batch_size: 8 → 16`, not `+ train.batch_size = 16`. Only for a
node type this installation does not know does a diff say "added" or "removed".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from nodeloom.engine.node import param_defaults

Defaults = Callable[[str], dict[str, Any] | None]  # node type -> its parameters' defaults (None: unknown type)


@dataclass
class Change:
    old: Any
    new: Any


@dataclass
class NodeChange:
    type: Change | None = None  # the node's type changed (same id)
    params_added: dict[str, Any] = field(default_factory=dict)  # only parameters without a known default
    params_removed: dict[str, Any] = field(default_factory=dict)
    params_changed: dict[str, Change] = field(default_factory=dict)  # old -> new, a default standing in for absence
    moved: bool = False  # only its position on the canvas changed

    def is_empty(self) -> bool:
        return not (self.type or self.params_added or self.params_removed or self.params_changed or self.moved)


@dataclass
class PipelineDiff:
    nodes_added: dict[str, str] = field(default_factory=dict)  # node id -> type
    nodes_removed: dict[str, str] = field(default_factory=dict)
    nodes_changed: dict[str, NodeChange] = field(default_factory=dict)
    edges_added: list[str] = field(default_factory=list)  # "source.port → target.port"
    edges_removed: list[str] = field(default_factory=list)
    settings_changed: dict[str, Change] = field(default_factory=dict)
    fields_changed: dict[str, Change] = field(default_factory=dict)  # name, description, other top-level keys

    def is_empty(self) -> bool:
        return not any(asdict(self).values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """One human-readable line per change, e.g. `~ train.learning_rate: 0.001 → 0.0003`."""
        out = [f"+ node {node_id} ({type_id})" for node_id, type_id in self.nodes_added.items()]
        out += [f"- node {node_id} ({type_id})" for node_id, type_id in self.nodes_removed.items()]
        for node_id, change in self.nodes_changed.items():
            if change.type:
                out.append(f"~ node {node_id}: type {change.type.old} → {change.type.new}")
            out += [f"+ {node_id}.{name} = {value!r}" for name, value in change.params_added.items()]
            out += [f"- {node_id}.{name} (was {value!r})" for name, value in change.params_removed.items()]
            out += [f"~ {node_id}.{name}: {c.old!r} → {c.new!r}" for name, c in change.params_changed.items()]
            if change.moved:
                out.append(f"~ node {node_id} moved")
        out += [f"+ edge {label}" for label in self.edges_added]
        out += [f"- edge {label}" for label in self.edges_removed]
        out += [f"~ settings.{name}: {c.old!r} → {c.new!r}" for name, c in self.settings_changed.items()]
        out += [f"~ {name}: {c.old!r} → {c.new!r}" for name, c in self.fields_changed.items()]
        return out


def _nodes(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    nodes = data.get("nodes")
    if not isinstance(nodes, list):
        return {}
    return {raw["id"]: raw for raw in nodes if isinstance(raw, dict) and isinstance(raw.get("id"), str)}


def _edge_label(raw: Any) -> str:
    if not isinstance(raw, dict):
        return repr(raw)
    source = f"{raw.get('source')}.{raw['source_port']}" if raw.get("source_port") else str(raw.get("source"))
    target = f"{raw.get('target')}.{raw['target_port']}" if raw.get("target_port") else str(raw.get("target"))
    return f"{source} → {target}"


def _dict_changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[dict, dict, dict[str, Change]]:
    added = {key: new[key] for key in new if key not in old}
    removed = {key: old[key] for key in old if key not in new}
    changed = {key: Change(old[key], new[key]) for key in old if key in new and old[key] != new[key]}
    return added, removed, changed


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _with_defaults(params: dict[str, Any], other: dict[str, Any], defaults: dict[str, Any] | None) -> dict[str, Any]:
    """`params` with the defaults of the parameters only `other` writes out: what the node runs with."""
    if not defaults:
        return params
    return {name: defaults[name] for name in other if name not in params and name in defaults} | params


def diff_pipelines(old: dict[str, Any], new: dict[str, Any], defaults: Defaults = param_defaults) -> PipelineDiff:
    """Compare two pipeline JSON objects node by node (by id). `defaults` gives a node type's parameter
    defaults (default: the installed node types'); a parameter written out at its default is no change."""
    diff = PipelineDiff()
    old_nodes, new_nodes = _nodes(old), _nodes(new)
    diff.nodes_added = {node_id: str(raw.get("type")) for node_id, raw in new_nodes.items() if node_id not in old_nodes}
    diff.nodes_removed = {
        node_id: str(raw.get("type")) for node_id, raw in old_nodes.items() if node_id not in new_nodes
    }
    for node_id in old_nodes.keys() & new_nodes.keys():
        before, after = old_nodes[node_id], new_nodes[node_id]
        known = defaults(str(after.get("type"))) if before.get("type") == after.get("type") else None
        old_params, new_params = _as_dict(before.get("params")), _as_dict(after.get("params"))
        added, removed, changed = _dict_changes(
            _with_defaults(old_params, new_params, known), _with_defaults(new_params, old_params, known)
        )
        change = NodeChange(
            type=Change(before.get("type"), after.get("type")) if before.get("type") != after.get("type") else None,
            params_added=added,
            params_removed=removed,
            params_changed=changed,
            moved=before.get("position") != after.get("position"),
        )
        if not change.is_empty():
            diff.nodes_changed[node_id] = change
    diff.nodes_changed = dict(sorted(diff.nodes_changed.items()))
    old_edges = [_edge_label(raw) for raw in old.get("edges") or []]
    new_edges = [_edge_label(raw) for raw in new.get("edges") or []]
    diff.edges_added = [label for label in new_edges if label not in old_edges]
    diff.edges_removed = [label for label in old_edges if label not in new_edges]
    added, removed, changed = _dict_changes(_as_dict(old.get("settings")), _as_dict(new.get("settings")))
    diff.settings_changed = (
        changed | {k: Change(None, v) for k, v in added.items()} | {k: Change(v, None) for k, v in removed.items()}
    )
    for key in sorted((old.keys() | new.keys()) - {"nodes", "edges", "settings"}):
        if old.get(key) != new.get(key):
            diff.fields_changed[key] = Change(old.get(key), new.get(key))
    return diff
