"""The one adapter between the editor and the canvas component (ui/canvas_component).

Python draws: `canvas_props` turns the pipeline, the run statuses and the engine's problems into the
component's props (one card per node with a typed handle per port, one edge per port-to-port link).
The browser answers with one action per gesture (connect, add, delete, move, select, paste, undo,
redo, view); `read_canvas` takes it at the top of the script, before anything that shows the
selection is drawn, and `apply_action` turns it into an `Editor` change. Python is the truth: a
gesture it refuses (the engine's port rule says no) simply disappears from the canvas, and a toast
says why.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import Any

import streamlit as st

from nodeloom.engine.events import RunStatus
from nodeloom.engine.node import NodeType, Registry, applicable_params
from nodeloom.engine.pipeline import Edge, NodeSpec, Pipeline
from nodeloom.engine.validation import Problem
from nodeloom.ui.canvas_component import canvas, take_action
from nodeloom.ui.layout import auto_layout, estimated_heights
from nodeloom.ui.palette import category_colour, registry_props
from nodeloom.ui.staleness import current_keys, stale_nodes
from nodeloom.ui.state import Editor, PortLink, fitting_pair, port_link
from nodeloom.ui.text import remote_code_warning

log = logging.getLogger(__name__)

# Keyed by RunStatus, plus "cached" (a node taken from the cache, shown apart from one computed) and
# "stale" (changed since the run). Plain symbols, not emoji: they read the same without an emoji font.
CACHED = "cached"
STALE = "stale"
STATUS_BADGES = {
    RunStatus.QUEUED: "◷ queued",
    RunStatus.RUNNING: "▶ running",
    RunStatus.SUCCEEDED: "✓ done",
    CACHED: "↻ cached",
    RunStatus.FAILED: "✗ failed",
    RunStatus.SKIPPED: "↷ skipped",
    RunStatus.CANCELLED: "■ stopped",
    RunStatus.INTERRUPTED: "⚠ interrupted",
    STALE: "○ stale",
}
FINISHED = {
    RunStatus.SUCCEEDED,
    CACHED,
    RunStatus.FAILED,
    RunStatus.SKIPPED,
    RunStatus.CANCELLED,
    RunStatus.INTERRUPTED,
}
MIN_HEIGHT = 600
MESSAGE_WIDTH = 160


@dataclass(frozen=True)
class NodeStatus:
    """What the latest run says about one node (filled in by ui.runs)."""

    status: str  # one of STATUS_BADGES
    progress: float | None = None
    message: str = ""
    seconds: float | None = None
    error: str | None = None
    key: str | None = None  # the cache key the run recorded for the node


def edge_id(edge: Edge) -> str:
    return f"{edge.source}.{edge.source_port}->{edge.target}.{edge.target_port}"


def links(pipeline: Pipeline) -> dict[tuple[str, str], list[Edge]]:
    """Pipeline edges grouped by the pair of nodes they join (the inspector's link panel)."""
    grouped: dict[tuple[str, str], list[Edge]] = {}
    for edge in pipeline.edges:
        grouped.setdefault((edge.source, edge.target), []).append(edge)
    return grouped


def port_label(edges: list[Edge]) -> str:
    return ", ".join(
        (edge.target_port or "?")
        if edge.source_port == edge.target_port
        else f"{edge.source_port or '?'} → {edge.target_port or '?'}"
        for edge in edges
    )


# --- drawing: the component's props ------------------------------------------------------------


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def short(value: Any, width: int = 26) -> str:
    """A parameter value as a card shows it."""
    if isinstance(value, str) and value.startswith(("/", "~", "./", "../")):
        text = value.rstrip("/").rsplit("/", 1)[-1] or value  # a file's path: its name says enough
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, (list, dict)):
        text = json.dumps(value)
    else:
        text = str(value)
    return clip(text, width)


def card_params(spec: NodeSpec, node_type: NodeType) -> list[list[str]]:
    """The node type's key parameters that apply with the node's settings (a file loader's path, not
    its built-in data set's name), with the values the node runs with, as [name, text] pairs."""
    defaults = {name: field.default for name, field in node_type.params.model_fields.items()}
    applying = set(applicable_params(node_type, spec.params))
    shown = []
    for name in (name for name in node_type.key_params if name in applying):
        value = spec.params.get(name, defaults.get(name))
        if value not in (None, ""):
            shown.append([name, short(value)])
    return shown


