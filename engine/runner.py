"""Executing a planned pipeline: key each node, reuse what is cached, run the rest, report events."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from nodeloom.engine import types as T
from nodeloom.engine.cache import OutputCache, default_cache, first_line, node_key
from nodeloom.engine.codecs import describe_value
from nodeloom.engine.context import Cancelled, CancelToken, NodeError, RunContext
from nodeloom.engine.events import (
    Event,
    NodeCached,
    NodeCancelled,
    NodeFailed,
    NodeFinished,
    NodeQueued,
    NodeSkipped,
    NodeStarted,
    RunFinished,
    RunStarted,
    RunStatus,
)
from nodeloom.engine.node import NodeParams, NodeType, Registry, discover
from nodeloom.engine.out_of_memory import sizing_advice, within_memory
from nodeloom.engine.paths import InvalidNodeId, new_run_id, node_workdir
from nodeloom.engine.pipeline import Edge, NodeSpec, Pipeline
from nodeloom.engine.planner import RunPlan, plan_run

Listener = Callable[[Event], None]


@dataclass
class NodeResult:
    status: RunStatus = RunStatus.QUEUED  # then succeeded, failed, skipped or cancelled
    seconds: float = 0.0
    cached: bool = False
    error: str | None = None
    key: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    run_id: str
    status: RunStatus  # succeeded, failed or cancelled
    device: str
    seconds: float
    nodes: dict[str, NodeResult]
    metrics: dict[str, dict[str, float]]
    cache: OutputCache

    def outputs(self, node_id: str) -> dict[str, Any]:
        """A finished node's outputs (read from the cache on demand)."""
        key = self.nodes[node_id].key
        outputs = self.cache.get(key) if key and self.nodes[node_id].status == RunStatus.SUCCEEDED else None
        if outputs is None:
            raise KeyError(f"node '{node_id}' has no outputs in this run (status {self.nodes[node_id].status})")
        return outputs

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "nodes": {
                node_id: {"status": r.status, "seconds": round(r.seconds, 4), "cached": r.cached}
                | ({"error": r.error} if r.error else {})
                for node_id, r in self.nodes.items()
            },
            "metrics": self.metrics,
        }


def numeric_results(node_type: NodeType, outputs: dict[str, Any]) -> dict[str, float]:
    """Every top-level number in a node's metric outputs (bools excluded)."""
    found: dict[str, float] = {}
    for port in node_type.outputs:
        value = outputs.get(port.name)
        if port.type == T.METRICS and isinstance(value, dict):
            for name, number in value.items():
                if isinstance(number, (int, float)) and not isinstance(number, bool):
                    found[name] = float(number)
    return found


def _summary(node_type: NodeType, outputs: dict[str, Any]) -> dict[str, Any]:
    if node_type.summarize is not None:
        return node_type.summarize(outputs)
    return {port.name: describe_value(outputs.get(port.name)) for port in node_type.outputs}


def run_pipeline(
    pipeline: Pipeline,
    *,
    targets: Iterable[str] | None = None,
    device: str | None = None,
    use_cache: bool = True,
    listeners: Iterable[Listener] = (),
    cancel: CancelToken | None = None,
    cache: OutputCache | None = None,
    run_id: str | None = None,
    registry: Registry | None = None,
    executor: Executor | None = None,
) -> RunResult:
    """Run a checked pipeline (see `engine.validation.load_pipeline`): plan it, then `run_planned`.

    A failing node stops only its descendants; the others still run. `use_cache=False`
    recomputes every planned node (the fresh outputs still refresh the cache).
    """
    return run_planned(
        plan_run(pipeline, targets, device, registry),
        use_cache=use_cache,
        listeners=listeners,
        cancel=cancel,
        cache=cache,
        run_id=run_id,
        registry=registry,
        executor=executor,
    )


def run_planned(
    run_plan: RunPlan,
    *,
    use_cache: bool = True,
    listeners: Iterable[Listener] = (),
    cancel: CancelToken | None = None,
    cache: OutputCache | None = None,
    run_id: str | None = None,
    registry: Registry | None = None,
    executor: Executor | None = None,
) -> RunResult:
    """Run a planned pipeline (`planner.plan_run`): the `executor` takes each node to its outcome (default
    `run_locally`: node by node in the planned order, in this process); the run's own events and result are
    the same whichever executor ran it."""
    run = RunState(
        plan=run_plan,
        run_id=run_id or new_run_id(),
        registry=discover() if registry is None else registry,
        cache=default_cache() if cache is None else cache,
        cancel=cancel or CancelToken(),
        use_cache=use_cache,
        listeners=list(listeners),
    )
    started = time.perf_counter()
    run.emit(RunStarted(run.run_id, run_plan.pipeline.name, run_plan.device, run_plan.order))
    for node_id in run_plan.order:
        run.emit(NodeQueued(run.run_id, node_id))
    (executor or run_locally)(run)
    run.results = {node_id: run.results[node_id] for node_id in run_plan.order}  # in plan order, however run
    run.metrics = {node_id: run.metrics[node_id] for node_id in run_plan.order if node_id in run.metrics}
    status = _run_status(run.results.values())
    seconds = time.perf_counter() - started
    run.emit(RunFinished(run.run_id, status, seconds, run.metrics))
    return RunResult(run.run_id, status, run_plan.device, seconds, run.results, run.metrics, run.cache)


