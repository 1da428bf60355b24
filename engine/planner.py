"""Turning a checked pipeline into an execution order."""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

from nodeloom.engine.pipeline import Pipeline


class UnknownTarget(ValueError):
    """A requested target node is not in the pipeline."""


def build_graph(pipeline: Pipeline) -> nx.DiGraph:
    graph = nx.DiGraph()
    for spec in pipeline.nodes:
        graph.add_node(spec.id)
    for edge in pipeline.edges:
        graph.add_edge(edge.source, edge.target)
    return graph


def plan(pipeline: Pipeline, targets: Iterable[str] | None = None) -> list[str]:
    """Node ids to execute, in a deterministic topological order.

    With targets, only the targets and their ancestors run; without, everything does.
    Ties are broken by the order nodes appear in the file, so runs are reproducible.
    """
    graph = build_graph(pipeline)
    wanted = set(graph.nodes)
    if targets:
        wanted = set()
        for target in targets:
            if target not in graph:
                raise UnknownTarget(f"no node '{target}' in pipeline '{pipeline.name}'")
            wanted |= nx.ancestors(graph, target) | {target}
    file_order = {spec.id: index for index, spec in enumerate(pipeline.nodes)}
    ordered = nx.lexicographical_topological_sort(graph.subgraph(wanted), key=file_order.__getitem__)
    return list(ordered)


def descendants(pipeline: Pipeline, node_id: str) -> set[str]:
    return nx.descendants(build_graph(pipeline), node_id)
