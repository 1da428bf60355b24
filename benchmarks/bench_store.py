"""Recording overhead: a 1,000-step training run (a 2-layer GPT-2, hidden 32, on CPU) reporting
loss, learning rate, grad norm and epoch every step, run by the engine with and without the store
recorder, next to the same loop in plain PyTorch.

Prints the time spent inside recording (creating the run, every event, the final artifacts) as a
share of the recorded run's time — goal: under 2% — plus the wall-clock ratios of the three ways,
and how long the app's typical reads take on the result.

    python benchmarks/bench_store.py [--steps 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import transformers
from _report import figure
from pydantic import Field
from transformers import GPT2Config, GPT2LMHeadModel

from nodeloom.engine import Input, NodeParams, Output, node
from nodeloom.engine.node import Registry
from nodeloom.engine.recorder import RunRecorder, run_recorded
from nodeloom.engine.runner import run_pipeline
from nodeloom.engine.types import METRICS, TEXT
from nodeloom.engine.validation import load_pipeline

REGISTRY = Registry()


class TrainParams(NodeParams):
    steps: int = Field(1000, ge=1)


class NoParams(NodeParams):
    pass


def train_loop(steps: int, seed: int, report) -> float:
    """A real (tiny) language-model training loop; `report(step, values)` after every step."""
    torch.manual_seed(seed)
    config = GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=256, n_positions=64, bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    tokens = torch.randint(0, 256, (64, 32))
    loss = torch.tensor(0.0)
    for step in range(1, steps + 1):
        batch = tokens[(step * 8) % 64 : (step * 8) % 64 + 8]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        report(
            step,
            {
                "step": step,
                "loss": loss.item(),
                "learning_rate": schedule.get_last_lr()[0],
                "grad_norm": grad_norm.item(),
                "epoch": step * 8 / 64,
            },
        )
    return loss.item()


@node(
    "bench.source",
    title="Source",
    category="bench",
    outputs=[Output("value", TEXT)],
    params=NoParams,
    registry=REGISTRY,
)
def source(ctx, inputs, params):
    """Start."""
    return {"value": "go"}


@node(
    "bench.train",
    title="Train",
    category="bench",
    inputs=[Input("value", TEXT)],
    outputs=[Output("metrics", METRICS)],
    params=TrainParams,
    registry=REGISTRY,
)
def train(ctx, inputs, params):
    """Train, reporting every step."""

    def report(step: int, values: dict) -> None:
        ctx.check_cancelled()
        ctx.progress(step / params.steps, f"step {step}", **values)

    return {"metrics": {"final_loss": train_loop(params.steps, ctx.seed, report)}}


def pipeline_data(steps: int) -> dict:
    return {
        "schema_version": 1,
        "name": "bench-train",
        "settings": {"seed": 0, "device": "cpu"},
        "nodes": [
            {"id": "data", "type": "bench.source"},
            {"id": "train", "type": "bench.train", "params": {"steps": steps}},
        ],
        "edges": [{"source": "data", "target": "train"}],
    }


class TimedRecorder(RunRecorder):
    """The real recorder, with a stopwatch around every event it handles."""

    spent = 0.0

    def __call__(self, event) -> None:
        started = time.perf_counter()
        super().__call__(event)
        TimedRecorder.spent += time.perf_counter() - started

    def record_result(self, result) -> None:
        started = time.perf_counter()
        super().record_result(result)
        TimedRecorder.spent += time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    os.environ["NODELOOM_HOME"] = tempfile.mkdtemp(prefix="nodeloom-bench-store-")
    import nodeloom.engine.recorder as recorder_module
    from nodeloom.engine.store import Store

    recorder_module.RunRecorder = TimedRecorder  # run_recorded builds this one
    pipeline = load_pipeline(pipeline_data(args.steps), registry=REGISTRY)
    store = Store.open()
    version = store.ensure_version("bench-train", pipeline_data(args.steps)).version
    create_run = store.create_run

    def timed_create_run(*positional, **named):  # recording a run starts with writing its row
        started = time.perf_counter()
        try:
            return create_run(*positional, **named)
        finally:
            TimedRecorder.spent += time.perf_counter() - started

    store.create_run = timed_create_run

    plain, engine_only, recorded, shares = [], [], [], []
    for repeat in range(args.repeats):
        started = time.perf_counter()
        train_loop(args.steps, 0, lambda step, values: None)
        plain.append(time.perf_counter() - started)

        started = time.perf_counter()
        run_pipeline(pipeline, registry=REGISTRY, use_cache=False)
        engine_only.append(time.perf_counter() - started)

        TimedRecorder.spent = 0.0
        started = time.perf_counter()
        result = run_recorded(store, pipeline, version, run_id=f"bench-{repeat}", use_cache=False, registry=REGISTRY)
        elapsed = time.perf_counter() - started
        recorded.append(elapsed)
        shares.append(TimedRecorder.spent / elapsed)
        assert result.status == "succeeded"

    run = store.get_run("bench-0")
    points = sum(len(series.steps) for series in store.metric_series("bench-0")["train"].values())
    started = time.perf_counter()
    store.metric_series("bench-0", "train")
    read_series = time.perf_counter() - started
    started = time.perf_counter()
    store.list_runs(limit=100)
    list_runs = time.perf_counter() - started
    size = Path(store.path).stat().st_size + Path(str(store.path) + "-wal").stat().st_size

    median = statistics.median
    print(
        f"{args.steps} training steps, {points} metric points recorded per run ({run.status}), "
        f"{args.repeats} repeats, medians:"
    )
    print(f"  plain PyTorch loop            {median(plain):8.3f} s")
    print(
        f"  engine, no recording          {median(engine_only):8.3f} s"
        f"   ratio to plain {median(engine_only) / median(plain):.3f}"
    )
    print(
        f"  engine + store recording      {median(recorded):8.3f} s"
        f"   ratio to plain {median(recorded) / median(plain):.3f}"
    )
    print(
        f"  time inside the recorder      {median(shares) * 100:8.3f} %   of the recorded run (goal < 2 %)"
        f"  [max {max(shares) * 100:.3f} %]"
    )
    print(f"  reading one run's curves      {read_series * 1000:8.2f} ms;  listing 100 runs {list_runs * 1000:.2f} ms")
    print(f"  database size                 {size / 1024:8.0f} KiB")
    plain_loop = "plain PyTorch loop"
    figure(
        f"engine, no recording, {args.steps} steps",
        nodeloom=median(engine_only),
        peer=median(plain),
        unit="s",
        peer_name=plain_loop,
    )
    figure(
        f"engine + store recording, {args.steps} steps",
        nodeloom=median(recorded),
        peer=median(plain),
        unit="s",
        peer_name=plain_loop,
    )
    figure(
        "time inside the recorder, share of the recorded run",
        nodeloom=median(shares) * 100,
        peer=None,
        unit="%",
        peer_name="none (a plain loop records nothing)",
        goal="nodeloom < 2",
    )


if __name__ == "__main__":
    main()
