"""Two independent branches under the Ray executor against the local executor, in one run of this script.

    python benchmarks/bench_ray.py [--rows 20000] [--repeats 2]

The pipeline has two branches that need nothing of each other, each a real node's CPU-bound work of a few
seconds: data.load_dataset (a JSON Lines file of generated sentences, as bench_quality makes them) -> data.quality
(normalising, exact and near duplicates with MinHash LSH, lengths). The local executor runs the four nodes one
after the other in this process; the Ray executor (a local Ray instance with every core) runs each node as a task,
so the two branches run side by side. Both runs recompute every node (no cache), in turns so they see the same
machine load, and both must report the same metrics.

Figures: the run's wall time on warm Ray workers (they have imported NodeLoom and the libraries once, as in a
sweep or on a long-lived cluster) against the local run, with the goal of at most 0.75x on two cores; and the first
run on Ray with starting the Ray instance and the workers' first imports included, which a single
`nodeloom run --executor ray` pays.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import figure  # noqa: E402
from bench_quality import sentences  # noqa: E402

os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")  # the nodes' own progress is not the point here

GOAL_RATIO = 0.75  # two branches on two cores: half the time at best, plus the tasks' own costs


def pipeline_data(left: Path, right: Path) -> dict:
    def branch(side: str, path: Path) -> list[dict]:
        return [
            {"id": f"{side}_data", "type": "data.load_dataset", "params": {"source": "file", "path": str(path)}},
            {"id": f"{side}_quality", "type": "data.quality", "params": {}},
        ]

    return {
        "schema_version": 1,
        "name": "two_branches",
        "nodes": branch("left", left) + branch("right", right),
        "edges": [
            {"source": "left_data", "target": "left_quality"},
            {"source": "right_data", "target": "right_quality"},
        ],
    }


def write_rows(path: Path, rows: int, seed: int) -> Path:
    texts, _, _ = sentences(rows, seed)
    path.write_text("".join(json.dumps({"text": text}) + "\n" for text in texts), encoding="utf-8")
    return path


def timed_run(pipeline, executor=None):
    from nodeloom.engine.runner import run_pipeline

    clock = time.perf_counter()
    result = run_pipeline(pipeline, device="cpu", use_cache=False, executor=executor)
    seconds = time.perf_counter() - clock
    if result.status != "succeeded":
        failed = {node_id: r.error for node_id, r in result.nodes.items() if r.error}
        raise SystemExit(f"the {'Ray' if executor else 'local'} run {result.status}: {failed}")
    return seconds, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows per branch")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    os.environ["NODELOOM_HOME"] = str(home)  # before NodeLoom is imported: the runs' caches and folders go there
    from nodeloom.engine.ray_executor import RayExecutor
    from nodeloom.engine.validation import load_pipeline

    pipeline = load_pipeline(
        pipeline_data(write_rows(home / "left.jsonl", args.rows, 0), write_rows(home / "right.jsonl", args.rows, 1))
    )
    local_seconds, local = timed_run(pipeline)  # also the first imports of this process, so it is not counted
    clock = time.perf_counter()
    with RayExecutor() as executor:
        started = time.perf_counter() - clock
        first_seconds, _ = timed_run(pipeline, executor)
        local_times, ray_times = [], []
        for _ in range(args.repeats):  # in turns, so both see the same machine load
            local_times.append(timed_run(pipeline)[0])
            seconds, on_ray = timed_run(pipeline, executor)
            ray_times.append(seconds)
    if on_ray.metrics != local.metrics:
        raise SystemExit(f"the executors disagree: Ray {on_ray.metrics} vs local {local.metrics}")
    overlap = {
        node_id: round(result.seconds, 2) for node_id, result in on_ray.nodes.items() if node_id.endswith("quality")
    }

    print(f"{args.rows:,} rows per branch, {os.cpu_count()} CPUs; best of {args.repeats}")
    print(f"  local executor:                 {min(local_times):6.2f} s")
    print(f"  Ray executor, warm workers:     {min(ray_times):6.2f} s  (data.quality nodes: {overlap})")
    print(f"  Ray: starting the instance      {started:6.2f} s, then a first run of {first_seconds:.2f} s")
    branches = f"two independent branches (data.quality, {args.rows:,} rows each)"
    figure(
        f"{branches}, --executor ray vs local",
        nodeloom=min(ray_times),
        peer=min(local_times),
        unit="s",
        peer_name="the local executor, same run",
        goal=f"ratio <= {GOAL_RATIO}",
    )
    figure(
        f"{branches}, --executor ray with starting Ray and the workers' first imports",
        nodeloom=started + first_seconds,
        peer=min(local_times),
        unit="s",
        peer_name="the local executor, same run",
    )


if __name__ == "__main__":
    main()
