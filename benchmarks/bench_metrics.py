"""Metric nodes on 10,000 prediction/reference pairs against the libraries they wrap, in one run.

    python benchmarks/bench_metrics.py [--rows 10000] [--repeats 5]

For every node: the node's run function (reading the columns from a datasets.Dataset, checking
them, scoring every row for the previews) against the plain library call on Python lists, and
against `evaluate.load(...)` + `compute` where evaluate can fetch the metric (it cannot offline;
the output says so). Times are CPU seconds of this process (steadier than wall time on a shared
machine); node and library run in turns, each time the best of `--repeats` runs;
ratio = node / library.
The goal is at most 1.1x the direct library.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _report import figure  # noqa: E402

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS = (
    "the a of to and in is was for on that with as it by at from this be are have has an not they which you "
    "model data, training loss; language text token network results: (mostly) it's 3.5 2024 über café"
).split()


def best_of(repeats: int, work) -> tuple[float, object]:
    """The shortest of `repeats` CPU timings, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.process_time()
        result = work()
        times.append(time.process_time() - start)
    return min(times), result


def race(repeats: int, node_work, direct_work) -> tuple[float, float, object, object]:
    """Best times of the node and of the direct call, run in turns so that both see the same machine load."""
    node_times, direct_times = [], []
    for _ in range(repeats):
        direct_time, direct_result = best_of(1, direct_work)
        node_time, node_result = best_of(1, node_work)
        direct_times.append(direct_time)
        node_times.append(node_time)
    return min(node_times), min(direct_times), node_result, direct_result


def sentence(rnd: random.Random) -> str:
    return " ".join(rnd.choices(WORDS, k=rnd.randint(5, 30))).capitalize() + "."


def text_pairs(rows: int) -> tuple[list[str], list[str]]:
    """References, and predictions that share about two thirds of their words with them."""
    rnd = random.Random(0)
    references = [sentence(rnd) for _ in range(rows)]
    predictions = []
    for reference in references:
        words = reference.split()
        kept = [word if rnd.random() < 0.67 else rnd.choice(WORDS) for word in words]
        predictions.append(" ".join(kept[: max(1, len(kept) + rnd.randint(-3, 3))]))
    return predictions, references


def run_node(type_id: str, inputs: dict, **params):
    from nodeloom.engine.context import CancelToken, RunContext
    from nodeloom.engine.node import discover

    node_type = discover().get(type_id)
    ctx = RunContext("bench", type_id, "cpu", 0, Path("/tmp"), CancelToken(), lambda event: None)
    return node_type.run(ctx, inputs, node_type.params.model_validate(params))["metrics"]


