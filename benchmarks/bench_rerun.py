"""The edit-and-rerun loop on the chatbot example (pipelines/gpt2_chatbot.json), every step a fresh `nodeloom`
process, as a person types it:

- edit and rerun: after one cold run, change generate.temperature and run again. NodeLoom computes generate and the
  nodes that read its rows (safety, bleu, sacrebleu, rouge) and reuses the rest. The peer is the same work done as a
  plain script does it: the pipeline written out by `nodeloom export --python` (the node functions called in order,
  no cache), run from the top. Goal: at least 20x faster (ratio <= 0.05). Also the cold run against that script:
  what NodeLoom's caching, recording and progress cost on top of the work.
- the same edit made in the app, where Run forks the run from a warm run server that imported torch, the engine
  and the node modules once (engine/warm_imports.py): from the click until the results are in the store, against
  the same script. Same goal.
- a fully cached rerun (nothing to compute) against a one-node cached pipeline, the floor every `nodeloom run` pays
  (imports, the store, the device). Goal: within 1.2x. Measured in turns, one of each, so load on a shared machine
  falls on both alike; the median of --repeats.
- a 4-point sweep of generate.temperature (`nodeloom sweep --grid`) from an empty cache, against 4 independent cold
  runs (`nodeloom run --no-cache`, one per temperature): the sweep trains once and generates four times.

generate samples (strategy=sampling) so that the temperature matters; the plain script and every run use the same
settings. Each step checks what it computed (the edit reran exactly generate and its readers, the cached rerun
nothing, the sweep trained once), so a figure never times the wrong work.

    python benchmarks/bench_rerun.py [--epochs N] [--sweep-epochs N] [--repeats 5] [--no-sweep]

--epochs sets train.epochs (default: the example's own 30, about 2.5 minutes a cold run on 2 cores, so the whole
benchmark takes about 20 minutes); fewer epochs make every run shorter, and the figures say so. --sweep-epochs sets
them for the sweep part alone: `run.py --quick` keeps the example's training for the edit loop (a briefly trained
model rarely ends its answers, so generation would dominate both sides) and shortens the sweep's 5 trainings.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import figure  # noqa: E402

PIPELINE = "example:gpt2_chatbot"
EDITED = "generate.temperature"
TEMPERATURES = ("0.5", "0.7", "1.0", "1.3")  # the sweep's grid; the edit goes from the second to the third
TIMES = ("seconds", "cpu_seconds")  # what `Timed` measures
READERS_OF_GENERATE = {"generate", "safety", "bleu", "sacrebleu", "rouge"}  # what an edit of generate recomputes
ONE_NODE = {
    "schema_version": 1,
    "name": "one_node",
    "settings": {"seed": 0, "device": "auto"},  # as the chatbot's: both resolve the device the same way
    "nodes": [
        {"id": "qa", "type": "data.load_dataset", "params": {"source": "builtin", "name": "chat_support"}},
    ],
    "edges": [],
}


class Timed:
    """One child process's wall-clock and CPU seconds (CPU: what it used, whatever else the machine runs)."""

    def __init__(self, command: list[str], home: Path, cwd: Path | None = None):
        environment = {**os.environ, "NODELOOM_HOME": str(home), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        completed = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True)
        self.seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu_seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if completed.returncode != 0:
            lines = (completed.stderr or completed.stdout).strip().splitlines() or ["(no output)"]
            raise SystemExit(f"{' '.join(command[1:])} exited with {completed.returncode}: {lines[-1]}")
        self.stdout = completed.stdout


def nodeloom(home: Path, *args: str) -> tuple[Timed, dict]:
    """`nodeloom ARGS --json` in a fresh process: its timing and its JSON."""
    timed = Timed([sys.executable, "-m", "nodeloom", *args, "--json"], home)
    return timed, json.loads(timed.stdout)


def computed(run: dict) -> set[str]:
    """The nodes a run computed rather than took from the cache."""
    return {node_id for node_id, node in run["nodes"].items() if not node["cached"]}


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"unexpected: {what}")


