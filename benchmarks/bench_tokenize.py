"""text.tokenize against a direct datasets.map(batched=True) with the same fast tokenizer, same 50,000 texts.

Run: python benchmarks/bench_tokenize.py [--texts 50000]

The node's run function is called directly (no runner, no output cache), so the figures compare
tokenization work only. Each variant runs `--repeats` times, alternating, on a fresh in-memory
dataset (nothing comes from datasets' own cache); the best time of each counts. Both wall-clock
and CPU time (all threads of this process) are measured: on a shared machine the CPU time is the
steadier measure of the work done, the wall-clock time what a user waits.

- classification: the node (truncation, labels, length report) vs map(tokenizer(text, truncation)).
- causal_lm: the node (eos, packing into blocks, length report) vs the plain-library recipe
  (map tokenizer + eos, then map group_texts, as in transformers' run_clm example), and vs
  tokenization alone (a stricter yardstick: the node also packs).
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import datasets  # noqa: E402
from _report import figure  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

from nodeloom.engine import CancelToken, RunContext  # noqa: E402
from nodeloom.nodes.bundled import bundled_model_path  # noqa: E402
from nodeloom.nodes.data import SAMPLE_DATA  # noqa: E402
from nodeloom.nodes.text.tokenization import TokenizeParams, tokenize  # noqa: E402

BLOCK = 128
MAX_LENGTH = 128


def texts(count: int) -> list[str]:
    """`count` distinct support-style texts built from the shipped sample data."""
    import json

    rows = [
        json.loads(line) for line in (SAMPLE_DATA / "chat_support.train.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    base = [f"{row['question']} {row['answer']}" for row in rows]
    return [f"{base[i % len(base)]} (ticket {i})" for i in range(count)]


def context() -> RunContext:
    return RunContext("bench", "tokenize", "cpu", 0, Path("/tmp/nodeloom-bench"), CancelToken(), lambda event: None)


def timed(function) -> tuple[float, float]:
    """(wall-clock seconds, CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()

    tokenizer = AutoTokenizer.from_pretrained(bundled_model_path("minilm"))
    tokenizer.eos_token = tokenizer.sep_token
    corpus = texts(options.texts)
    labels = [i % 2 for i in range(options.texts)]

    def fresh() -> datasets.Dataset:
        return datasets.Dataset.from_dict({"text": corpus, "label": labels})

    def direct_classification():
        return fresh().map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=MAX_LENGTH), batched=True)

    def node_classification():
        return tokenize(
            context(),
            {"dataset": fresh(), "tokenizer": tokenizer},
            TokenizeParams(task="classification", max_length=MAX_LENGTH),
        )

    def direct_tokenize_only():
        return fresh().map(
            lambda batch: tokenizer(batch["text"], add_special_tokens=False),
            batched=True,
            remove_columns=["text", "label"],
        )

    def direct_run_clm():
        eos = tokenizer.eos_token_id

        def encode(batch):
            ids = tokenizer(batch["text"], add_special_tokens=False)["input_ids"]
            return {"input_ids": [example + [eos] for example in ids]}

        def group_texts(batch):
            stream = list(itertools.chain.from_iterable(batch["input_ids"]))
            usable = len(stream) // BLOCK * BLOCK
            blocks = [stream[start : start + BLOCK] for start in range(0, usable, BLOCK)]
            return {"input_ids": blocks, "attention_mask": [[1] * BLOCK] * len(blocks), "labels": blocks}

        return fresh().map(encode, batched=True, remove_columns=["text", "label"]).map(group_texts, batched=True)

    def node_causal_lm():
        return tokenize(
            context(), {"dataset": fresh(), "tokenizer": tokenizer}, TokenizeParams(task="causal_lm", block_size=BLOCK)
        )

    variants = {
        "direct map, classification": direct_classification,
        "text.tokenize, classification": node_classification,
        "direct map, tokenize only": direct_tokenize_only,
        "direct map, run_clm recipe": direct_run_clm,
        "text.tokenize, causal_lm": node_causal_lm,
    }
    wall = {name: float("inf") for name in variants}
    cpu = dict(wall)
    for _ in range(options.repeats):
        for name, function in variants.items():
            seconds, cpu_seconds = timed(function)
            wall[name], cpu[name] = min(wall[name], seconds), min(cpu[name], cpu_seconds)

    print(f"{options.texts:,} texts, tokenizer {type(tokenizer).__name__} (bundled:minilm), best of {options.repeats}")
    for name in variants:
        print(
            f"  {name:32s} wall {wall[name]:7.3f} s ({options.texts / wall[name]:8,.0f} texts/s)"
            f"   cpu {cpu[name]:7.3f} s"
        )
    comparisons = [
        ("classification: node vs direct map", "text.tokenize, classification", "direct map, classification"),
        ("causal_lm: node vs run_clm recipe", "text.tokenize, causal_lm", "direct map, run_clm recipe"),
        ("causal_lm: node vs tokenize-only map", "text.tokenize, causal_lm", "direct map, tokenize only"),
    ]
    for label, node_name, direct_name in comparisons:
        print(
            f"  {label:40s} throughput ratio: wall {wall[direct_name] / wall[node_name]:.2f}x, "
            f"cpu {cpu[direct_name] / cpu[node_name]:.2f}x (goal >= 0.9x)"
        )
    for label, node_name, direct_name in comparisons:
        for measure, seconds, unit in (("wall", wall, "texts/s"), ("CPU", cpu, "texts per CPU-s")):
            figure(
                f"tokenize {label} ({measure})",
                nodeloom=options.texts / seconds[node_name],
                peer=options.texts / seconds[direct_name],
                unit=unit,
                peer_name=direct_name,
                goal="ratio >= 0.9",
            )


if __name__ == "__main__":
    main()