def card_status(status: NodeStatus | None) -> dict[str, Any] | None:
    if status is None:
        return None
    message = status.message
    if status.seconds is not None and status.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
        message = f"{status.seconds:.1f} s" + (f" · {message}" if message else "")
    progress = status.progress if status.status == RunStatus.RUNNING else None
    return {
        "state": status.status,
        "progress": progress,
        "message": clip(message, MESSAGE_WIDTH),
        "error": clip(status.error, 400) if status.error else None,
    }


def card(spec: NodeSpec, node_type: NodeType | None, status: NodeStatus | None, problems: list[Problem]) -> dict:
    """One node as the component's contract has it (ui/canvas_component/README.md)."""
    place = {"x": float(spec.position["x"]), "y": float(spec.position["y"])}
    base = {
        "id": spec.id,
        "type": spec.type,
        "position": place,
        "status": card_status(status),
        "problem": clip(problems[0].message, 200) if problems else None,
    }
    if node_type is None:
        return base | {
            "title": spec.type,
            "category": "",
            "colour": "#6b7280",
            "inputs": [],
            "outputs": [],
            "params": [],
            "warning": f"unknown node type '{spec.type}'; delete it or install its plug-in",
        }
    return base | {
        "title": node_type.title,
        "category": node_type.category,
        "colour": category_colour(node_type.category),
        "inputs": [{"name": port.name, "type": port.type.name, "required": port.required} for port in node_type.inputs],
        "outputs": [{"name": port.name, "type": port.type.name} for port in node_type.outputs],
        "params": card_params(spec, node_type),
        "warning": remote_code_warning(spec),
    }


def canvas_edge(edge: Edge) -> dict[str, Any]:
    return {
        "id": edge_id(edge),
        "source": edge.source,
        "source_port": edge.source_port,
        "target": edge.target,
        "target_port": edge.target_port,
    }


def canvas_props(
    editor: Editor, registry: Registry, statuses: dict[str, NodeStatus], read_only: bool = False
) -> dict[str, Any]:
    problems: dict[str, list[Problem]] = {}
    for problem in editor.problems():
        problems.setdefault(problem.node or "", []).append(problem)
    pipeline = editor.pipeline
    return {
        "revision": editor.revision,
        "nodes": [
            card(spec, registry.get(spec.type), statuses.get(spec.id), problems.get(spec.id, []))
            for spec in pipeline.nodes
        ],
        "edges": [canvas_edge(edge) for edge in pipeline.edges if edge.source_port and edge.target_port],
        **registry_props(registry),
        "view": None if read_only else editor.view,  # presentation fits its own, narrower canvas
        "read_only": read_only,
        "theme": "light",
        "min_height": MIN_HEIGHT,
    }


def with_stale(editor: Editor, registry: Registry, statuses: dict[str, NodeStatus]) -> dict[str, NodeStatus]:
    """The run's statuses, with "stale" on finished nodes changed since the run (and downstream).
    Keys are computed once per pipeline revision and run record."""
    recorded = {node_id: status.key for node_id, status in statuses.items() if status.key}
    if not recorded:
        return statuses
    memo_key = (id(editor.pipeline), editor.revision, tuple(sorted(recorded.items())))
    memo = st.session_state.get("stale_memo")
    if memo is None or memo[0] != memo_key:
        memo = (memo_key, stale_nodes(editor.pipeline, current_keys(editor.pipeline, registry), recorded))
        st.session_state["stale_memo"] = memo
    return {
        node_id: replace(status, status=STALE, message="changed since this run", progress=None)
        if node_id in memo[1] and status.status in FINISHED
        else status
        for node_id, status in statuses.items()
    }


# --- the browser's answers ---------------------------------------------------------------------


def canvas_key(editor: Editor, presentation: bool) -> str:
    """A new key gives a fresh component (a new pipeline, a new layout: fitted afresh)."""
    return f"canvas-{editor.canvas_generation}-{'show' if presentation else 'edit'}"


