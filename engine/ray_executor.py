"""The Ray executor: each node that has to compute runs as a Ray task, dispatched as soon as its inputs are done,
so independent branches run side by side, on one machine or on a cluster.

Node keys never depend on output values, so the driver (the process that called `run_planned`) decides every
node as the local executor does (`runner.prepare_node`: cancelled, skipped, cached or to compute) and only the
computing goes to a task, which runs `runner.compute`, the local executor's own step. Outputs travel through the
on-disk cache under NODELOOM_HOME: the task writes the node's cache entry, a downstream task reads it, and the
driver reads only the metrics the task returns. A cluster of several machines therefore needs NODELOOM_HOME on
storage they all share, at the same path, and the same NodeLoom installed on each (docs/scale.md).

A task's events (started, progress, log, finished…) reach the driver through a small mailbox actor, which the
driver drains into the run's listeners; the driver alone writes the run to the store. Stopping the run
(`CancelToken`) cancels the tasks: Ray interrupts a running one, which reports itself cancelled.

Ray is an optional extra, imported only when this executor starts.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any

from nodeloom.engine.cache import OutputCache, first_line
from nodeloom.engine.context import CancelToken
from nodeloom.engine.events import Event, NodeCancelled, NodeFailed, NodeLog, NodeProgress, RunStatus
from nodeloom.engine.node import Registry
from nodeloom.engine.out_of_memory import out_of_memory_message, sizing_advice
from nodeloom.engine.paths import nodeloom_home
from nodeloom.engine.planner import RunPlan
from nodeloom.engine.runner import NodeResult, NodeWork, RunState, compute, prepare_node, typed_params

RAY_MISSING = 'the Ray executor needs Ray, an optional extra: pip install "nodeloom[ray]"'
POLL_SECONDS = 0.1  # how long the driver waits for a task before it forwards events and checks for a stop
RELAY_SECONDS = 0.25  # a task sends progress and log events at most this often; state changes at once


class RayUnavailable(RuntimeError):
    """Ray is not installed, or could not be started or reached; the message says which, in one line."""


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayUnavailable(RAY_MISSING) from None
    return ray


class RayExecutor:
    """An executor for `run_planned(executor=...)`, used between `start` and `stop` (or as a context manager), so
    that a sweep's runs share one Ray instance.

    Without `address` it starts a local Ray instance with `num_cpus` (default: every core) and stops it at the
    end; with one it connects to that cluster. When this process has Ray running already (a test, a notebook),
    that instance is used and left running.
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None):
        self.address = address
        self.num_cpus = num_cpus
        self._ray: Any = None
        self._started_ray = False
        self._task: Any = None
        self._mailbox: Any = None

    def start(self) -> RayExecutor:
        ray = import_ray()
        if not ray.is_initialized():
            try:
                ray.init(**self._init_options())
            except Exception as exc:  # a wrong address, a cluster that is down, a local start that failed
                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
                raise RayUnavailable(f"could not start or reach {where}: {first_line(exc)}") from None
            self._started_ray = True
        self._ray = ray
        # No retries: a node that crashed its worker is reported as failed once, not silently run again.
        self._task = ray.remote(max_retries=0)(_node_task)
        self._mailbox = ray.remote(num_cpus=0)(Mailbox).remote()
        return self

    def _init_options(self) -> dict[str, Any]:
        # Quiet: what a node prints stays in Ray's worker logs; the run's own events and log lines reach the
        # driver through the mailbox, so the progress display and the store show them as in a local run.
        options: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
        if self.address:
            return options | {"address": self.address}
        return options | {"num_cpus": self.num_cpus or os.cpu_count(), "include_dashboard": False}

    def stop(self) -> None:
        if self._ray is None:
            return
        self._ray.kill(self._mailbox)
        if self._started_ray:
            self._ray.shutdown()
        self._ray = None

    def __enter__(self) -> RayExecutor:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __call__(self, run: RunState) -> None:
        assert self._ray is not None, "RayExecutor.start() comes before running"
        _Dispatch(self._ray, self._task, self._mailbox, run).run_all()


