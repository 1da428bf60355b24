"""data.quality on 100,000 rows against a plain pandas script that counts the same exact duplicates, in one run.

    python benchmarks/bench_quality.py [--rows 100000] [--repeats 3]

The rows are sentences of 5 to 30 words drawn from a 3,000-word vocabulary (common words more
often), with 10% exact copies (case and spacing changed) and 10% near copies (one word replaced or
appended). The node does everything it does in a pipeline: reads the column from a
datasets.Dataset, normalizes, counts duplicates, finds near duplicates with datasketch's MinHash
LSH and confirms them, measures lengths; with --reference it also checks every row against a
reference of the same size. The pandas script only normalizes the same way (NFKC, case folding,
whitespace) and counts `rows - distinct texts`: the floor for the exact-duplicate part alone.
Times are CPU seconds of this process, node and script in turns, each the best of `--repeats`;
the node's wall time is printed too. The goal: the node profiles 100,000 rows in under 30 s.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _report import figure  # noqa: E402

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

GOAL_SECONDS = 30.0


def sentences(rows: int, seed: int) -> tuple[list[str], int, int]:
    """Rows with known extra copies: (texts, exact copies added, near copies added)."""
    rnd = random.Random(seed)
    vocabulary = [
        f"{rnd.choice('bcdfghklmnprstvw')}{rnd.choice('aeiou')}{rnd.choice('lmnrst')}{index}" for index in range(3000)
    ]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]  # Zipf-like: a few words are everywhere
    base_count = rows * 8 // 10
    texts = [" ".join(rnd.choices(vocabulary, weights, k=rnd.randint(5, 30))) for _ in range(base_count)]
    exact = near = 0
    while len(texts) < rows:
        words = rnd.choice(texts[:base_count]).split()
        if len(texts) % 2:
            texts.append("  " + " ".join(words).upper() + " ")
            exact += 1
        else:
            if rnd.random() < 0.5:
                words[rnd.randrange(len(words))] = rnd.choice(vocabulary)
            else:
                words.append(rnd.choice(vocabulary))
            texts.append(" ".join(words))
            near += 1
    rnd.shuffle(texts)
    return texts, exact, near


def best_of(repeats: int, work) -> tuple[float, float, object]:
    """The shortest CPU time and wall time of `repeats` runs, and the last result."""
    cpu_times, wall_times, result = [], [], None
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        result = work()
        cpu_times.append(time.process_time() - cpu)
        wall_times.append(time.perf_counter() - wall)
    return min(cpu_times), min(wall_times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--reference", action="store_true", help="also check every row against a reference of the same size"
    )
    args = parser.parse_args()

    import datasets
    import pandas as pd

    from nodeloom.engine.context import CancelToken, RunContext
    from nodeloom.engine.node import discover

    node_type = discover().get("data.quality")
    texts, exact_added, near_added = sentences(args.rows, seed=0)
    inputs = {"dataset": datasets.Dataset.from_dict({"text": texts})}
    if args.reference:
        inputs["reference"] = datasets.Dataset.from_dict({"text": sentences(args.rows, seed=1)[0]})
    params = node_type.params()
    ctx = RunContext("bench", "quality", "cpu", 0, Path("/tmp"), CancelToken(), lambda event: None)

    def node_run() -> dict:
        return node_type.run(ctx, inputs, params)["metrics"]

    def pandas_run() -> int:
        column = pd.Series(texts).str.normalize("NFKC").str.casefold().str.split().str.join(" ")
        return len(column) - column.nunique()

    node_cpu, node_wall, pandas_cpu, pandas_wall = [], [], [], []
    metrics, pandas_duplicates = {}, 0
    for _ in range(args.repeats):  # in turns, so both see the same machine load
        cpu, wall, pandas_duplicates = best_of(1, pandas_run)
        pandas_cpu.append(cpu)
        pandas_wall.append(wall)
        cpu, wall, metrics = best_of(1, node_run)
        node_cpu.append(cpu)
        node_wall.append(wall)

    print(
        f"{args.rows:,} rows ({exact_added:,} exact and {near_added:,} near copies added)"
        + (f", reference of {args.rows:,} rows" if args.reference else "")
        + f"; best of {args.repeats}\n"
    )
    print(f"{'':34} {'CPU':>9} {'wall':>9}")
    print(f"{'data.quality node':34} {min(node_cpu):7.2f} s {min(node_wall):7.2f} s")
    print(f"{'pandas exact-duplicate count':34} {min(pandas_cpu):7.2f} s {min(pandas_wall):7.2f} s")
    print(
        f"{'ratio (node / pandas)':34} {min(node_cpu) / min(pandas_cpu):7.1f}x "
        f"{min(node_wall) / min(pandas_wall):7.1f}x\n"
    )
    print(
        f"duplicate_rows: node {metrics['duplicate_rows']:,}, pandas {pandas_duplicates:,}"
        f" ({'same' if metrics['duplicate_rows'] == pandas_duplicates else 'DIFFERENT'})"
    )
    print(
        f"near_duplicate_rows: {metrics['near_duplicate_rows']:,} (near copies added: {near_added:,};"
        " a copy whose change repeats a word, or a base sentence similar to another, moves the count a little)"
    )
    if args.reference:
        print(f"overlap_with_reference: {metrics['overlap_with_reference']:.4f} ({metrics['overlap_rows']:,} rows)")
    verdict = "under" if min(node_wall) < GOAL_SECONDS else "OVER"
    print(f"goal: under {GOAL_SECONDS:.0f} s for the node: {verdict} ({min(node_wall):.1f} s wall)")
    peer_name = "pandas exact-duplicate count (a part of the node's work)"
    figure(
        f"data.quality, {args.rows:,} rows",
        nodeloom=min(node_cpu),
        peer=min(pandas_cpu),
        unit="CPU s",
        peer_name=peer_name,
    )
    figure(
        f"data.quality, {args.rows:,} rows, wall",
        nodeloom=min(node_wall),
        peer=min(pandas_wall),
        unit="s",
        peer_name=peer_name,
        goal=f"nodeloom < {GOAL_SECONDS:g}",
    )


if __name__ == "__main__":
    main()
