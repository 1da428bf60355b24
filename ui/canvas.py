"""The one adapter between a NodeLoom pipeline and streamlit-flow's canvas state.

streamlit-flow (1.6.1) draws one source and one target handle per node and its edges carry no
port names, so the canvas shows one link per connected pair of nodes, labelled with the ports
the engine resolved ("model, tokenizer"). A link drawn by the user arrives here without ports:
the engine's port rule decides what it means (`engine.connect.link_options`), an impossible link is
refused with both sides' types named, and an ambiguous one waits for the user to pick (`Editor.pending`).

The component only takes a state from Python when the state's timestamp is newer than its own,
and every state it takes it sends back, so a state rebuilt on every rerun would re-render it
endlessly. The canvas state therefore lives in `st.session_state`, is rebuilt only when the
picture must change, and what the component sends back is read once, at the top of the script,
before anything that depends on the selection is drawn.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import streamlit as st
from streamlit_flow import StreamlitFlowEdge, StreamlitFlowNode, StreamlitFlowState, streamlit_flow

from nodeloom.engine.connect import link_options
from nodeloom.engine.events import RunStatus
from nodeloom.engine.node import NodeType, Registry
from nodeloom.engine.pipeline import Edge, NodeSpec, Pipeline
from nodeloom.engine.validation import Problem
from nodeloom.ui.state import Editor, PendingConnection, now_ms

CATEGORY_COLOURS = {
    "data": "#2563eb",
    "text": "#0891b2",
    "tokenizer": "#7c3aed",
    "model": "#db2777",
    "optim": "#ea580c",
    "train": "#dc2626",
    "infer": "#16a34a",
    "metric": "#ca8a04",
    "io": "#4b5563",
}
SPARE_COLOURS = ("#0d9488", "#9333ea", "#b45309", "#be123c", "#1d4ed8", "#4d7c0f")

# Plain symbols (not emoji), so the badges read the same on machines without an emoji font.
# Keyed by RunStatus, plus "cached": the canvas shows a node taken from the cache apart from one computed.
CACHED = "cached"
STATUS_BADGES = {
    RunStatus.QUEUED: "◷ queued",
    RunStatus.RUNNING: "▶ running",
    RunStatus.SUCCEEDED: "✓ done",
    CACHED: "↻ cached",
    RunStatus.FAILED: "✗ failed",
    RunStatus.SKIPPED: "↷ skipped",
    RunStatus.CANCELLED: "■ stopped",
    RunStatus.INTERRUPTED: "⚠ interrupted",
}
CARD_WIDTH = 230


def category_colour(category: str) -> str:
    if category in CATEGORY_COLOURS:
        return CATEGORY_COLOURS[category]
    digest = int(hashlib.sha1(category.encode()).hexdigest(), 16)
    return SPARE_COLOURS[digest % len(SPARE_COLOURS)]


@dataclass(frozen=True)
class NodeStatus:
    """What the latest run says about one node (filled in by ui.runs)."""

    status: str  # one of STATUS_BADGES
    progress: float | None = None
    message: str = ""
    seconds: float | None = None
    error: str | None = None


def link_id(source: str, target: str) -> str:
    """The id streamlit-flow gives an edge the user draws; ours match so both kinds look alike."""
    return f"st-flow-edge_{source}-{target}"


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def short(value: Any, width: int = 26) -> str:
    """A parameter value as a card shows it."""
    if isinstance(value, str):
        text = value.rstrip("/").rsplit("/", 1)[-1] or value  # paths: the file name says enough
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, (list, dict)):
        text = json.dumps(value)
    else:
        text = str(value)
    return clip(text, width)


def card_markdown(spec: NodeSpec, node_type: NodeType | None, status: NodeStatus | None, problems: list[Problem]) -> str:
    """A node card: title, id, two or three key parameters, a status badge."""
    if node_type is None:
        return f"**{spec.type}**  \n`{spec.id}`  \n⚠ unknown node type"
    lines = [f"**{node_type.title}**", f"`{spec.id}` · {node_type.category}"]
    defaults = {name: field.default for name, field in node_type.params.model_fields.items()}
    for name in node_type.key_params[:3]:
        value = spec.params.get(name, defaults.get(name))
        lines.append(f"{name}: **{short(value) if value not in (None, '') else '—'}**")
    if status is not None:
        badge = STATUS_BADGES.get(status.status, status.status)
        if status.status == RunStatus.RUNNING and status.progress is not None:
            badge += f" {status.progress:.0%}"
        if status.seconds is not None and status.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            badge += f" · {status.seconds:.1f}s"
        lines.append(badge)
        if status.error:
            lines.append(f"*{clip(status.error, 90)}*")
    elif problems:
        lines.append(f"⚠ {clip(problems[0].message, 90)}")
    return "  \n".join(lines)


def card_style(node_type: NodeType | None, status: NodeStatus | None, invalid: bool, presentation: bool) -> dict[str, Any]:
    colour = category_colour(node_type.category) if node_type else "#6b7280"
    style = {
        "width": f"{CARD_WIDTH}px",
        "textAlign": "left",
        "fontSize": "15px" if presentation else "12px",
        "padding": "6px 10px",
        "borderRadius": "8px",
        "border": f"1px solid {colour}",
        "borderLeft": f"8px solid {colour}",
        "background": "#ffffff",
        "color": "#111827",
    }
    if status is not None and status.status == RunStatus.FAILED or status is None and invalid:
        style |= {"border": "2px solid #dc2626", "borderLeft": "8px solid #dc2626", "background": "#fef2f2"}
    elif status is not None and status.status == RunStatus.RUNNING:
        style |= {"boxShadow": "0 0 0 4px #f59e0b", "background": "#fffbeb"}
    elif status is not None and status.status in (RunStatus.SUCCEEDED, CACHED):
        style |= {"background": "#f0fdf4"}
    return style


def port_label(edges: list[Edge]) -> str:
    return ", ".join(
        (edge.target_port or "?") if edge.source_port == edge.target_port else f"{edge.source_port or '?'} → {edge.target_port or '?'}"
        for edge in edges
    )


def links(pipeline: Pipeline) -> dict[tuple[str, str], list[Edge]]:
    """Pipeline edges grouped by the pair of nodes they join (the canvas draws one link per pair)."""
    grouped: dict[tuple[str, str], list[Edge]] = {}
    for edge in pipeline.edges:
        grouped.setdefault((edge.source, edge.target), []).append(edge)
    return grouped


def to_flow_state(
    pipeline: Pipeline,
    registry: Registry,
    statuses: dict[str, NodeStatus],
    problems: list[Problem],
    selected: str | None,
    presentation: bool,
    timestamp: int,
) -> StreamlitFlowState:
    nodes = []
    for spec in pipeline.nodes:
        node_type = registry.get(spec.type)
        own_problems = [problem for problem in problems if problem.node == spec.id]
        status = statuses.get(spec.id)
        nodes.append(
            StreamlitFlowNode(
                id=spec.id,
                pos=(spec.position["x"], spec.position["y"]),
                data={"content": card_markdown(spec, node_type, status, own_problems)},
                node_type="default",
                source_position="right",
                target_position="left",
                selected=spec.id == selected,
                selectable=True,
                connectable=not presentation,
                draggable=not presentation,
                deletable=not presentation,
                style=card_style(node_type, status, bool(own_problems), presentation),
            )
        )
    edges = []
    for (source, target), joined in links(pipeline).items():
        running = statuses.get(target) is not None and statuses[target].status == RunStatus.RUNNING
        edges.append(
            StreamlitFlowEdge(
                id=link_id(source, target),
                source=source,
                target=target,
                edge_type="default",
                label=port_label(joined),
                label_show_bg=True,
                label_style={"fontSize": "14px" if presentation else "11px"},
                animated=running,
                deletable=not presentation,
                focusable=True,
                marker_end={"type": "arrowclosed"},
                style={"stroke": "#f59e0b", "strokeWidth": 3} if running else {"strokeWidth": 1.5},
            )
        )
    return StreamlitFlowState(nodes, edges, selected_id=selected, timestamp=timestamp)


# --- reading the component's answer ---------------------------------------------------------


def new_link(editor: Editor, registry: Registry, source: str, target: str) -> None:
    """A link the user drew: connect it, refuse it, or ask which ports it means."""
    options = link_options(editor.pipeline, registry, source, target)
    if options.refusal:
        editor.notify("error", options.refusal)
    elif len(options.choices) == 1:
        editor.connect(source, target, options.choices)
        output, into = options.choices[0]
        editor.notify("success", f"Connected {source}.{output} → {target}.{into}")
    else:
        editor.pending = PendingConnection(source, target, options.choices)


def apply_component_state(editor: Editor, registry: Registry, value: dict[str, Any]) -> bool:
    """Fold what the canvas sent back into the pipeline. Returns True when the canvas must be
    redrawn from Python (a new link needs its label, or was refused)."""
    pipeline = editor.pipeline
    known = {spec.id: spec for spec in pipeline.nodes}
    shown = {node["id"]: node for node in value.get("nodes", []) if node.get("id") in known}
    redraw = len(shown) != len(value.get("nodes", []))  # nodes made in the component's own menus

    moved = {
        node_id: {"x": float(node["position"]["x"]), "y": float(node["position"]["y"])}
        for node_id, node in shown.items()
        if abs(node["position"]["x"] - known[node_id].position["x"]) > 0.5
        or abs(node["position"]["y"] - known[node_id].position["y"]) > 0.5
    }
    removed = [node_id for node_id in known if node_id not in shown]

    def move_and_remove(p: Pipeline) -> None:
        for node_id, position in moved.items():
            p.node(node_id).position = position
        p.nodes = [spec for spec in p.nodes if spec.id not in removed]
        p.edges = [edge for edge in p.edges if edge.source not in removed and edge.target not in removed]

    if moved or removed:
        editor.change(move_and_remove)
        if editor.selected in removed:
            editor.select(None)

    drawn = {(edge["source"], edge["target"]) for edge in value.get("edges", [])}
    existing = links(editor.pipeline)
    for pair in existing:
        if pair not in drawn and pair[0] not in removed and pair[1] not in removed:
            editor.disconnect(*pair)
    for source, target in drawn - set(existing):
        if source in shown and target in shown:
            new_link(editor, registry, source, target)
            redraw = True

    selected = value.get("selectedId")
    if selected in shown:
        editor.select(selected)
        editor.selected_link = None
    elif selected is not None:
        pair = next(((s, t) for s, t in existing if link_id(s, t) == selected), None)
        if pair is not None:
            editor.select(None)
            editor.selected_link = pair
    return redraw


# --- drawing ------------------------------------------------------------------------------------


def canvas_key(editor: Editor, presentation: bool) -> str:
    """A new key gives a fresh component, fitted to the pipeline: on open, auto-layout, Fit, and
    when presentation mode moves the canvas elsewhere on the page."""
    return f"canvas-{editor.canvas_generation}-{'show' if presentation else 'edit'}"


def picture_of(value: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """What a canvas state shows, as far as Python decides it: card texts and link labels."""
    cards = {node["id"]: node.get("data", {}).get("content", "") for node in value.get("nodes", [])}
    labels = {edge["id"]: edge.get("label", "") for edge in value.get("edges", [])}
    return cards, labels


def canvas_in_step(editor: Editor, presentation: bool) -> bool:
    """Whether the component's last answer shows the picture we last drew."""
    value = st.session_state.get(canvas_key(editor, presentation))
    drawn = st.session_state.get("canvas_drawn")
    return not isinstance(value, dict) or drawn is None or picture_of(value) == picture_of(drawn[1].asdict())


