"""Node types for the store tests, in a registry of their own, and the helpers that run them.

`store_test.train` is a small, seeded, real optimisation (least squares by SGD in numpy) that
reports loss and learning rate every step, like the trainer node, so recorded curves can be
compared between a run and its rerun. Subprocesses get these nodes through `CLI_WITH_TEST_NODES`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from pydantic import Field

from nodeloom.engine import Input, NodeParams, Output, node
from nodeloom.engine.node import Registry
from nodeloom.engine.types import METRICS, TEXT
from tests.support import REPO

REGISTRY = Registry()


class TrainParams(NodeParams):
    steps: int = Field(50, ge=1, description="Optimizer steps")
    learning_rate: float = Field(0.05, gt=0, description="Initial learning rate (decays linearly)")
    step_seconds: float = Field(0.0, ge=0, description="Extra time per step, to make a run slow")


class TextParams(NodeParams):
    text: str = "3"


@node(
    "store_test.source",
    title="Source",
    category="test",
    outputs=[Output("value", TEXT)],
    params=TextParams,
    registry=REGISTRY,
)
def source(ctx, inputs, params):
    """Emit a text."""
    return {"value": params.text}


@node(
    "store_test.train",
    title="Train",
    category="test",
    inputs=[Input("value", TEXT)],
    outputs=[Output("metrics", METRICS)],
    params=TrainParams,
    registry=REGISTRY,
)
def train(ctx, inputs, params):
    """Fit a random linear model by SGD, reporting loss and learning rate every step."""
    rng = np.random.default_rng(ctx.seed)
    features = rng.normal(size=(64, 8))
    targets = features @ rng.normal(size=8) + float(inputs["value"])
    weights, bias = np.zeros(8), 0.0
    loss = float("nan")
    for step in range(1, params.steps + 1):
        ctx.check_cancelled()
        rate = params.learning_rate * (1 - (step - 1) / params.steps)
        batch = rng.integers(0, len(features), size=16)
        error = features[batch] @ weights + bias - targets[batch]
        weights -= rate * features[batch].T @ error / len(batch)
        bias -= rate * error.mean()
        loss = float((error**2).mean())
        ctx.progress(step / params.steps, f"step {step}/{params.steps}", step=step, loss=loss, learning_rate=rate)
        if params.step_seconds:
            time.sleep(params.step_seconds)
    ctx.log(f"trained {params.steps} steps")
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    (ctx.workdir / "weights.json").write_text(json.dumps(weights.tolist()))
    return {"metrics": {"final_loss": loss, "bias": bias}}


def train_pipeline(name: str = "trainer", steps: int = 50, step_seconds: float = 0.0, seed: int = 7) -> dict:
    return {
        "schema_version": 1,
        "name": name,
        "settings": {"seed": seed, "device": "cpu"},
        "nodes": [
            {"id": "data", "type": "store_test.source"},
            {"id": "train", "type": "store_test.train", "params": {"steps": steps, "step_seconds": step_seconds}},
        ],
        "edges": [{"source": "data", "target": "train"}],
    }


# `python -c CLI_WITH_TEST_NODES ARGS…` is `nodeloom ARGS…` with these node types registered too.
CLI_WITH_TEST_NODES = """
import sys
from nodeloom.engine.node import REGISTRY
from tests.support.store_nodes import REGISTRY as STORE_TEST_NODES
REGISTRY.types.update(STORE_TEST_NODES.types)
from nodeloom.cli import main
sys.exit(main(sys.argv[1:]))
"""


def nodeloom_with_test_nodes(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CLI_WITH_TEST_NODES, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def start_nodeloom_with_test_nodes(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CLI_WITH_TEST_NODES, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def write_pipeline(folder: Path, data: dict) -> Path:
    path = folder / f"{data['name']}.json"
    path.write_text(json.dumps(data))
    return path