@dataclasses.dataclass(frozen=True)
class NodeJob:
    """What a task needs to compute one node the way the local executor does."""

    plan: RunPlan  # with the device the task runs on
    run_id: str
    node_id: str
    key: str
    results: dict[str, NodeResult]  # the upstream nodes' outcomes (their cache keys)
    registry: Registry  # the pipeline's node types
    use_cache: bool
    home: str  # the driver's NODELOOM_HOME: the task's working folder and logs go there
    cache_root: str


class _Dispatch:
    """One run on Ray: start each node once its upstream nodes are done, collect outcomes, forward events."""

    def __init__(self, ray: Any, task: Any, mailbox: Any, run: RunState):
        self.ray, self.task, self.mailbox, self.run = ray, task, mailbox, run
        self.waiting = list(run.plan.order)  # not started yet, in plan order
        self.running: dict[Any, str] = {}  # task reference -> node id
        self.stopping = False
        self.gpus = float(ray.cluster_resources().get("GPU", 0))
        pipeline_types = {spec.type for spec in run.plan.pipeline.nodes}
        self.registry = Registry({type_id: run.registry.types[type_id] for type_id in pipeline_types})

    def run_all(self) -> None:
        try:
            while self.waiting or self.running:
                self.start_ready()
                if self.running:
                    self.collect()
        except BaseException:  # a second Ctrl-C, or a listener that failed: nothing of this run goes on
            for ref in self.running:
                self.ray.cancel(ref, force=True)
            raise

    def start_ready(self) -> None:
        """Decide every waiting node whose upstream nodes have outcomes; send those that compute to Ray."""
        for node_id in list(self.waiting):
            if any(edge.source not in self.run.results for edge in self.run.incoming[node_id]):
                continue
            self.waiting.remove(node_id)
            step = prepare_node(self.run, node_id)
            if isinstance(step, NodeResult):
                self.run.results[node_id] = step
            else:
                self.submit(step)

    def submit(self, work: NodeWork) -> None:
        device = self.run.plan.device
        wants_gpu = work.node_type.wants_accelerator and device.startswith("cuda")
        if wants_gpu and self.gpus < 1:
            error = f"the Ray cluster has no GPU for this node on {device}; run with --device cpu, or add GPU machines"
            self.run.emit(NodeFailed(self.run.run_id, work.node_id, error))
            self.run.results[work.node_id] = NodeResult(status=RunStatus.FAILED, error=error, key=work.key)
            return
        # Ray gives a GPU task its own GPU as "cuda"; a task without one sees no GPU at all, so it runs on the CPU.
        task_device = ("cuda" if wants_gpu else "cpu") if device.startswith("cuda") else device
        job = NodeJob(
            plan=dataclasses.replace(self.run.plan, device=task_device),
            run_id=self.run.run_id,
            node_id=work.node_id,
            key=work.key,
            results=dict(self.run.results),
            registry=self.registry,
            use_cache=self.run.use_cache,
            home=str(nodeloom_home()),
            cache_root=str(self.run.cache.root),
        )
        resources = {"num_gpus": 1} if wants_gpu else {"num_cpus": 1}
        self.running[self.task.options(**resources).remote(job, self.mailbox)] = work.node_id

    def collect(self) -> None:
        """Wait briefly for a task; forward what the tasks reported; stop the tasks when the run is stopped; take
        the outcome of a finished task (after its events, which it sent before it returned)."""
        done, _ = self.ray.wait(list(self.running), num_returns=1, timeout=POLL_SECONDS)
        self.forward_events()
        if self.run.cancel.cancelled and not self.stopping:
            self.stopping = True
            for ref in self.running:
                self.ray.cancel(ref)  # a running task gets KeyboardInterrupt, a waiting one never starts
        for ref in done:
            node_id = self.running.pop(ref)
            self.run.results[node_id] = self.outcome(ref, node_id)

    def forward_events(self) -> None:
        for event in self.ray.get(self.mailbox.take.remote()):
            self.run.emit(event)

    def outcome(self, ref: Any, node_id: str) -> NodeResult:
        exceptions = self.ray.exceptions
        try:
            result, metrics = self.ray.get(ref)
        except exceptions.TaskCancelledError:  # stopped before it started
            self.run.emit(NodeCancelled(self.run.run_id, node_id))
            return NodeResult(status=RunStatus.CANCELLED)
        except exceptions.RayError as exc:  # its worker died (killed for memory, crashed) or the task never ran
            error = self.task_failure(node_id, exc)
            self.run.emit(NodeFailed(self.run.run_id, node_id, error, str(exc)))
            return NodeResult(status=RunStatus.FAILED, error=error)
        if metrics:
            self.run.metrics[node_id] = metrics
        return result

    def task_failure(self, node_id: str, exc: Exception) -> str:
        """One line for a task Ray could not finish; running out of memory in the one wording of every node."""
        if isinstance(exc, self.ray.exceptions.OutOfMemoryError):
            node_type, params = typed_params(self.run, node_id)
            advice = sizing_advice(node_type.memory_params, params)
            return out_of_memory_message(node_type.type_id, "CPU", self.run.plan.device, advice, "")
        cause = getattr(exc, "cause", None) or exc
        return f"the Ray task did not finish ({type(cause).__name__}: {first_line(cause)})"