@dataclass
class RunState:
    """A run in progress: what each node's step needs, and what the nodes so far produced."""

    plan: RunPlan
    run_id: str
    registry: Registry
    cache: OutputCache
    cancel: CancelToken
    use_cache: bool
    listeners: list[Listener]
    results: dict[str, NodeResult] = field(default_factory=dict)  # the nodes done so far
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    specs: dict[str, NodeSpec] = field(init=False)
    incoming: dict[str, list[Edge]] = field(init=False)  # per node, the edges feeding it

    def __post_init__(self) -> None:
        pipeline = self.plan.pipeline
        self.specs = {spec.id: spec for spec in pipeline.nodes}
        self.incoming = {node_id: pipeline.incoming(node_id) for node_id in self.plan.order}

    def emit(self, event: Event) -> None:
        for listener in self.listeners:
            listener(event)

    def collect_metrics(self, node_id: str, node_type: NodeType, outputs: dict[str, Any]) -> None:
        found = numeric_results(node_type, outputs)
        if found:
            self.metrics[node_id] = found


def _run_status(results: Iterable[NodeResult]) -> RunStatus:
    """Cancelled if any node was, else failed if any node failed (skipped nodes follow a failure), else succeeded."""
    statuses = {result.status for result in results}
    return next((worst for worst in (RunStatus.CANCELLED, RunStatus.FAILED) if worst in statuses), RunStatus.SUCCEEDED)


Executor = Callable[[RunState], None]  # takes every planned node to its outcome in `run.results`


def run_locally(run: RunState) -> None:
    """The local executor: one node after the other, in the planned order, in this process."""
    for node_id in run.plan.order:
        run.results[node_id] = run_node(run, node_id)


@dataclass(frozen=True)
class NodeWork:
    """A node that has to be computed (`compute`): not cancelled, skipped or cached, and keyed."""

    node_id: str
    node_type: NodeType
    params: NodeParams
    key: str


def run_node(run: RunState, node_id: str) -> NodeResult:
    """Take one node to one of its five outcomes, emitting its events: cancelled (the run was stopped
    before it), skipped (an upstream node did not succeed), cached (its outputs are reused), or run,
    which ends succeeded, failed, or cancelled midway."""
    step = prepare_node(run, node_id)
    return step if isinstance(step, NodeResult) else compute(run, step)


def prepare_node(run: RunState, node_id: str) -> NodeResult | NodeWork:
    """Everything about a node decided before it computes, once its upstream nodes have their outcomes: its
    outcome when it is cancelled, skipped or cached (events emitted), else the work of computing it."""
    if run.cancel.cancelled:
        run.emit(NodeCancelled(run.run_id, node_id))
        return NodeResult(status=RunStatus.CANCELLED)
    blocked = [edge.source for edge in run.incoming[node_id] if run.results[edge.source].status != RunStatus.SUCCEEDED]
    if blocked:
        run.emit(NodeSkipped(run.run_id, node_id, f"upstream node '{blocked[0]}' {run.results[blocked[0]].status}"))
        return NodeResult(status=RunStatus.SKIPPED)
    node_type, params = typed_params(run, node_id)
    input_keys = {edge.ports[1]: f"{run.results[edge.source].key}:{edge.ports[0]}" for edge in run.incoming[node_id]}
    try:
        key = node_key(node_type, params.model_dump(mode="json"), input_keys, run.plan.pipeline.settings.seed)
    except Exception as exc:  # a file it reads became unreadable (or a FIFO) after validation: the node's failure
        error = f"cannot fingerprint the files it reads: {first_line(exc)}"
        run.emit(NodeStarted(run.run_id, node_id))
        run.emit(NodeFailed(run.run_id, node_id, error))
        return NodeResult(status=RunStatus.FAILED, error=error)
    if run.use_cache and run.cache.has(key):
        reused = _reuse(run, node_id, node_type, key)
        if reused is not None:
            return reused
    return NodeWork(node_id, node_type, params, key)


