"""What the canvas needs to know about node types: the palette (every registered type, searched and
dragged in the canvas itself), the engine's compatibility table, and the colours of categories and
port types. Built once per registry: they only change when a plug-in is installed."""

from __future__ import annotations

import hashlib
from typing import Any

from nodeloom.engine.connect import compatibility_table
from nodeloom.engine.node import NodeType, Registry
from nodeloom.engine.types import VOCABULARY

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
# One colour per port type of the engine's vocabulary; a plug-in's own types get a spare one.
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
        strict=True,
    )
)
# Keyed by id(registry), holding the registry itself so the id cannot be reused, and its size (a plug-in
# registered since makes the entry out of date).
_built: dict[int, tuple[Registry, int, dict[str, Any]]] = {}


def spare_colour(name: str) -> str:
    return SPARE_COLOURS[int(hashlib.sha1(name.encode()).hexdigest(), 16) % len(SPARE_COLOURS)]


def category_colour(category: str) -> str:
    return CATEGORY_COLOURS.get(category) or spare_colour(category)


def ports_of(node_type: NodeType) -> dict[str, list[dict[str, Any]]]:
    return {
        "inputs": [{"name": port.name, "type": port.type.name, "required": port.required} for port in node_type.inputs],
        "outputs": [{"name": port.name, "type": port.type.name} for port in node_type.outputs],
    }


def palette_entry(node_type: NodeType) -> dict[str, Any]:
    return {
        "type_id": node_type.type_id,
        "title": node_type.title,
        "category": node_type.category,
        "colour": category_colour(node_type.category),
        "description": node_type.summary_line,
    } | ports_of(node_type)


def registry_props(registry: Registry) -> dict[str, Any]:
    """The canvas props that depend only on the registry: palette, compatibility table, port colours."""
    cached = _built.get(id(registry))
    if cached is None or cached[1] != len(registry):
        table = compatibility_table(registry)
        types = {port.type.name for node_type in registry for port in (*node_type.inputs, *node_type.outputs)}
        cached = _built[id(registry)] = (
            registry,
            len(registry),
            {
                "palette": [palette_entry(node_type) for node_type in registry],
                "compatibility": table,
                "port_colours": {name: PORT_COLOURS.get(name) or spare_colour(name) for name in sorted(types)},
            },
        )
    return cached[2]
