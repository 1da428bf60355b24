"""Turning a checked pipeline into an execution order, and into a `RunPlan`: everything about a run
that is decided before anything executes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx

from nodeloom.engine.device import resolve_device
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


@dataclass(frozen=True)
class RunPlan:
    """A run decided, not started: built once (`plan_run`) and handed to whoever records and runs it."""

    pipeline: Pipeline
    order: list[str]  # node ids in execution order
    device: str  # the device the run resolved to ("cpu", "cuda", "cuda:1", "mps")
    targets: list[str]  # the requested --until nodes; empty: the whole pipeline
    requested_device: str | None  # what was asked for; None: the pipeline's setting


def plan_run(pipeline: Pipeline, targets: Iterable[str] | None = None, device: str | None = None) -> RunPlan:
    """The order and the device of a run. A target that is not in the pipeline (`UnknownTarget`) and a
    device this machine lacks (`DeviceUnavailable`) are the caller's mistakes, raised here, before anything
    is recorded or run."""
    targets = list(targets or [])
    order = plan(pipeline, targets)
    return RunPlan(pipeline, order, resolve_device(device or pipeline.settings.device), targets, device)