class Mailbox:
    """A Ray actor holding the events the tasks sent until the driver takes them."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def post(self, events: list[Event]) -> None:
        self.events.extend(events)

    def take(self) -> list[Event]:
        taken, self.events = self.events, []
        return taken


class _Relay:
    """A task's listener: batches progress and log events (a training loop may report every step), sends the
    rest at once, and everything before the task returns, so the driver has a node's events before its outcome."""

    def __init__(self, ray: Any, mailbox: Any):
        self.ray, self.mailbox = ray, mailbox
        self.pending: list[Event] = []
        self.last_sent = time.monotonic()

    def __call__(self, event: Event) -> None:
        self.pending.append(event)
        routine = isinstance(event, (NodeProgress, NodeLog))
        if not routine or time.monotonic() - self.last_sent >= RELAY_SECONDS:
            self.send()

    def send(self) -> None:
        if self.pending:
            self.ray.get(self.mailbox.post.remote(self.pending))
            self.pending = []
        self.last_sent = time.monotonic()


_worker_caches: dict[str, OutputCache] = {}  # by root: a worker keeps outputs in memory across the tasks it runs


def _node_task(job: NodeJob, mailbox: Any) -> tuple[NodeResult, dict[str, float]]:
    """The task: compute one node with the local executor's step, in a Ray worker. Returns its outcome and the
    metrics it found (its outputs are in the cache)."""
    import ray

    os.environ["NODELOOM_HOME"] = job.home  # a worker outlives runs; it follows the driver of this one
    if job.cache_root not in _worker_caches:
        _worker_caches[job.cache_root] = OutputCache(Path(job.cache_root))
    relay = _Relay(ray, mailbox)
    run = RunState(
        plan=job.plan,
        run_id=job.run_id,
        registry=job.registry,
        cache=_worker_caches[job.cache_root],
        cancel=CancelToken(),
        use_cache=job.use_cache,
        listeners=[relay],
        results=job.results,
    )
    node_type, params = typed_params(run, job.node_id)
    work = NodeWork(job.node_id, node_type, params, job.key)
    started = time.perf_counter()
    try:
        result = compute(run, work)
    except KeyboardInterrupt:  # ray.cancel: the run was stopped while this node computed
        run.emit(NodeCancelled(run.run_id, job.node_id))
        result = NodeResult(status=RunStatus.CANCELLED, seconds=time.perf_counter() - started, key=job.key)
    relay.send()
    return result, run.metrics.get(job.node_id, {})
