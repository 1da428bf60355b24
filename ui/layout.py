"""Placing cards: a left-to-right layered layout computed in Python, so positions stay exactly
where the user (or this layout, when asked for) put them.

Cards are CARD_WIDTH wide (the canvas component draws them so) and as tall as their ports,
parameters and status make them; the layout stacks each layer by those heights, so no two cards
overlap however many ports a node has.
"""

from __future__ import annotations

from collections.abc import Mapping

import networkx as nx

from nodeloom.engine.node import Registry, discover
from nodeloom.engine.pipeline import Pipeline
from nodeloom.engine.planner import build_graph

CARD_WIDTH = 220  # ui/canvas_component/frontend/src/contract.js draws every card this wide
COLUMN_GAP = 44  # room for the links between two layers
ROW_GAP = 36
# A card's height in canvas pixels, from style.css: title and id, then one 18 px row per port pair,
# one 15 px row per parameter shown, and room for a status badge with its message.
CARD_HEAD = 58
PORT_ROW = 18
PARAM_ROW = 15
STATUS_ROOM = 36
UNKNOWN_CARD_HEIGHT = 110


def card_height(ports: int, params: int) -> float:
    """A card's height with `ports` port rows and `params` parameter rows (status room included)."""
    return CARD_HEAD + PORT_ROW * ports + (PARAM_ROW * params + 6 if params else 0) + STATUS_ROOM


def estimated_heights(pipeline: Pipeline, registry: Registry | None = None) -> dict[str, float]:
    """Each card's height, counting every key parameter (the card may show fewer: room to spare)."""
    types = registry if registry is not None else discover()
    heights = {}
    for spec in pipeline.nodes:
        node_type = types.get(spec.type)
        heights[spec.id] = (
            UNKNOWN_CARD_HEIGHT
            if node_type is None
            else card_height(max(len(node_type.inputs), len(node_type.outputs)), len(node_type.key_params))
        )
    return heights


def layers(graph: nx.DiGraph) -> dict[str, int]:
    """Longest path from the sources."""
    layer: dict[str, int] = {}
    for node_id in nx.topological_sort(graph):
        layer[node_id] = max((layer[parent] + 1 for parent in graph.predecessors(node_id)), default=0)
    return layer


def pull_sources(graph: nx.DiGraph, layer: dict[str, int], heights: Mapping[str, float]) -> None:
    """Move a source that feeds others (an optimizer, a learning-rate schedule) from the first column
    to the nearest column left of its first consumer that has room for it below the tallest column."""
    pulled = [node_id for node_id in layer if graph.in_degree(node_id) == 0 and graph.out_degree(node_id)]
    load: dict[int, float] = {}
    for node_id, column in layer.items():
        if node_id not in pulled:
            load[column] = load.get(column, 0.0) + heights[node_id] + ROW_GAP
    tallest = max(load.values(), default=0.0)
    for node_id in pulled:
        latest = min(layer[child] for child in graph.successors(node_id)) - 1
        needed = heights[node_id] + ROW_GAP
        room = [column for column in range(latest, -1, -1) if load.get(column, 0.0) + needed <= tallest]
        layer[node_id] = room[0] if room and latest - room[0] <= 1 else latest
        load[layer[node_id]] = load.get(layer[node_id], 0.0) + heights[node_id] + ROW_GAP


def auto_layout(pipeline: Pipeline, heights: Mapping[str, float] | None = None) -> None:
    """Left-to-right layers; within a layer, cards follow their parents' order (fewer crossings),
    then the file's order, stacked by height and centred on the tallest layer."""
    graph = build_graph(pipeline)
    if not nx.is_directed_acyclic_graph(graph):
        return
    heights = heights if heights is not None else estimated_heights(pipeline)
    layer = layers(graph)
    pull_sources(graph, layer, heights)
    file_order = {spec.id: index for index, spec in enumerate(pipeline.nodes)}
    columns: dict[int, list[str]] = {}
    rank: dict[str, float] = {}
    for column in sorted(set(layer.values())):
        members = [node_id for node_id in file_order if layer[node_id] == column]

        def parents_rank(node_id: str) -> float:
            placed = [rank[parent] for parent in graph.predecessors(node_id) if parent in rank]
            return sum(placed) / len(placed) if placed else float("inf")  # a pulled-in source goes below

        members.sort(key=lambda node_id: (parents_rank(node_id), file_order[node_id]))
        columns[column] = members
        rank.update((node_id, index) for index, node_id in enumerate(members))
    tallest = max(sum(heights[node_id] + ROW_GAP for node_id in members) for members in columns.values())
    first = min(columns)
    for column, members in columns.items():
        total = sum(heights[node_id] + ROW_GAP for node_id in members)
        y = (tallest - total) / 2
        for node_id in members:
            pipeline.node(node_id).position = {"x": float((column - first) * (CARD_WIDTH + COLUMN_GAP)), "y": float(y)}
            y += heights[node_id] + ROW_GAP


def stacked(pipeline: Pipeline) -> bool:
    """True when cards share a position (a hand-written file without positions, say)."""
    return len({(spec.position["x"], spec.position["y"]) for spec in pipeline.nodes}) < len(pipeline.nodes)


def overlapping(pipeline: Pipeline, heights: Mapping[str, float] | None = None) -> bool:
    """True when two cards cover each other."""
    heights = heights if heights is not None else estimated_heights(pipeline)
    boxes = sorted(
        (spec.position["x"], spec.position["y"], heights.get(spec.id, UNKNOWN_CARD_HEIGHT)) for spec in pipeline.nodes
    )
    for index, (x, y, height) in enumerate(boxes):
        for other_x, other_y, other_height in boxes[index + 1 :]:
            if other_x >= x + CARD_WIDTH:
                break  # sorted by x: nothing further right can reach back
            if other_y < y + height and y < other_y + other_height:
                return True
    return False
