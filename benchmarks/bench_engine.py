"""Engine overhead: a chain of 1,000 trivial nodes run by the engine vs the same functions called directly.

Prints the per-node overhead of a first (uncached) run, of a fully cached rerun in the same process
(memory cache), and of a fully cached rerun with an empty memory cache (disk, as in a new process).
Goals: overhead under 1 ms per node; a fully cached rerun under 0.5 s.

    python benchmarks/bench_engine.py [--nodes 1000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _report import figure

from nodeloom.engine import Input, NodeParams, Output, node
from nodeloom.engine.cache import OutputCache
from nodeloom.engine.node import Registry
from nodeloom.engine.runner import run_pipeline
from nodeloom.engine.types import TEXT
from nodeloom.engine.validation import load_pipeline

REGISTRY = Registry()


class StepParams(NodeParams):
    increment: int = 1


def step(value: str, increment: int) -> str:
    return str(int(value) + increment)


@node(
    "bench.start",
    title="Start",
    category="bench",
    outputs=[Output("value", TEXT)],
    params=StepParams,
    registry=REGISTRY,
)
def start(ctx, inputs, params):
    """Emit the first number."""
    return {"value": str(params.increment)}


@node(
    "bench.step",
    title="Step",
    category="bench",
    inputs=[Input("value", TEXT)],
    outputs=[Output("value", TEXT)],
    params=StepParams,
    registry=REGISTRY,
)
def step_node(ctx, inputs, params):
    """Add the increment."""
    return {"value": step(inputs["value"], params.increment)}


def chain(length: int) -> dict:
    nodes = [{"id": "n0", "type": "bench.start"}] + [{"id": f"n{i}", "type": "bench.step"} for i in range(1, length)]
    edges = [{"source": f"n{i - 1}", "target": f"n{i}"} for i in range(1, length)]
    return {"schema_version": 1, "name": "chain", "nodes": nodes, "edges": edges}


def timed(function) -> tuple[float, object]:
    started = time.perf_counter()
    value = function()
    return time.perf_counter() - started, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    length = parser.parse_args().nodes

    def direct() -> str:
        value = "1"
        for _ in range(1, length):
            value = step(value, 1)
        return value

    direct_seconds, direct_value = timed(direct)
    with tempfile.TemporaryDirectory() as home:
        os.environ["NODELOOM_HOME"] = home
        validate_seconds, pipeline = timed(lambda: load_pipeline(chain(length), REGISTRY))
        cache = OutputCache(Path(home) / "cache")

        def engine_run(use_cache=True, run_cache=cache):
            return run_pipeline(pipeline, registry=REGISTRY, cache=run_cache, device="cpu", use_cache=use_cache)

        first_seconds, first = timed(engine_run)
        assert first.outputs(f"n{length - 1}")["value"] == direct_value
        memory_seconds, memory_rerun = timed(engine_run)
        disk_seconds, disk_rerun = timed(lambda: engine_run(run_cache=OutputCache(Path(home) / "cache")))
        assert all(r.cached for r in memory_rerun.nodes.values()) and all(r.cached for r in disk_rerun.nodes.values())
        nocache_seconds, _ = timed(lambda: engine_run(use_cache=False))

    per_node = lambda seconds: (seconds - direct_seconds) / length * 1000  # noqa: E731
    print(f"chain of {length} trivial nodes")
    print(f"  direct function calls            {direct_seconds * 1000:9.2f} ms")
    print(f"  load + validate                  {validate_seconds * 1000:9.2f} ms")
    print(
        f"  engine, first run (disk writes)  {first_seconds * 1000:9.2f} ms"
        f"   overhead {per_node(first_seconds):.3f} ms/node   ratio {first_seconds / direct_seconds:,.0f}x"
    )
    print(
        f"  engine, --no-cache run           {nocache_seconds * 1000:9.2f} ms"
        f"   overhead {per_node(nocache_seconds):.3f} ms/node"
    )
    print(f"  fully cached rerun, memory       {memory_seconds * 1000:9.2f} ms   (goal < 500 ms)")
    print(f"  fully cached rerun, disk         {disk_seconds * 1000:9.2f} ms   (goal < 500 ms)")
    print(f"goal overhead < 1 ms/node: {'met' if per_node(first_seconds) < 1 else 'NOT met'}")
    direct_ms_per_node = direct_seconds / length * 1000
    for label, seconds in (("first run", first_seconds), ("--no-cache run", nocache_seconds)):
        figure(
            f"engine {label}, {length}-node chain, per node",
            nodeloom=seconds / length * 1000,
            peer=direct_ms_per_node,
            unit="ms/node",
            peer_name="direct function calls",
            goal="overhead < 1",
        )
    for label, seconds in (("memory", memory_seconds), ("disk", disk_seconds)):
        figure(
            f"fully cached rerun ({label}), {length}-node chain",
            nodeloom=seconds * 1000,
            peer=direct_seconds * 1000,
            unit="ms",
            peer_name="direct function calls (recomputing)",
            goal="nodeloom < 500",
        )


if __name__ == "__main__":
    main()
