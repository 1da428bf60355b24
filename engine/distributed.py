"""Multi-process runs under PyTorch's launcher (torchrun): which process this is, and how rank 0 leads the others.

Under `torchrun --nproc_per_node N -m nodeloom run PIPELINE` (what `nodeloom run --processes N` starts), every
process plans the same run under the same run id. Rank 0 runs it as a single process would: it computes each node,
stores the outputs in the cache, emits the events and records the run. The other ranks (followers) take part only
in the nodes declared `distributed=True` (train.trainer, whose Trainer does DDP itself from the launcher's
environment): when rank 0 starts one, its `Leader` listener tells the followers which; they read the node's inputs
from the cache that rank 0 filled, run it alongside rank 0, and throw their outputs away. Once the plan holds no
distributed node left, rank 0 says so and the followers exit, while rank 0 runs the rest alone.

The word travels by broadcast on the default process group, so a follower waits for rank 0 (for data preparation,
say) at most the group's timeout, NODELOOM_DISTRIBUTED_TIMEOUT seconds (default 1800). A process that dies ends the
others through torchrun; rank 0 records the run as failed when torchrun stops it (SIGTERM).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from nodeloom.engine.cache import OutputCache, default_cache
from nodeloom.engine.context import CancelToken
from nodeloom.engine.events import Event, RunStatus
from nodeloom.engine.node import Registry, discover
from nodeloom.engine.planner import RunPlan
from nodeloom.engine.runner import NodeResult, RunState, execute_node, prepare_node, typed_params

TIMEOUT_VARIABLE = "NODELOOM_DISTRIBUTED_TIMEOUT"
DEFAULT_TIMEOUT_SECONDS = 1800  # torch's own default for a process group
DONE = None  # the leader's last word: no distributed node is left to run
# A node's outcomes after which the followers are free of it (a cancellation only when it came before the start).
OUTCOMES = ("finished", "cached", "skipped", "cancelled")


class DistributedSetupError(RuntimeError):
    """The launcher's environment or the timeout setting cannot be used; the message says which and how to fix it."""


class GroupLost(Exception):
    """torchrun stopped this process because another process of the run ended."""


@dataclass(frozen=True)
class Ranks:
    """This process's place in a launched group (torchrun's RANK, LOCAL_RANK and WORLD_SIZE)."""

    rank: int
    local_rank: int
    world_size: int

    @property
    def leads(self) -> bool:
        return self.rank == 0


def launched_ranks(environ: Mapping[str, str] = os.environ) -> Ranks | None:
    """This process's ranks when a launcher started it in a group of two or more; None otherwise."""
    try:
        world_size = int(environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return None
        ranks = Ranks(int(environ["RANK"]), int(environ.get("LOCAL_RANK", "0")), world_size)
    except (KeyError, ValueError):
        raise DistributedSetupError(
            "WORLD_SIZE, RANK and LOCAL_RANK must be whole numbers set by a launcher such as torchrun; "
            "unset WORLD_SIZE to run in one process"
        ) from None
    if not 0 <= ranks.rank < world_size:
        raise DistributedSetupError(
            f"RANK {ranks.rank} is outside WORLD_SIZE {world_size}; start the run with torchrun"
        )
    return ranks


def group_timeout(environ: Mapping[str, str] = os.environ) -> timedelta:
    """How long any process waits for the others (NODELOOM_DISTRIBUTED_TIMEOUT seconds)."""
    text = environ.get(TIMEOUT_VARIABLE, "").strip()
    if not text:
        return timedelta(seconds=DEFAULT_TIMEOUT_SECONDS)
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise DistributedSetupError(f"{TIMEOUT_VARIABLE}={text!r}: use a number of seconds above 0, e.g. 3600")
    return timedelta(seconds=seconds)


def backend_for(device: str) -> str:
    """gloo on CPU; on CUDA nccl for the tensors, with gloo beside it for the small messages of this module."""
    return "cpu:gloo,cuda:nccl" if device.startswith("cuda") else "gloo"


def join_group(ranks: Ranks, device: str, timeout: timedelta) -> None:
    """Start the default process group (the Trainer's accelerate then uses it rather than making its own).
    Each process takes the GPU of its local rank, so `cuda` means a different device in each."""
    import torch
    import torch.distributed as dist

    if device.startswith("cuda"):
        torch.cuda.set_device(ranks.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend_for(device), timeout=timeout)


def leave_group() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def from_leader(value: Any = None) -> Any:
    """Rank 0's `value`, on every rank (a broadcast: each rank waits here until rank 0 sends)."""
    import torch
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0, device=torch.device("cpu"))
    return box[0]


