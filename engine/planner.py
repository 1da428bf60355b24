"""Turning a checked pipeline into an execution order, and into a `RunPlan`: everything about a run
that is decided before anything executes, including the refusals that only a run has to make: a save the
run would execute that would replace what is at its path while its overwrite parameter is off
(`overwrite_refusals`). Validation cannot make those: exporting a pipeline, or running it only up to a node
before the save, overwrites nothing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
from pydantic import ValidationError

from nodeloom.engine.device import resolve_device
from nodeloom.engine.files import RefusedPath, overwrite_refusal, refuses_own_save, writable
from nodeloom.engine.limits import describe_node, shown
from nodeloom.engine.node import Registry, discover
from nodeloom.engine.params import overwrite_flag, written_paths
from nodeloom.engine.paths import nodeloom_home
from nodeloom.engine.pipeline import Pipeline


class UnknownTarget(ValueError):
    """A requested target node is not in the pipeline."""


class TargetExists(ValueError):
    """Saves the run would execute would replace what is at their paths while overwrite is off: one line each."""

    def __init__(self, refusals: list[str]) -> None:
        super().__init__("\n".join(refusals))
        self.refusals = refusals


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


def plan_run(
    pipeline: Pipeline,
    targets: Iterable[str] | None = None,
    device: str | None = None,
    registry: Registry | None = None,
) -> RunPlan:
    """The order and the device of a run. A target that is not in the pipeline (`UnknownTarget`), a device
    this machine lacks (`DeviceUnavailable`) and a save among the planned nodes that would replace what is
    at its path while overwrite is off (`TargetExists`) are the caller's mistakes, raised here, before
    anything is recorded or run, rather than when the save comes, perhaps after an hour of training."""
    targets = list(targets or [])
    order = plan(pipeline, targets)
    resolved_device = resolve_device(device or pipeline.settings.device)
    refusals = overwrite_refusals(pipeline, order, registry)
    if refusals:
        raise TargetExists(refusals)
    return RunPlan(pipeline, order, resolved_device, targets, device)


@dataclass(frozen=True)
class GuardedWrite:
    """A path a node writes while the parameter that would let the write replace what is there is off."""

    node_id: str
    type_id: str
    parameter: str
    path: str  # as the pipeline gives it
    target: Path  # resolved: where the save goes
    kind: str  # "file" or "folder"
    flag: str  # the overwrite parameter, off

    def describe(self) -> str:
        where = describe_node(self.node_id, self.type_id)
        return f"{where}: parameter '{self.parameter}': {self.kind} {shown(self.path, 120)}"


def guarded_writes(
    pipeline: Pipeline, node_ids: Iterable[str] | None = None, registry: Registry | None = None
) -> list[GuardedWrite]:
    """The writes (parameters declared `param_rules(writes=..., overwrite_flag=...)`) of the nodes `node_ids`
    (default: every node), in that order, whose overwrite flag is off. A node whose type or parameters do not
    check, or a path that cannot be written, is left out: validation names those, and the node refuses them
    when it runs."""
    registry = discover() if registry is None else registry
    specs = {spec.id: spec for spec in pipeline.nodes}
    found = []
    for node_id in specs if node_ids is None else node_ids:
        spec = specs[node_id]
        node_type = registry.get(spec.type)
        if node_type is None:
            continue
        try:
            checked = node_type.params.model_validate(spec.params)
        except ValidationError:
            continue
        for name, path, kind in written_paths(node_type.params, spec.params):
            flag = overwrite_flag(node_type.params, name)
            if not flag or getattr(checked, flag):
                continue
            try:
                target = writable(path, kind, nodeloom_home())
            except RefusedPath:
                continue
            found.append(GuardedWrite(node_id, spec.type, name, path, target, kind, flag))
    return found


def overwrite_refusals(
    pipeline: Pipeline, node_ids: Iterable[str] | None = None, registry: Registry | None = None
) -> list[str]:
    """One line for each save of the nodes `node_ids` (default: every node, as `nodeloom validate` asks) that
    would replace what is at its path while its overwrite parameter is off: node, parameter, path and the
    fix. The rule is `engine.files.overwrite_refusal`, which the saving nodes apply again when they run (the
    file may appear in between)."""
    lines = []
    for write in guarded_writes(pipeline, node_ids, registry):
        refusal = overwrite_refusal(write.target, write.kind, write.flag)
        if refusal:
            lines.append(f"{write.describe()} {refusal}")
    return lines


def repeated_saves(plans: list[RunPlan], registry: Registry | None = None) -> list[str]:
    """One line for each file that more than one of `plans` (a sweep's runs, in order) would save while
    overwrite is off: the first run's save would leave it in the way of the next one's (`refuses_own_save`),
    so the sweep is refused before its first run instead of failing from its second."""
    runs_by_target: dict[Path, list[int]] = {}
    first_write: dict[Path, GuardedWrite] = {}
    for number, run_plan in enumerate(plans, start=1):
        for write in guarded_writes(run_plan.pipeline, run_plan.order, registry):
            numbers = runs_by_target.setdefault(write.target, [])
            if refuses_own_save(write.kind) and number not in numbers:
                numbers.append(number)
                first_write.setdefault(write.target, write)
    lines = []
    for target, numbers in runs_by_target.items():
        if len(numbers) > 1:
            write = first_write[target]
            runs = ", ".join(str(number) for number in numbers[:-1]) + f" and {numbers[-1]}"
            lines.append(
                f"{write.describe()} would be saved by runs {runs} of the sweep, so every run after the first "
                f"would find it there; set {write.flag}: true or give each run its own path "
                f"(--grid {write.node_id}.{write.parameter}=...)"
            )
    return lines
