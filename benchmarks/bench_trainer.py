"""train.trainer against a plain transformers Trainer script: tokens per second, same work, one run.

Both train the same freshly initialised GPT-2 (same config, seed, batch, sequence length,
steps, AdamW at 5e-5 with a linear schedule) on the same packed random-token blocks. Runs
alternate (node, plain, node, plain, ...) so that a busy machine hurts both alike; the best
run of each is compared. Throughput is tokens / Trainer's own train_runtime for both; tokens
per CPU-second of the process is printed beside it, being steadier on a shared machine.

    python benchmarks/bench_trainer.py                 # CPU-sized GPT-2 (4 layers, 128 wide, 8k vocabulary)
    python benchmarks/bench_trainer.py --size small    # GPT-2 small (124M), bf16 on a GPU; prints MFU too
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _report import figure

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@dataclass
class Setup:
    n_layer: int  # transformer blocks
    n_head: int  # attention heads
    n_embd: int  # hidden size
    seq_len: int  # tokens per training block
    batch_size: int  # blocks per step
    steps: int  # optimizer steps per run
    vocab_size: int = 50257  # GPT-2's vocabulary


SIZES = {
    # small enough for two shared CPU cores; the vocabulary is cut so the output layer does not dominate
    "tiny": Setup(n_layer=4, n_head=4, n_embd=128, seq_len=128, batch_size=8, steps=40, vocab_size=8192),
    "small": Setup(n_layer=12, n_head=12, n_embd=768, seq_len=1024, batch_size=16, steps=60),
}


def random_blocks(setup: Setup, seed: int = 0):
    """Packed blocks of random token ids with labels = input_ids (the causal-LM port contract)."""
    import datasets
    import torch

    rows = setup.batch_size * setup.steps
    ids = torch.randint(
        0, setup.vocab_size, (rows, setup.seq_len), generator=torch.Generator().manual_seed(seed)
    ).tolist()
    return datasets.Dataset.from_dict({"input_ids": ids, "attention_mask": [[1] * setup.seq_len] * rows, "labels": ids})


def fresh_model(setup: Setup, seed: int = 0):
    from transformers import GPT2Config, GPT2LMHeadModel, set_seed

    set_seed(seed)
    last_token = setup.vocab_size - 1  # GPT-2's end-of-text id, wherever the vocabulary ends
    config = GPT2Config(
        vocab_size=setup.vocab_size,
        n_layer=setup.n_layer,
        n_head=setup.n_head,
        n_embd=setup.n_embd,
        n_positions=setup.seq_len,
        bos_token_id=last_token,
        eos_token_id=last_token,
    )
    return GPT2LMHeadModel(config)


def run_node_trainer(setup: Setup, data, device: str) -> dict:
    """train.trainer with its defaults (AdamW 5e-5, linear schedule, per-step progress events)."""
    from nodeloom.engine import CancelToken, RunContext
    from nodeloom.engine.node import discover

    events = []
    node_type = discover().get("train.trainer")
    model = fresh_model(setup)
    with tempfile.TemporaryDirectory() as workdir:
        ctx = RunContext("bench", "train", device, 0, Path(workdir), CancelToken(), events.append)
        params = node_type.params(max_steps=setup.steps, batch_size=setup.batch_size, save_steps=0, seed=0)
        started, cpu_started = time.perf_counter(), time.process_time()
        metrics = node_type.run(ctx, {"model": model, "train": data}, params)["metrics"]
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    assert metrics["train_tokens"] == tokens_per_run(setup)
    return {"tokens_per_second": metrics["train_tokens_per_second"], "wall": wall, "cpu": cpu, "events": len(events)}


def run_plain_trainer(setup: Setup, data, device: str, bf16: bool) -> dict:
    """What a user would write without NodeLoom: the HF example-script way."""
    from transformers import Trainer, TrainingArguments, default_data_collator

    with tempfile.TemporaryDirectory() as output_dir:
        args = TrainingArguments(
            output_dir=output_dir,
            max_steps=setup.steps,
            per_device_train_batch_size=setup.batch_size,
            learning_rate=5e-5,
            lr_scheduler_type="linear",
            bf16=bf16,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            use_cpu=device == "cpu",
            seed=0,
        )
        model = fresh_model(setup)
        started, cpu_started = time.perf_counter(), time.process_time()
        trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=default_data_collator)
        runtime = trainer.train().metrics["train_runtime"]
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {"tokens_per_second": tokens_per_run(setup) / runtime, "wall": wall, "cpu": cpu}


def tokens_per_run(setup: Setup) -> int:
    return setup.steps * setup.batch_size * setup.seq_len


def flops_per_token(setup: Setup, parameters: int) -> float:
    """Training FLOPs per token: 6 per parameter plus attention's 12·layers·width·sequence (PaLM appendix B)."""
    return 6 * parameters + 12 * setup.n_layer * setup.n_embd * setup.seq_len


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="tiny")
    parser.add_argument("--steps", type=int, help="optimizer steps per run (default: the size's)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, alternating")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=989.0,
        help="the accelerator's dense bf16 peak, for MFU (H100/H200 SXM: 989)",
    )
    args = parser.parse_args()

    import torch

    from nodeloom.engine.device import resolve_device
    from nodeloom.nodes.train import precision_flags

    setup = SIZES[args.size]
    if args.steps:
        setup.steps = args.steps
    device = resolve_device(args.device)
    bf16 = precision_flags("auto", device.partition(":")[0])["bf16"]  # the node's `auto`, for the plain script too
    data = random_blocks(setup)
    print(
        f"GPT-2 {setup.n_layer} layers x {setup.n_embd}, seq {setup.seq_len}, batch {setup.batch_size}, "
        f"{setup.steps} steps, device {device}, bf16 {bf16}, torch threads {torch.get_num_threads()}"
    )
    node_runs, plain_runs = [], []
    for repeat in range(args.repeats):
        node_runs.append(run_node_trainer(setup, data, device))
        plain_runs.append(run_plain_trainer(setup, data, device, bf16))
        node, plain = node_runs[-1], plain_runs[-1]
        print(
            f"  run {repeat + 1}: train.trainer {node['tokens_per_second']:,.0f} tok/s (wall {node['wall']:.1f} s, "
            f"cpu {node['cpu']:.1f} s, {node['events']} events) "
            f"| plain Trainer {plain['tokens_per_second']:,.0f} tok/s "
            f"(wall {plain['wall']:.1f} s, cpu {plain['cpu']:.1f} s)"
        )
    best_node = max(run["tokens_per_second"] for run in node_runs)
    best_plain = max(run["tokens_per_second"] for run in plain_runs)
    # CPU seconds spent by this process hardly change when other processes share the machine
    node_cpu, plain_cpu = (tokens_per_run(setup) / min(run["cpu"] for run in runs) for runs in (node_runs, plain_runs))
    print(f"train.trainer  {best_node:,.0f} tokens/s   {node_cpu:,.0f} tokens per CPU-second")
    print(f"plain Trainer  {best_plain:,.0f} tokens/s   {plain_cpu:,.0f} tokens per CPU-second")
    print(
        f"ratio          {best_node / best_plain:.3f}x tokens/s, {node_cpu / plain_cpu:.3f}x per CPU-second"
        "  (goal >= 0.95x)"
    )
    size = f"GPT-2 {setup.n_layer}x{setup.n_embd}, {device}{', bf16' if bf16 else ''}"
    figure(
        f"train.trainer, {size}",
        nodeloom=best_node,
        peer=best_plain,
        unit="tokens/s",
        peer_name="plain Trainer script",
        goal="ratio >= 0.95",
    )
    figure(
        f"train.trainer, {size}, per CPU-second",
        nodeloom=node_cpu,
        peer=plain_cpu,
        unit="tokens per CPU-s",
        peer_name="plain Trainer script",
        goal="ratio >= 0.95",
    )
    if device.startswith("cuda"):
        parameters = fresh_model(setup).num_parameters()
        peak = args.peak_tflops * 1e12
        mfu = {
            name: speed * flops_per_token(setup, parameters) / peak
            for name, speed in (("train.trainer", best_node), ("plain Trainer", best_plain))
        }
        for name, share in mfu.items():
            print(f"MFU {name}: {share:.1%} of {args.peak_tflops:.0f} TFLOP/s")
        figure(
            f"train.trainer MFU, {size}",
            nodeloom=mfu["train.trainer"] * 100,
            peer=mfu["plain Trainer"] * 100,
            unit=f"% of {args.peak_tflops:.0f} TFLOP/s",
            peer_name="plain Trainer script",
            goal="ratio >= 0.95",
        )


if __name__ == "__main__":
    main()