def add_node(editor: Editor, registry: Registry, action: dict[str, Any]) -> None:
    node_type = registry.get(action["type_id"])
    if node_type is None:
        editor.notify("error", f"There is no node type '{action['type_id']}' any more; install its plug-in.")
        return
    wanted = action.get("connect") or None
    other = editor.pipeline.node(wanted["node"]) if wanted and editor.pipeline.has_node(wanted["node"]) else None

    def link(new: NodeSpec) -> PortLink | None:
        if wanted is None or other is None:
            return None
        if wanted["direction"] == "from_output":
            pair = fitting_pair(registry, other, new, wanted["port"], None)
            return (other.id, pair[0], new.id, pair[1]) if pair else None
        pair = fitting_pair(registry, new, other, None, wanted["port"])
        return (new.id, pair[0], other.id, pair[1]) if pair else None

    editor.add_node(node_type, action["position"], link)


def connect(editor: Editor, registry: Registry, action: dict[str, Any]) -> None:
    link = (action["source"], action["source_port"], action["target"], action["target_port"])
    replaced = [edge for edge in editor.pipeline.incoming(link[2]) if edge.target_port == link[3]]
    refusal = editor.connect_ports(registry, link)
    if refusal:
        editor.notify("error", refusal)
    elif replaced and port_link(replaced[0]) != link:
        old = replaced[0]
        editor.notify(
            "info",
            f"{old.target}.{old.target_port} now takes {link[0]}.{link[1]} instead of "
            f"{old.source}.{old.source_port} (Ctrl+Z brings the old link back).",
        )


def delete(editor: Editor, action: dict[str, Any]) -> None:
    by_id = {edge_id(edge): port_link(edge) for edge in editor.pipeline.edges}
    editor.delete(
        [node_id for node_id in action["nodes"] if editor.pipeline.has_node(node_id)],
        [by_id[gone] for gone in action["edges"] if gone in by_id],
    )


def select(editor: Editor, action: dict[str, Any]) -> None:
    nodes = [node_id for node_id in action["nodes"] if editor.pipeline.has_node(node_id)]
    editor.select(nodes[0] if nodes else None)
    chosen = [edge for edge in editor.pipeline.edges if edge_id(edge) in set(action["edges"])]
    editor.selected_link = (chosen[0].source, chosen[0].target) if chosen and not nodes else None


def apply_action(editor: Editor, registry: Registry, action: dict[str, Any]) -> None:
    """One gesture from the canvas, applied to the editor (a refusal is a toast, nothing else)."""
    kind = action.get("kind")
    try:
        if kind == "connect":
            connect(editor, registry, action)
        elif kind == "add":
            add_node(editor, registry, action)
        elif kind == "delete":
            delete(editor, action)
        elif kind == "move":
            editor.move(
                {node_id: place for node_id, place in action["positions"].items() if editor.pipeline.has_node(node_id)}
            )
        elif kind == "select":
            select(editor, action)
        elif kind == "paste":
            editor.paste(action["nodes"], action["offset"])
        elif kind == "undo":
            editor.undo()
        elif kind == "redo":
            editor.redo()
        elif kind == "view":
            editor.view = {"x": float(action["x"]), "y": float(action["y"]), "zoom": float(action["zoom"])}
        else:
            log.warning("the canvas sent an unknown action %r", kind)
    except (KeyError, TypeError, ValueError) as exc:  # a malformed action: the canvas takes Python's picture back
        log.warning("the canvas sent a malformed %r action (%s)", kind, exc)


def read_canvas(editor: Editor, registry: Registry, presentation: bool) -> None:
    """Apply the canvas's latest gesture, if any (call before drawing anything)."""
    envelope = take_action(canvas_key(editor, presentation))
    if envelope is not None and not (presentation and envelope["action"].get("kind") == "view"):
        apply_action(editor, registry, envelope["action"])  # the editor's view is the editor's to keep


def lay_out(editor: Editor, registry: Registry) -> None:
    """Auto-layout, as one undoable step, and a fresh canvas fitted to it."""
    editor.change(lambda pipeline: auto_layout(pipeline, estimated_heights(pipeline, registry)))
    editor.view = None
    editor.canvas_generation += 1


def draw_canvas(
    editor: Editor,
    registry: Registry,
    statuses: dict[str, NodeStatus],
    presentation: bool = False,
    height: int | None = None,
) -> None:
    """The canvas: 70% of the window high (at least MIN_HEIGHT px) unless `height` fixes it; read-only
    in presentation mode."""
    props = canvas_props(editor, registry, with_stale(editor, registry, statuses), read_only=presentation)
    canvas(props, key=canvas_key(editor, presentation), height=height)