def try_evaluate(name: str, repeats: int, **compute_args) -> str:
    """Seconds for evaluate.load + compute, or why it could not run."""
    import evaluate

    try:
        seconds, _ = best_of(repeats, lambda: evaluate.load(name).compute(**compute_args))
    except Exception as exc:
        return f"cannot run here: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    return f"{seconds:8.3f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import datasets
    import numpy as np
    import sacrebleu
    import torch
    from rouge_score import rouge_scorer
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support
    from transformers import GPT2Config, GPT2LMHeadModel

    from nodeloom.engine.node import discover

    discover()  # load every node module now, so that no import is timed
    predictions, references = text_pairs(args.rows)
    text = {"dataset": datasets.Dataset.from_dict({"prediction": predictions, "reference": references})}
    rnd = random.Random(1)
    true_labels = [rnd.randrange(4) for _ in range(args.rows)]
    predicted_labels = [label if rnd.random() < 0.7 else rnd.randrange(4) for label in true_labels]
    labels = {"dataset": datasets.Dataset.from_dict({"prediction": predicted_labels, "reference": true_labels})}

    def rouge_direct():
        scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"])
        rows = [scorer.score(r, p) for p, r in zip(predictions, references, strict=False)]
        return {t: statistics.fmean(row[t].fmeasure for row in rows) for t in rows[0]}

    def exact_match_direct():
        pairs = zip(predictions, references, strict=False)
        return sum(" ".join(p.lower().split()) == " ".join(r.lower().split()) for p, r in pairs) / len(predictions)

    cases = [
        # (node, its parameters, node inputs, direct library call, what the direct call is, evaluate name and inputs)
        (
            "metric.sacrebleu",
            {},
            text,
            lambda: sacrebleu.corpus_bleu(predictions, [references]),
            "sacrebleu.corpus_bleu",
            ("sacrebleu", {"predictions": predictions, "references": references}),
        ),
        (
            "metric.bleu",
            {},
            text,
            lambda: sacrebleu.corpus_bleu(predictions, [references]),
            "sacrebleu.corpus_bleu (no library has evaluate's definition; same 13a tokenizing and n-gram counting)",
            ("bleu", {"predictions": predictions, "references": references}),
        ),
        (
            "metric.rouge",
            {},
            text,
            rouge_direct,
            "rouge_score RougeScorer.score per row + mean",
            ("rouge", {"predictions": predictions, "references": references, "use_aggregator": False}),
        ),
        (
            "metric.exact_match",
            {"lowercase": True, "collapse_whitespace": True},
            text,
            exact_match_direct,
            "plain Python comparison (no library call needed)",
            ("exact_match", {"predictions": predictions, "references": references, "ignore_case": True}),
        ),
        (
            "metric.accuracy",
            {},
            labels,
            lambda: accuracy_score(true_labels, predicted_labels),
            "sklearn accuracy_score",
            ("accuracy", {"predictions": predicted_labels, "references": true_labels}),
        ),
        (
            "metric.precision_recall_f1",
            {"average": "macro"},
            labels,
            lambda: precision_recall_fscore_support(true_labels, predicted_labels, average="macro"),
            "sklearn precision_recall_fscore_support",
            ("f1", {"predictions": predicted_labels, "references": true_labels, "average": "macro"}),
        ),
    ]

    print(f"{args.rows} pairs, CPU seconds, best of {args.repeats}; ratio = node / direct library\n")
    print(f"{'node':28} {'node':>10} {'direct':>10} {'ratio':>7}  evaluate.load+compute")
    for type_id, params, inputs, direct, direct_name, (evaluate_name, evaluate_inputs) in cases:
        node_work = functools.partial(run_node, type_id, inputs, **params)
        node_seconds, direct_seconds, _, _ = race(args.repeats, node_work, direct)
        evaluate_result = try_evaluate(evaluate_name, 1, **evaluate_inputs)
        print(
            f"{type_id:28} {node_seconds:8.3f} s {direct_seconds:8.3f} s {node_seconds / direct_seconds:6.2f}x"
            f"  {evaluate_result}"
        )
        print(f"{'':28} direct = {direct_name}")
        figure(
            f"{type_id}, {args.rows:,} rows",
            nodeloom=node_seconds,
            peer=direct_seconds,
            unit="CPU s",
            peer_name=direct_name.split(" (")[0],
            goal="ratio <= 1.1",
        )

    # perplexity: a tiny GPT-2 on 1,000 rows of 64 tokens (the CPU-sized equivalent), on one thread:
    # idle threads spin, which CPU time would count as work
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(
        GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=100, n_positions=64, pad_token_id=0)
    ).eval()
    ids = np.random.default_rng(0).integers(1, 100, size=(1000, 64)).tolist()
    blocks = datasets.Dataset.from_dict({"input_ids": ids, "attention_mask": [[1] * 64] * len(ids), "labels": ids})
    batch_size = 32

    def perplexity_direct():
        total, tokens = 0.0, 0
        for start in range(0, len(ids), batch_size):
            batch = torch.tensor(ids[start : start + batch_size])
            with torch.no_grad():
                loss = model(input_ids=batch, attention_mask=torch.ones_like(batch), labels=batch).loss.item()
            count = batch.shape[0] * (batch.shape[1] - 1)
            total, tokens = total + loss * count, tokens + count
        return float(np.exp(total / tokens))

    node_seconds, direct_seconds, metrics, direct_value = race(
        args.repeats,
        lambda: run_node("metric.perplexity", {"model": model, "dataset": blocks}, batch_size=batch_size),
        perplexity_direct,
    )
    print(
        f"{'metric.perplexity':28} {node_seconds:8.3f} s {direct_seconds:8.3f} s"
        f" {node_seconds / direct_seconds:6.2f}x  "
        f"(1,000 rows x 64 tokens, tiny GPT-2, 1 thread; perplexity {metrics['perplexity']:.4f} vs {direct_value:.4f})"
    )
    print(f"{'':28} direct = model(input_ids, attention_mask, labels=input_ids).loss per batch, token-weighted")
    figure(
        "metric.perplexity, 1,000 x 64 tokens",
        nodeloom=node_seconds,
        peer=direct_seconds,
        unit="CPU s",
        peer_name="model(...).loss per batch",
        goal="ratio <= 1.1",
    )


if __name__ == "__main__":
    main()
