"""A playground for the canvas component (ui/canvas_component), outside the app.

Run from the repository:

    streamlit run tools/canvas_demo.py --server.headless true --server.port 8599

It draws the gpt2_chatbot example with the real node registry and the engine's compatibility
table, applies every action the canvas sends to its own copy of the state (as the app will), and
shows the last action and what became of it. Query parameters: `?copies=11` draws that many copies
of the example side by side (11 copies = 209 nodes and 275 links, the speed check); `?read_only=1` draws it
read-only; `?statuses=0` hides the sample run statuses. A development tool, not installed.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import streamlit as st

from nodeloom.engine.connect import compatibility_table
from nodeloom.engine.node import NodeType, Registry, discover
from nodeloom.engine.types import VOCABULARY
from nodeloom.engine.validation import load_pipeline
from nodeloom.pipelines import example_path
from nodeloom.ui.canvas_component import canvas, take_action

KEY = "demo_canvas"
# The app owns the real colour choices; these stand in so the demo needs nothing from ui/.
CATEGORY_COLOURS = {
    "data": "#2563eb",
    "text": "#0891b2",
    "model": "#db2777",
    "optim": "#ea580c",
    "train": "#dc2626",
    "infer": "#16a34a",
    "metric": "#ca8a04",
    "io": "#4b5563",
}
PORT_COLOURS = dict(
    zip(
        [port_type.name for port_type in VOCABULARY],
        [
            "#9ca3af",
            "#2563eb",
            "#7c3aed",
            "#0d9488",
            "#c026d3",
            "#db2777",
            "#ea580c",
            "#f59e0b",
            "#65a30d",
            "#ca8a04",
            "#0891b2",
            "#64748b",
            "#16a34a",
        ],
        strict=False,
    )
)
SAMPLE_STATUSES = {
    "qa": {"state": "succeeded", "progress": None, "message": "2.1 s", "error": None},
    "clean": {"state": "cached", "progress": None, "message": "", "error": None},
    "split": {"state": "succeeded", "progress": None, "message": "", "error": None},
    "tokenizer": {"state": "succeeded", "progress": None, "message": "", "error": None},
    "train": {"state": "running", "progress": 0.42, "message": "epoch 13/30 · loss 2.31", "error": None},
    "generate": {"state": "queued", "progress": None, "message": "", "error": None},
    "bleu": {
        "state": "failed",
        "progress": None,
        "message": "",
        "error": "ValueError: the dataset has no column 'prediction' <script>alert(1)</script>",
    },
    "perplexity": {"state": "stale", "progress": None, "message": "inputs changed", "error": None},
}


def short(value: Any, width: int = 26) -> str:
    if isinstance(value, (list, dict)):
        text = json.dumps(value)
    else:
        text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def contract_node(
    node_id: str, node_type: NodeType, params: dict[str, Any], position: dict[str, float]
) -> dict[str, Any]:
    defaults = {name: field.default for name, field in node_type.params.model_fields.items()}
    shown = [(name, params.get(name, defaults.get(name))) for name in node_type.key_params]
    return {
        "id": node_id,
        "type": node_type.type_id,
        "title": node_type.title,
        "category": node_type.category,
        "colour": CATEGORY_COLOURS.get(node_type.category, "#6b7280"),
        "position": {"x": float(position["x"]), "y": float(position["y"])},
        "inputs": [{"name": p.name, "type": p.type.name, "required": p.required} for p in node_type.inputs],
        "outputs": [{"name": p.name, "type": p.type.name} for p in node_type.outputs],
        "params": [[name, short(value)] for name, value in shown if value not in (None, "")],
        "params_raw": params,  # the demo's own bookkeeping, not part of the contract
        "status": None,
        "problem": None,
        "warning": "trust_remote_code is on" if params.get("trust_remote_code") else None,
    }


def edge_of(source: str, source_port: str, target: str, target_port: str) -> dict[str, str]:
    return {
        "id": f"{source}.{source_port}->{target}.{target_port}",
        "source": source,
        "source_port": source_port,
        "target": target,
        "target_port": target_port,
    }


def example_state(registry: Registry, copies: int) -> dict[str, Any]:
    pipeline = load_pipeline(example_path("gpt2_chatbot"), registry)
    nodes, edges = [], []
    for copy_index in range(copies):
        suffix = "" if copy_index == 0 else f"_{copy_index}"
        shift = {"x": 2300.0 * (copy_index % 4), "y": 1100.0 * (copy_index // 4)}
        for spec in pipeline.nodes:
            position = {"x": spec.position["x"] + shift["x"], "y": spec.position["y"] + shift["y"]}
            nodes.append(contract_node(spec.id + suffix, registry.get(spec.type), spec.params, position))
        edges += [edge_of(e.source + suffix, e.source_port, e.target + suffix, e.target_port) for e in pipeline.edges]
    return {
        "revision": 1,
        "nodes": nodes,
        "edges": edges,
        "view": None,
        "selection": {"nodes": [], "edges": []},
        "undo": [],
        "redo": [],
        "counter": 0,
    }


# --- the demo's Python side of the contract: apply one action -----------------------------------


def node_by_id(state: dict[str, Any], node_id: str) -> dict[str, Any] | None:
    return next((node for node in state["nodes"] if node["id"] == node_id), None)


def port_type(node: dict[str, Any], side: str, name: str) -> str | None:
    return next((port["type"] for port in node[side] if port["name"] == name), None)


def reaches(state: dict[str, Any], start: str, goal: str) -> bool:
    frontier, seen = [start], set()
    while frontier:
        current = frontier.pop()
        if current == goal:
            return True
        seen.add(current)
        frontier += [e["target"] for e in state["edges"] if e["source"] == current and e["target"] not in seen]
    return False


def link(
    state: dict[str, Any], table: dict[str, list[str]], source: str, source_port: str, target: str, target_port: str
) -> str:
    source_node, target_node = node_by_id(state, source), node_by_id(state, target)
    if source_node is None or target_node is None:
        return f"refused: no node {source if source_node is None else target}"
    offered, wanted = port_type(source_node, "outputs", source_port), port_type(target_node, "inputs", target_port)
    if offered is None or wanted is None:
        return f"refused: no port {source}.{source_port} or {target}.{target_port}"
    if wanted not in table.get(offered, []):
        return f"refused: {target}.{target_port} takes {wanted}, not {offered}"
    if source == target or reaches(state, target, source):
        return f"refused: {source} → {target} would make a cycle"
    replaced = [e["id"] for e in state["edges"] if e["target"] == target and e["target_port"] == target_port]
    state["edges"] = [edge for edge in state["edges"] if edge["id"] not in replaced]
    state["edges"].append(edge_of(source, source_port, target, target_port))
    message = f"connected {source}.{source_port} → {target}.{target_port}"
    return message + (f" (replaced {replaced[0]})" if replaced else "")


def add(state: dict[str, Any], registry: Registry, table: dict[str, list[str]], action: dict[str, Any]) -> str:
    node_type = registry.get(action["type_id"])
    if node_type is None:
        return f"refused: unknown node type {action['type_id']}"
    state["counter"] += 1
    node_id = f"{node_type.type_id.split('.', 1)[1]}_{state['counter']}"
    state["nodes"].append(contract_node(node_id, node_type, {}, action["position"]))
    message = f"added {node_id}"
    wanted = action.get("connect")
    if wanted:
        other = node_by_id(state, wanted["node"])
        if wanted["direction"] == "from_output":
            offered = port_type(other, "outputs", wanted["port"])
            port = next((p.name for p in node_type.inputs if p.type.name in table.get(offered, [])), None)
            if port:
                message += "; " + link(state, table, wanted["node"], wanted["port"], node_id, port)
        else:
            accepting = port_type(other, "inputs", wanted["port"])
            port = next((p.name for p in node_type.outputs if accepting in table.get(p.type.name, [])), None)
            if port:
                message += "; " + link(state, table, node_id, port, wanted["node"], wanted["port"])
    return message


def paste(state: dict[str, Any], action: dict[str, Any]) -> str:
    renamed = {}
    for node_id in action["nodes"]:
        original = node_by_id(state, node_id)
        if original is None:
            continue
        state["counter"] += 1
        duplicate = copy.deepcopy(original)
        duplicate["id"] = renamed[node_id] = f"{node_id}_copy{state['counter']}"
        duplicate["position"] = {
            "x": original["position"]["x"] + action["offset"]["x"],
            "y": original["position"]["y"] + action["offset"]["y"],
        }
        state["nodes"].append(duplicate)
    state["edges"] += [
        edge_of(renamed[e["source"]], e["source_port"], renamed[e["target"]], e["target_port"])
        for e in state["edges"]
        if e["source"] in renamed and e["target"] in renamed
    ]
    return f"pasted {', '.join(renamed.values())}"


def apply(state: dict[str, Any], registry: Registry, table: dict[str, list[str]], action: dict[str, Any]) -> str:
    kind = action.get("kind")
    if kind == "select":
        state["selection"] = {"nodes": action["nodes"], "edges": action["edges"]}
        return f"selected {action['nodes'] + action['edges']}"
    if kind == "view":
        state["view"] = {"x": action["x"], "y": action["y"], "zoom": action["zoom"]}
        return "view kept"
    if kind in ("undo", "redo"):
        source, other = (state["undo"], state["redo"]) if kind == "undo" else (state["redo"], state["undo"])
        if not source:
            return f"nothing to {kind}"
        other.append((state["nodes"], state["edges"]))
        state["nodes"], state["edges"] = source.pop()
        state["revision"] += 1
        return f"{kind} done"
    before = (copy.deepcopy(state["nodes"]), copy.deepcopy(state["edges"]))
    if kind == "connect":
        message = link(state, table, action["source"], action["source_port"], action["target"], action["target_port"])
    elif kind == "add":
        message = add(state, registry, table, action)
    elif kind == "delete":
        gone = set(action["nodes"])
        state["nodes"] = [node for node in state["nodes"] if node["id"] not in gone]
        state["edges"] = [
            e
            for e in state["edges"]
            if e["source"] not in gone and e["target"] not in gone and e["id"] not in action["edges"]
        ]
        message = f"deleted nodes {action['nodes']} and links {action['edges']}"
    elif kind == "move":
        for node_id, position in action["positions"].items():
            node = node_by_id(state, node_id)
            if node is not None:
                node["position"] = {"x": float(position["x"]), "y": float(position["y"])}
        message = f"moved {sorted(action['positions'])}"
    elif kind == "paste":
        message = paste(state, action)
    else:
        return f"unknown action {kind!r}"
    if not message.startswith("refused"):
        # A refusal changes nothing, not even the revision: the canvas drops its optimistic picture
        # anyway, because the next props acknowledge the action.
        state["undo"].append(before)
        state["redo"].clear()
        state["revision"] += 1
    return message


def props(
    state: dict[str, Any], registry: Registry, table: dict[str, list[str]], statuses: bool, read_only: bool
) -> dict[str, Any]:
    nodes = [
        {key: value for key, value in node.items() if key != "params_raw"}
        | {"status": SAMPLE_STATUSES.get(node["id"]) if statuses else None}
        for node in state["nodes"]
    ]
    palette = [
        {
            "type_id": t.type_id,
            "title": t.title,
            "category": t.category,
            "colour": CATEGORY_COLOURS.get(t.category, "#6b7280"),
            "description": t.summary_line,
            "inputs": [{"name": p.name, "type": p.type.name, "required": p.required} for p in t.inputs],
            "outputs": [{"name": p.name, "type": p.type.name} for p in t.outputs],
        }
        for t in registry
    ]
    return {
        "revision": state["revision"],
        "nodes": nodes,
        "edges": state["edges"],
        "palette": palette,
        "compatibility": table,
        "port_colours": PORT_COLOURS,
        "view": state["view"],
        "read_only": read_only,
        "theme": "light",
        "min_height": 600,
    }


def main() -> None:
    st.set_page_config(page_title="Canvas demo", layout="wide")
    registry = discover()
    table = compatibility_table(registry)
    copies = max(1, int(st.query_params.get("copies", "1")))
    if "demo_state" not in st.session_state:
        st.session_state["demo_state"] = example_state(registry, copies)
    state = st.session_state["demo_state"]

    envelope = take_action(KEY)  # before drawing, so the canvas shows the action's result
    if envelope is not None:
        st.session_state["demo_last"] = (envelope, apply(state, registry, table, envelope["action"]))

    statuses = st.query_params.get("statuses", "1") != "0"
    read_only = st.query_params.get("read_only", "0") == "1"
    canvas(props(state, registry, table, statuses, read_only), key=KEY)

    last, outcome = st.session_state.get("demo_last", (None, "no action yet"))
    st.text(f"revision={state['revision']} nodes={len(state['nodes'])} edges={len(state['edges'])} result: {outcome}")
    st.code(json.dumps(last), language="json")


if __name__ == "__main__":  # streamlit runs the script as __main__; the canvas benchmark imports its helpers
    main()