def typed_params(run: RunState, node_id: str) -> tuple[NodeType, NodeParams]:
    spec = run.specs[node_id]
    node_type = run.registry.get(spec.type)
    assert node_type is not None, "load_pipeline checks node types"
    return node_type, node_type.params.model_validate(spec.params)


def _reuse(run: RunState, node_id: str, node_type: NodeType, key: str) -> NodeResult | None:
    """Cached outputs: read from disk only when they hold metrics, which the run reports. None when the entry
    turns out damaged on reading (the cache has moved it aside): the node is computed instead. Only the metric
    outputs are read: a trainer's model or a filter's rows beside its metrics stay on disk until a node needs them."""
    metric_ports = [port.name for port in node_type.outputs if port.type == T.METRICS]
    if metric_ports:
        outputs = run.cache.get(key, ports=metric_ports)
        if outputs is None:
            return None
        run.collect_metrics(node_id, node_type, outputs)
    run.emit(NodeCached(run.run_id, node_id))
    return NodeResult(status=RunStatus.SUCCEEDED, cached=True, key=key)


def compute(run: RunState, work: NodeWork) -> NodeResult:
    """Run the node and store its outputs. A failure is the node's: reported, and the run goes on."""
    node_id, node_type, params, key = work.node_id, work.node_type, work.params, work.key
    run.emit(NodeStarted(run.run_id, node_id))
    clock = time.perf_counter()
    try:
        outputs = execute_node(run, node_id, node_type, params)
    except Cancelled:
        run.emit(NodeCancelled(run.run_id, node_id))
        return NodeResult(status=RunStatus.CANCELLED, seconds=time.perf_counter() - clock, key=key)
    except NodeError as exc:  # explained by the node: the message alone, no traceback
        failed = NodeResult(status=RunStatus.FAILED, seconds=time.perf_counter() - clock, error=str(exc), key=key)
        run.emit(NodeFailed(run.run_id, node_id, str(exc)))
        return failed
    except Exception as exc:  # a crash: one line for the user, the traceback for the log
        error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        failed = NodeResult(status=RunStatus.FAILED, seconds=time.perf_counter() - clock, error=error, key=key)
        run.emit(NodeFailed(run.run_id, node_id, error, traceback.format_exc()))
        return failed
    seconds = time.perf_counter() - clock
    run.cache.put(key, node_type, outputs, replace=not run.use_cache)
    finished = NodeResult(status=RunStatus.SUCCEEDED, seconds=seconds, key=key, summary=_summary(node_type, outputs))
    run.collect_metrics(node_id, node_type, outputs)
    run.emit(NodeFinished(run.run_id, node_id, finished.seconds, finished.summary))
    return finished


def _upstream_outputs(run: RunState, node_id: str) -> dict[str, Any]:
    """A finished node's outputs. Its cache entry was whole when the run looked it up, but may turn out damaged
    when read in full (a checksum that no longer matches): then the cache has moved it aside, and the node is
    computed again here, so the run heals it instead of failing."""
    key = run.results[node_id].key
    assert key is not None, "only succeeded nodes feed others, and they have keys"
    outputs = run.cache.get(key)
    if outputs is None:
        node_type, params = typed_params(run, node_id)
        outputs = execute_node(run, node_id, node_type, params)
        run.cache.put(key, node_type, outputs, replace=True)
    return outputs


def execute_node(run: RunState, node_id: str, node_type: NodeType, params: NodeParams) -> dict[str, Any]:
    """The node's own work: gather its inputs from the cache, call it, check what it returned."""
    inputs = {edge.ports[1]: _upstream_outputs(run, edge.source)[edge.ports[0]] for edge in run.incoming[node_id]}
    try:
        workdir = node_workdir(run.run_id, node_id)
    except InvalidNodeId as exc:  # validation refuses such ids; this guards callers that skipped it
        raise NodeError(str(exc)) from None
    ctx = RunContext(
        run_id=run.run_id,
        node_id=node_id,
        device=run.plan.device,
        seed=run.plan.pipeline.settings.seed,
        workdir=workdir,
        cancel=run.cancel,
        emit=run.emit,
    )
    # Running out of memory is the node's failure, in the one wording of engine/out_of_memory.py, for every node.
    advice = sizing_advice(node_type.memory_params, params)
    outputs = within_memory(node_type.type_id, "", run.plan.device, advice, lambda: node_type.run(ctx, inputs, params))
    missing = [port.name for port in node_type.outputs if port.name not in (outputs or {})]
    if missing:
        raise NodeError(f"node type {node_type.type_id} returned no value for output(s) {', '.join(missing)}")
    run.cancel.raise_if_cancelled()
    return outputs