def heal_canvas(editor: Editor, presentation: bool) -> None:
    """Called on every poll: a push the component ignored (it crossed one of its answers) leaves
    it showing an older picture and sends nothing back; found so on two polls in a row, push again."""
    if canvas_in_step(editor, presentation):
        st.session_state.pop("canvas_out_of_step", None)
        return
    drawn = st.session_state.get("canvas_drawn")
    marker = drawn[1].timestamp if drawn else None
    if st.session_state.get("canvas_out_of_step") == marker:
        st.session_state["canvas_drawn"] = None
        st.rerun(scope="app")
    st.session_state["canvas_out_of_step"] = marker


def read_canvas(editor: Editor, registry: Registry, presentation: bool) -> None:
    """Take in what the canvas sent since the last rerun (call before drawing anything)."""
    value = st.session_state.get(canvas_key(editor, presentation))
    if not isinstance(value, dict):
        return
    seen = st.session_state.get("canvas_seen", 0)
    pushed = st.session_state.get("canvas_pushed", 0)
    stamp = value.get("timestamp") or 0
    # An answer older than our last push describes a picture we have since replaced.
    if stamp <= max(seen, pushed):
        return
    st.session_state["canvas_seen"] = stamp
    drawn = st.session_state.get("canvas_drawn")

    # The component ignores a push older than its own last answer, so a push racing an answer is
    # lost: when the picture it sends back is not the one we drew, draw again.
    stale = drawn is not None and picture_of(value) != picture_of(drawn[1].asdict())
    if apply_component_state(editor, registry, value) or stale:
        st.session_state["canvas_drawn"] = None  # force a push with a fresh timestamp
    else:
        # The component already shows these changes: keep our copy in step without a push.
        st.session_state["canvas_quiet_revision"] = editor.revision


