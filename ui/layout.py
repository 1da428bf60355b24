"""Placing cards: a left-to-right layered layout computed in Python, so positions stay exactly
where the user (or this layout, when asked for) put them."""

from __future__ import annotations

import networkx as nx

from nodeloom.engine.pipeline import Pipeline
from nodeloom.engine.planner import build_graph

COLUMN_SPACING = 340
ROW_SPACING = 170


def auto_layout(pipeline: Pipeline) -> None:
    """Left-to-right layers by longest path from the sources; order within a layer follows the file."""
    graph = build_graph(pipeline)
    if not nx.is_directed_acyclic_graph(graph):
        return
    layer: dict[str, int] = {}
    for node_id in nx.topological_sort(graph):
        layer[node_id] = max((layer[parent] + 1 for parent in graph.predecessors(node_id)), default=0)
    rows: dict[int, int] = {}
    for spec in pipeline.nodes:
        column = layer[spec.id]
        spec.position = {"x": float(column * COLUMN_SPACING), "y": float(rows.get(column, 0) * ROW_SPACING)}
        rows[column] = rows.get(column, 0) + 1


def overlapping(pipeline: Pipeline) -> bool:
    """True when cards share a position (a hand-written file without positions, say)."""
    return len({(spec.position["x"], spec.position["y"]) for spec in pipeline.nodes}) < len(pipeline.nodes)
