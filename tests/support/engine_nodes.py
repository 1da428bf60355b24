"""Small node types for engine tests, in a registry of their own, and a chain pipeline to run with them.

They record every call in `CALLS`, so tests can assert exactly which nodes executed.
"""

from __future__ import annotations

import json
import time

from pydantic import Field

from nodeloom.engine import Input, NodeError, NodeParams, Output, node
from nodeloom.engine.cache import OutputCache
from nodeloom.engine.node import Registry
from nodeloom.engine.runner import run_pipeline
from nodeloom.engine.types import DATASET, METRICS, MODEL, TEXT, TOKENIZED_DATASET
from nodeloom.engine.validation import load_pipeline

REGISTRY = Registry()
CALLS: list[str] = []


class ValueParams(NodeParams):
    value: float = Field(1.0, ge=-1000, le=1000, description="The number to emit")
    mode: str = Field("plain", pattern="^(plain|fancy)$", description="plain or fancy")


class NoParams(NodeParams):
    pass


class FailParams(NodeParams):
    message: str = "boom"
    crash: bool = Field(False, description="raise a plain exception instead of a NodeError")


class SleepParams(NodeParams):
    seconds: float = Field(5.0, ge=0)


@node(
    "test.source",
    title="Source",
    category="test",
    outputs=[Output("value", TEXT)],
    params=ValueParams,
    registry=REGISTRY,
)
def source(ctx, inputs, params):
    """Emit a number."""
    CALLS.append(ctx.node_id)
    return {"value": str(params.value)}


@node(
    "test.add",
    title="Add",
    category="test",
    inputs=[Input("a", TEXT), Input("b", TEXT, required=False)],
    outputs=[Output("value", TEXT)],
    params=ValueParams,
    registry=REGISTRY,
)
def add(ctx, inputs, params):
    """Add its inputs and its own value."""
    CALLS.append(ctx.node_id)
    return {"value": str(float(inputs["a"]) + float(inputs.get("b", 0)) + params.value)}


@node(
    "test.score",
    title="Score",
    category="test",
    inputs=[Input("value", TEXT)],
    outputs=[Output("metrics", METRICS)],
    params=NoParams,
    registry=REGISTRY,
)
def score(ctx, inputs, params):
    """Report its input as a metric."""
    CALLS.append(ctx.node_id)
    return {"metrics": {"value": float(inputs["value"]), "label": "not a number", "flag": True}}


@node(
    "test.fail",
    title="Fail",
    category="test",
    inputs=[Input("value", TEXT)],
    outputs=[Output("value", TEXT)],
    params=FailParams,
    registry=REGISTRY,
)
def fail(ctx, inputs, params):
    """Always fails."""
    CALLS.append(ctx.node_id)
    if params.crash:
        raise ZeroDivisionError(params.message)
    raise NodeError(params.message)


@node(
    "test.sleep",
    title="Sleep",
    category="test",
    inputs=[Input("value", TEXT)],
    outputs=[Output("value", TEXT)],
    params=SleepParams,
    registry=REGISTRY,
)
def sleep(ctx, inputs, params):
    """Waits cooperatively, checking for cancellation."""
    CALLS.append(ctx.node_id)
    deadline = time.monotonic() + params.seconds
    while time.monotonic() < deadline:
        ctx.check_cancelled()
        time.sleep(0.01)
    return {"value": inputs["value"]}


class WarnParams(NodeParams):
    message: str = "careful"


@node(
    "test.warn",
    title="Warn",
    category="test",
    inputs=[Input("value", TEXT)],
    outputs=[Output("value", TEXT)],
    params=WarnParams,
    registry=REGISTRY,
)
def warn(ctx, inputs, params):
    """Logs a warning (and a debug and an info line) and passes its input on."""
    CALLS.append(ctx.node_id)
    ctx.log(f"debug: {params.message}", level="debug")
    ctx.log(f"info: {params.message}")
    ctx.log(params.message, level="warning")
    return {"value": inputs["value"]}


@node(
    "test.typed",
    title="Typed",
    category="test",
    inputs=[
        Input("data", DATASET, required=False),
        Input("model", MODEL, required=False),
        Input("tokens", TOKENIZED_DATASET, required=False),
    ],
    outputs=[Output("data", DATASET), Output("tokens", TOKENIZED_DATASET)],
    params=NoParams,
    registry=REGISTRY,
)
def typed(ctx, inputs, params):
    """A node with several typed ports, for port-resolution tests."""
    return {"data": None, "tokens": None}


CHAIN = {
    "schema_version": 1,
    "name": "chain",
    "nodes": [
        {"id": "s", "type": "test.source", "params": {"value": 1}},
        {"id": "a", "type": "test.add", "params": {"value": 10}},
        {"id": "b", "type": "test.add", "params": {"value": 100}},
        {"id": "side", "type": "test.source", "params": {"value": 5}},
        {"id": "m", "type": "test.score"},
    ],
    "edges": [
        {"source": "s", "target": "a"},
        {"source": "a", "target": "b"},
        {"source": "b", "target": "m"},
    ],
}


def run(data, cache=None, **options):
    """Run `data` with these node types on CPU, `CALLS` emptied first (a fresh cache unless one is given)."""
    CALLS.clear()
    pipeline = load_pipeline(data, REGISTRY)
    return run_pipeline(pipeline, registry=REGISTRY, cache=cache or OutputCache(), device="cpu", **options)


def with_params(data, node_id, **params):
    """A copy of the pipeline `data` with `params` set on node `node_id`."""
    changed = json.loads(json.dumps(data))
    next(n for n in changed["nodes"] if n["id"] == node_id)["params"].update(params)
    return changed