def draw_canvas(
    editor: Editor,
    registry: Registry,
    statuses: dict[str, NodeStatus],
    presentation: bool = False,
    height: int = 620,
) -> None:
    picture = (
        editor.revision,
        editor.canvas_generation,
        tuple(sorted((node_id, status) for node_id, status in statuses.items())),
        presentation,
    )
    drawn = st.session_state.get("canvas_drawn")
    quiet = st.session_state.pop("canvas_quiet_revision", None) == editor.revision
    if drawn is None or drawn[0] != picture:
        if quiet and drawn is not None:
            timestamp = drawn[1].timestamp  # the component shows this already: do not push
        else:
            timestamp = max(now_ms(), st.session_state.get("canvas_seen", 0) + 1)
            st.session_state["canvas_pushed"] = timestamp

        state = to_flow_state(
            editor.pipeline, registry, statuses, editor.problems(), editor.selected, presentation, timestamp
        )
        st.session_state["canvas_drawn"] = (picture, state)
    state = st.session_state["canvas_drawn"][1]
    key = canvas_key(editor, presentation)
    fit = st.session_state.get("canvas_fitted") != key
    st.session_state["canvas_fitted"] = key
    streamlit_flow(
        key,
        state,
        height=height,
        fit_view=fit,
        show_controls=True,
        show_minimap=True,
        allow_new_edges=not presentation,
        get_node_on_click=True,
        get_edge_on_click=True,
        enable_node_menu=not presentation,
        enable_edge_menu=not presentation,
        hide_watermark=True,
        min_zoom=0.2,
    )