def distributed_nodes(plan: RunPlan, registry: Registry) -> list[str]:
    """The planned nodes that every rank runs, in the plan's order."""
    types = {spec.id: registry.get(spec.type) for spec in plan.pipeline.nodes}
    return [node_id for node_id in plan.order if getattr(types[node_id], "distributed", False)]


def stop_on_sigterm() -> None:
    """torchrun stops the surviving processes with SIGTERM when one fails: rank 0 then records the run as failed
    (the exception fails the running node, or ends the run) instead of vanishing with the run still `running`."""

    def group_lost(signum: int, frame: Any) -> None:
        raise GroupLost("another process of this run ended (its message is above); the launcher stopped this one")

    signal.signal(signal.SIGTERM, group_lost)


@dataclass
class Leader:
    """Rank 0's run listener: tells the followers when a distributed node starts, and when none is left.

    After a distributed node fails or is cancelled midway, the followers are inside it (in a collective that rank 0
    left): rank 0 then says nothing more, and its non-zero exit makes torchrun end them."""

    remaining: list[str]  # the distributed nodes that have not reached an outcome yet, in order
    send: Any = from_leader
    silent: bool = False  # DONE was sent, or the followers are stuck in a node that rank 0 left
    running: str | None = None

    def __post_init__(self) -> None:
        self.silent = not self.remaining  # the followers did not wait: nothing to run with them

    def __call__(self, event: Event) -> None:
        node_id = getattr(event, "node_id", None)
        if self.silent:
            return
        if event.kind == "run_finished":
            self._done()
        elif node_id not in self.remaining:
            return
        elif event.kind == "started":
            self.running = node_id
            self.send(node_id)
        elif event.kind == "failed" or (event.kind == "cancelled" and self.running == node_id):
            self.silent = True
        elif event.kind in OUTCOMES:
            self.remaining.remove(node_id)
            if not self.remaining:
                self._done()

    def _done(self) -> None:
        self.silent = True
        self.send(DONE)


@dataclass
class Follower:
    """A follower's part of a run: wait for rank 0's word, and run each distributed node it starts alongside it."""

    plan: RunPlan
    run_id: str
    registry: Registry = field(default_factory=discover)
    cache: OutputCache = field(default_factory=default_cache)
    cancel: CancelToken = field(default_factory=CancelToken)
    receive: Any = from_leader

    def follow(self) -> list[str]:
        """Run every distributed node rank 0 starts, until it says none is left; the nodes run, in order."""
        run = RunState(self.plan, self.run_id, self.registry, self.cache, self.cancel, use_cache=True, listeners=[])
        ran: list[str] = []
        if not distributed_nodes(self.plan, self.registry):
            return ran  # rank 0 runs the whole plan alone and says nothing
        while (node_id := self.receive()) is not DONE:
            for edge in run.incoming[node_id]:
                _key_with_ancestors(run, edge.source)
            node_type, params = typed_params(run, node_id)
            execute_node(run, node_id, node_type, params)  # rank 0 stores the outputs: this copy is dropped
            ran.append(node_id)
        return ran


def _key_with_ancestors(run: RunState, node_id: str) -> None:
    """The outcome (with its cache key) of a node that rank 0 computed or reused, and of the nodes it depends on,
    so that `execute_node` reads a distributed node's inputs from the cache rank 0 filled. Nothing is computed here:
    an entry that is missing after all (kept in memory only) is computed by `execute_node`, as a damaged one is."""
    if node_id in run.results:
        return
    for edge in run.incoming[node_id]:
        _key_with_ancestors(run, edge.source)
    step = prepare_node(run, node_id)
    run.results[node_id] = step if isinstance(step, NodeResult) else NodeResult(RunStatus.SUCCEEDED, key=step.key)
