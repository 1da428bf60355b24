"""Executing a checked pipeline: plan, key, reuse what is cached, run the rest, report events."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from nodeloom.engine import types as T
from nodeloom.engine.cache import OutputCache, default_cache, node_key
from nodeloom.engine.codecs import describe_value
from nodeloom.engine.context import CancelToken, Cancelled, NodeError, RunContext
from nodeloom.engine.device import resolve_device
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
from nodeloom.engine.node import NodeType, Registry, discover
from nodeloom.engine.paths import new_run_id, run_folder
from nodeloom.engine.pipeline import Pipeline
from nodeloom.engine.planner import plan

log = logging.getLogger("nodeloom.run")
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
) -> RunResult:
    """Run a checked pipeline (see `engine.validation.load_pipeline`).

    A failing node stops only its descendants; the others still run. `use_cache=False`
    recomputes every planned node (the fresh outputs still refresh the cache).
    """
    registry = discover() if registry is None else registry
    cache = default_cache() if cache is None else cache
    cancel = cancel or CancelToken()
    run_id = run_id or new_run_id()
    listeners = list(listeners)
    settings = pipeline.settings

    def emit(event: Event) -> None:
        for listener in listeners:
            listener(event)

    started = time.perf_counter()
    order = plan(pipeline, targets)
    resolved_device = resolve_device(device or settings.device)
    results = {node_id: NodeResult() for node_id in order}
    emit(RunStarted(run_id, pipeline.name, resolved_device, order))
    for node_id in order:
        emit(NodeQueued(run_id, node_id))

    specs = {spec.id: spec for spec in pipeline.nodes}
    incoming = {node_id: pipeline.incoming(node_id) for node_id in order}
    metrics: dict[str, dict[str, float]] = {}
    workdirs = run_folder(run_id)

    for node_id in order:
        spec, result = specs[node_id], results[node_id]
        node_type = registry.get(spec.type)
        assert node_type is not None, "load_pipeline checks node types"
        if cancel.cancelled:
            result.status = RunStatus.CANCELLED
            emit(NodeCancelled(run_id, node_id))
            continue
        blocked = [edge.source for edge in incoming[node_id] if results[edge.source].status != RunStatus.SUCCEEDED]
        if blocked:
            result.status = RunStatus.SKIPPED
            reason = f"upstream node '{blocked[0]}' {results[blocked[0]].status}"
            emit(NodeSkipped(run_id, node_id, reason))
            continue
        params = node_type.params.model_validate(spec.params)
        canonical = params.model_dump(mode="json")
        input_keys = {edge.target_port: f"{results[edge.source].key}:{edge.source_port}" for edge in incoming[node_id]}
        result.key = node_key(node_type, canonical, input_keys, settings.seed)  # type: ignore[arg-type]

        if use_cache and cache.has(result.key):
            outputs = cache.get(result.key) if any(p.type == T.METRICS for p in node_type.outputs) else None
            if outputs is not None:
                metrics_found = numeric_results(node_type, outputs)
                if metrics_found:
                    metrics[node_id] = metrics_found
            result.status, result.cached = RunStatus.SUCCEEDED, True
            emit(NodeCached(run_id, node_id))
            continue

        emit(NodeStarted(run_id, node_id))
        clock = time.perf_counter()
        try:
            inputs = {}
            for edge in incoming[node_id]:
                upstream = cache.get(results[edge.source].key)  # type: ignore[arg-type]
                if upstream is None:
                    raise NodeError(f"the output of '{edge.source}' is no longer in the cache; run again with --no-cache")
                inputs[edge.target_port] = upstream[edge.source_port]
            ctx = RunContext(
                run_id=run_id,
                node_id=node_id,
                device=resolved_device,
                seed=settings.seed,
                workdir=workdirs / node_id,
                cancel=cancel,
                emit=emit,
            )
            outputs = node_type.run(ctx, inputs, params)
            missing = [port.name for port in node_type.outputs if port.name not in (outputs or {})]
            if missing:
                raise NodeError(f"node type {node_type.type_id} returned no value for output(s) {', '.join(missing)}")
            cancel.raise_if_cancelled()
        except Cancelled:
            result.status, result.seconds = RunStatus.CANCELLED, time.perf_counter() - clock
            emit(NodeCancelled(run_id, node_id))
            continue
        except NodeError as exc:
            result.status, result.error = RunStatus.FAILED, str(exc)
            result.seconds = time.perf_counter() - clock
            emit(NodeFailed(run_id, node_id, result.error))
            continue
        except Exception as exc:  # any other failure is the node's: report it, keep the run going
            result.status = RunStatus.FAILED
            result.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            result.seconds = time.perf_counter() - clock
            emit(NodeFailed(run_id, node_id, result.error, traceback.format_exc()))
            continue
        result.seconds = time.perf_counter() - clock
        cache.put(result.key, node_type, outputs)
        result.status = RunStatus.SUCCEEDED
        result.summary = _summary(node_type, outputs)
        metrics_found = numeric_results(node_type, outputs)
        if metrics_found:
            metrics[node_id] = metrics_found
        emit(NodeFinished(run_id, node_id, result.seconds, result.summary))

    statuses = {result.status for result in results.values()}
    status = next((worst for worst in (RunStatus.CANCELLED, RunStatus.FAILED) if worst in statuses), RunStatus.SUCCEEDED)
    seconds = time.perf_counter() - started
    emit(RunFinished(run_id, status, seconds, metrics))
    return RunResult(run_id, status, resolved_device, seconds, results, metrics, cache)