def plain_script(home: Path, scratch: Path, overrides: list[str]) -> tuple[Timed, dict]:
    """The pipeline exported as a plain script, run from the top in a folder of its own; its timing and metrics."""
    script = scratch / "chatbot.py"
    subprocess.run(
        [sys.executable, "-m", "nodeloom", "export", PIPELINE, "--python", "-o", str(script), *overrides],
        env={**os.environ, "NODELOOM_HOME": str(home)},
        check=True,
        capture_output=True,
    )
    timed = Timed([sys.executable, str(script)], home, cwd=scratch)
    return timed, json.loads(timed.stdout.strip().splitlines()[-1])


def sets(*assignments: str) -> list[str]:
    return [part for assignment in assignments for part in ("--set", assignment)]


def edit_loop(home: Path, scratch: Path, common: list[str], label: str, repeats: int) -> None:
    cold, first = nodeloom(home, "run", PIPELINE, *common, *sets(f"{EDITED}={TEMPERATURES[1]}"))
    expect(not any(node["cached"] for node in first["nodes"].values()), "the cold run found something cached")
    edited_overrides = [*common, *sets(f"{EDITED}={TEMPERATURES[2]}")]
    edit, edited = nodeloom(home, "run", PIPELINE, *edited_overrides)
    expect(computed(edited) == READERS_OF_GENERATE, f"the edit recomputed {sorted(computed(edited))}")

    plain, plain_metrics = plain_script(home, scratch, edited_overrides)
    expect(plain_metrics.keys() == edited["metrics"].keys(), "the plain script reported other metrics than the run")
    print(
        f"cold run {cold.seconds:.1f} s ({cold.cpu_seconds:.1f} CPU-s), edit and rerun {edit.seconds:.1f} s "
        f"({edit.cpu_seconds:.1f} CPU-s), plain script {plain.seconds:.1f} s ({plain.cpu_seconds:.1f} CPU-s)",
        flush=True,
    )
    figure(
        f"edit-and-rerun loop, {EDITED} changed{label}",
        nodeloom=edit.seconds,
        peer=plain.seconds,
        unit="s",
        peer_name="the exported plain script, from the top",
        goal="ratio <= 0.05",
    )
    edit_in_the_app(home, scratch, common, plain, label)
    figure(
        f"cold run{label}",
        nodeloom=cold.seconds,
        peer=plain.seconds,
        unit="s",
        peer_name="the exported plain script, from the top",
    )

    floor_file = scratch / "one_node.json"
    floor_file.write_text(json.dumps(ONE_NODE), encoding="utf-8")
    nodeloom(home, "run", str(floor_file))  # computes the one node; every later run finds it cached
    cached_runs, floor_runs = [], []
    for _ in range(repeats):  # in turns, so that load from elsewhere falls on both alike
        timed, again = nodeloom(home, "run", PIPELINE, *edited_overrides)
        expect(not computed(again) and again["metrics"] == edited["metrics"], "the cached rerun computed something")
        cached_runs.append(timed)
        timed, floor_run = nodeloom(home, "run", str(floor_file))
        expect(not computed(floor_run), "the one-node pipeline was not cached")
        floor_runs.append(timed)
    cached, cached_cpu = (statistics.median(getattr(t, kind) for t in cached_runs) for kind in TIMES)
    floor, floor_cpu = (statistics.median(getattr(t, kind) for t in floor_runs) for kind in TIMES)
    print(
        f"fully cached rerun: median {cached:.2f} s ({cached_cpu:.2f} CPU-s); "
        f"one-node floor: median {floor:.2f} s ({floor_cpu:.2f} CPU-s)",
        flush=True,
    )
    figure(
        f"fully cached rerun of the chatbot, median of {repeats}",
        nodeloom=cached,
        peer=floor,
        unit="s",
        peer_name="a one-node cached pipeline (the floor)",
        goal="ratio <= 1.2",
    )


def edit_in_the_app(home: Path, scratch: Path, common: list[str], plain: Timed, label: str) -> None:
    """The same edit made in the app: Run forks the run from the warm run server (engine.worker.start_worker, as
    ui.runs.start_run calls it), timed from the click until the store holds the run as ended, polled every 10 ms.
    The server's own start is not timed: the app starts it when it opens, so a first run, fully cached, starts it
    here too."""
    from nodeloom.engine import worker as workers
    from nodeloom.engine.events import ACTIVE
    from nodeloom.engine.store import Store

    os.environ.update(NODELOOM_HOME=str(home), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")  # a run gets ours
    store = Store.open(home)

    def click(temperature: str) -> tuple[float, set[str]]:
        started = time.perf_counter()
        arguments = [*common, *sets(f"{EDITED}={temperature}"), "--", PIPELINE]
        worker = workers.start_worker("run", arguments, scratch / "app-runs")
        while (run := store.get_run(worker.run_id)) is None or run.status in ACTIVE:
            if run is None and worker.exit_code() is not None:
                raise SystemExit(f"run {worker.run_id} ended without recording: {worker.output_tail()}")
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        worker.wait(timeout=120)
        expect(run.status == "succeeded", f"the app's run {run.id} {run.status}: {worker.output_tail()}")
        return seconds, {node_id for node_id, node in run.nodes.items() if not node.cached}

    _, recomputed = click(TEMPERATURES[2])  # the edit the command line made: all cached
    expect(not recomputed, f"the app's cached run recomputed {sorted(recomputed)}")
    seconds, recomputed = click(TEMPERATURES[3])
    expect(recomputed == READERS_OF_GENERATE, f"the app's edit recomputed {sorted(recomputed)}")
    print(f"edit and rerun in the app (warm worker): {seconds:.1f} s from the click to the results", flush=True)
    figure(
        f"edit-and-rerun loop in the app (warm worker), {EDITED} changed{label}",
        nodeloom=seconds,
        peer=plain.seconds,
        unit="s",
        peer_name="the exported plain script, from the top",
        goal="ratio <= 0.05",
    )


def sweep_against_cold_runs(scratch: Path, common: list[str], label: str) -> None:
    grid = f"{EDITED}={','.join(TEMPERATURES)}"
    sweep, result = nodeloom(scratch / "sweep-home", "sweep", PIPELINE, "--grid", grid, *common)
    runs = result["runs"]
    expect(len(runs) == 4 and all(run["status"] == "succeeded" for run in runs), "the sweep did not give 4 runs")
    expect(sum("train" in computed(run) for run in runs) == 1, "the sweep trained more than once")

    cold_home, cold_seconds, cold_cpu = scratch / "cold-home", 0.0, 0.0
    for temperature in TEMPERATURES:
        timed, run = nodeloom(cold_home, "run", PIPELINE, "--no-cache", *common, *sets(f"{EDITED}={temperature}"))
        expect(computed(run) == set(run["nodes"]), "a --no-cache run took something from the cache")
        cold_seconds, cold_cpu = cold_seconds + timed.seconds, cold_cpu + timed.cpu_seconds
    print(
        f"sweep {sweep.seconds:.1f} s ({sweep.cpu_seconds:.1f} CPU-s); "
        f"4 cold runs {cold_seconds:.1f} s ({cold_cpu:.1f} CPU-s)",
        flush=True,
    )
    figure(
        f"4-point sweep of {EDITED}{label}",
        nodeloom=sweep.seconds,
        peer=cold_seconds,
        unit="s",
        peer_name="4 independent cold runs",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=None, help="train.epochs (default: the example's own)")
    parser.add_argument("--repeats", type=int, default=5, help="fully cached reruns (and floor runs) for the median")
    parser.add_argument("--no-sweep", action="store_true", help="skip the sweep and its 4 cold runs")
    parser.add_argument(
        "--sweep-epochs", type=int, default=None, help="train.epochs of the sweep and its cold runs (default: --epochs)"
    )
    args = parser.parse_args()

    sweep_epochs = args.epochs if args.sweep_epochs is None else args.sweep_epochs
    with tempfile.TemporaryDirectory(prefix="nodeloom-bench-rerun-") as folder:
        scratch = Path(folder)
        edit_loop(scratch / "home", scratch, *settings(args.epochs), args.repeats)
        if not args.no_sweep:
            sweep_against_cold_runs(scratch, *settings(sweep_epochs))


def settings(epochs: int | None) -> tuple[list[str], str]:
    """The overrides every run of a part shares, and the label that says how its training differs from the example's."""
    common = sets("generate.strategy=sampling") + ([] if epochs is None else sets(f"train.epochs={epochs}"))
    return common, ("" if epochs is None else f" (train.epochs={epochs}, shorter than the example's 30)")


if __name__ == "__main__":
    main()
