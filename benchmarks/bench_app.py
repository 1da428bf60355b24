"""How long a full rerun of the app's script takes with a 50-node pipeline on the canvas: idle, after
a parameter edit, after a canvas gesture, and while a training run is going in a worker process (the
app polls the store meanwhile). And how long after Run is clicked the results of an unchanged (fully
cached) pipeline are in the store, for a small pipeline and for the chatbot example.

Goals: a rerun and a canvas action under 300 ms of server time; no more than 1.2x idle while training;
the results of a cached run within 1 s of the click.

    python benchmarks/bench_app.py [--reruns 30] [--no-training] [--clicks 5] [--chatbot-epochs 30] [--no-chatbot]

The rerun is timed through streamlit.testing's AppTest (the whole script, widgets included, minus
the browser). A canvas action is what the component sends for one gesture (here: a card moved), set
as the component's value before the rerun, exactly as the browser's message would; the rerun applies
it to the pipeline, writes the draft, validates and draws the new props. The training run is a real
`nodeloom run` of a small GPT-2 pipeline on this machine.

Click to results: what Run does (engine.worker.start_worker on the pipeline's file, as ui.runs.start_run
calls it) until the store holds the run as ended, polled every 10 ms. NodeLoom's worker is forked from the
warm run server (started, as the app starts it, before the first click); the peer is what the app did before,
a fresh `python -m nodeloom run` process per run (engine.worker.start_fresh). Both alternate on the same
cached pipeline in the same home. The chatbot is trained once first (`--chatbot-epochs` sets its epochs, which
changes what training costs, not what a cached run loads). The page's own poll (ui.runs.FIRST_POLL_SECONDS)
comes on top of these figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from _report import figure  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def fifty_nodes() -> dict:
    """A load node feeding 49 cleaning steps in 7 parallel chains: 50 cards, 49 links."""
    nodes = [
        {"id": "load", "type": "data.load_dataset", "params": {"path": "texts.jsonl"}, "position": {"x": 0, "y": 0}}
    ]
    edges = []
    for chain in range(7):
        previous = "load"
        for step in range(7):
            node_id = f"clean_{chain}_{step}"
            nodes.append(
                {
                    "id": node_id,
                    "type": "text.clean",
                    "params": {"lowercase": step % 2 == 0},
                    "position": {"x": 290.0 * (step + 1), "y": 170.0 * chain},
                }
            )
            edges.append({"source": previous, "target": node_id, "source_port": "dataset", "target_port": "dataset"})
            previous = node_id
    return {"schema_version": 1, "name": "fifty", "nodes": nodes, "edges": edges}


def training_pipeline(texts: Path) -> dict:
    """Enough training (a few thousand steps of a small GPT-2) to outlast the measurement."""
    return {
        "schema_version": 1,
        "name": "training",
        "settings": {"device": "cpu"},
        "nodes": [
            {"id": "load", "type": "data.load_dataset", "params": {"path": str(texts)}},
            {"id": "tokenizer", "type": "text.train_tokenizer", "params": {"vocab_size": 300, "min_frequency": 1}},
            {"id": "tokenize", "type": "text.tokenize", "params": {"block_size": 32}},
            {
                "id": "model",
                "type": "model.from_config",
                "params": {"n_layer": 2, "n_head": 2, "n_embd": 64, "n_positions": 64},
            },
            {"id": "train", "type": "train.trainer", "params": {"max_steps": 5000, "batch_size": 4, "save_steps": 0}},
        ],
        "edges": [
            {"source": "load", "target": "tokenizer"},
            {"source": "load", "target": "tokenize", "target_port": "dataset"},
            {"source": "tokenizer", "target": "tokenize", "target_port": "tokenizer"},
            {"source": "tokenizer", "target": "model", "target_port": "tokenizer"},
            {"source": "model", "target": "train", "target_port": "model"},
            {"source": "tokenize", "target": "train", "source_port": "dataset", "target_port": "train"},
        ],
    }


def time_reruns(app, count: int) -> list[float]:
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        app.run()
        seconds.append(time.perf_counter() - started)
        assert not app.exception, [error.value for error in app.exception]
    return seconds


def time_edits(app, count: int) -> list[float]:
    """Reruns after a parameter edit: the canvas state is rebuilt and the engine validates again."""
    editor = app.session_state["editor"]
    seconds = []
    for index in range(count):
        editor.set_param("clean_3_3", "drop_empty", index % 2 == 0, True)
        started = time.perf_counter()
        app.run()
        seconds.append(time.perf_counter() - started)
    return seconds


def time_canvas_actions(app, count: int) -> list[float]:
    """Reruns that each apply one canvas gesture: a card dragged to a new place."""
    from nodeloom.ui.canvas import canvas_key

    editor = app.session_state["editor"]
    key = canvas_key(editor, False)
    seconds = []
    for index in range(count):
        place = {"x": 290.0 * 4 + 10 + (index % 2) * 25, "y": 170.0 * 3}  # never where it was
        app.session_state[key] = {
            "seq": 1000 + index,
            "revision": editor.revision,
            "action": {"kind": "move", "positions": {"clean_3_3": place}},
        }
        revision = editor.revision
        started = time.perf_counter()
        app.run()
        seconds.append(time.perf_counter() - started)
        assert not app.exception, [error.value for error in app.exception]
        assert editor.revision == revision + 1 and editor.pipeline.node("clean_3_3").position == place
    return seconds


def small_pipeline(texts: Path) -> dict:
    """Two cheap nodes: what a cached run costs beyond its nodes."""
    return {
        "schema_version": 1,
        "name": "small",
        "settings": {"device": "cpu"},
        "nodes": [
            {"id": "load", "type": "data.load_dataset", "params": {"path": str(texts)}},
            {"id": "clean", "type": "text.clean", "params": {}},
        ],
        "edges": [{"source": "load", "target": "clean"}],
    }


def chatbot_pipeline(epochs: int) -> dict:
    data = json.loads((REPO / "pipelines" / "gpt2_chatbot.json").read_text())
    for node in data["nodes"]:
        if node["id"] == "train":
            node["params"]["epochs"] = epochs
    return data


def run_cold(pipeline_file: Path) -> None:
    """Fill the cache: the pipeline's first run, as a plain `nodeloom run`."""
    done = subprocess.run(
        [sys.executable, "-m", "nodeloom", "run", "--no-version", "--", str(pipeline_file)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"the first run of {pipeline_file.name} failed: {done.stderr.strip().splitlines()[-1:]}")


def click_to_results(store, start, pipeline_file: Path, folder: Path) -> float:
    """Seconds from starting the run to its end in the store; the run must have used the cache for every node."""
    from nodeloom.engine.events import ACTIVE

    started = time.perf_counter()
    worker = start(["--no-version", "--", str(pipeline_file)], folder)
    while True:
        run = store.get_run(worker.run_id)
        if run is not None and run.status not in ACTIVE:
            seconds = time.perf_counter() - started
            break
        if worker.exit_code() is not None and store.get_run(worker.run_id) is None:
            sys.exit(f"run {worker.run_id} ended without recording: {worker.output_tail()}")
        time.sleep(0.01)
    worker.wait(timeout=120)
    if run.status != "succeeded" or not all(node.cached for node in run.nodes.values()):
        sys.exit(f"run {worker.run_id} of {pipeline_file.name} was not a fully cached success: {worker.output_tail()}")
    return seconds


def time_clicks(store, pipeline_file: Path, folder: Path, clicks: int) -> tuple[list[float], list[float]]:
    """(warm worker, fresh process) seconds from click to results, alternating so both see the same load."""
    from nodeloom.engine import worker as workers
    from nodeloom.engine.paths import new_run_id

    def warm(arguments: list[str], output: Path):
        return workers.start_worker("run", arguments, output, cwd=REPO)

    def fresh(arguments: list[str], output: Path):
        run_id = new_run_id()
        log = output / f"{run_id}.log"
        return workers.start_fresh(run_id, workers.worker_arguments("run", run_id, arguments), log, REPO)

    click_to_results(store, warm, pipeline_file, folder)  # the server's own start, as when the app opens
    warm_seconds, fresh_seconds = [], []
    for _ in range(clicks):
        warm_seconds.append(click_to_results(store, warm, pipeline_file, folder))
        fresh_seconds.append(click_to_results(store, fresh, pipeline_file, folder))
    return warm_seconds, fresh_seconds


def describe(label: str, seconds: list[float], unit: str = "ms") -> str:
    scale, decimals = (1000, 1) if unit == "ms" else (1, 3)
    ordered = sorted(seconds)
    median, p90 = statistics.median(seconds) * scale, ordered[int(0.9 * len(ordered))] * scale
    return f"  {label:<22} median {median:6.{decimals}f} {unit}   p90 {p90:6.{decimals}f} {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, default=30)
    parser.add_argument("--no-training", action="store_true", help="skip the measurement while a run trains")
    parser.add_argument("--clicks", type=int, default=5, help="cached runs timed from the click, each way")
    parser.add_argument("--chatbot-epochs", type=int, default=30, help="the chatbot's training before its cached runs")
    parser.add_argument("--no-chatbot", action="store_true", help="time the clicks on the small pipeline only")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="nodeloom-bench-app-"))
    os.environ["NODELOOM_HOME"] = str(home)
    from streamlit.testing.v1 import AppTest

    from nodeloom.engine.store import Store

    texts = home / "texts.jsonl"
    line = "the quick brown fox jumps over the lazy dog"
    texts.write_text("".join(json.dumps({"text": f"line {i}: {line}"}) + "\n" for i in range(400)))
    store = Store.open(home)
    store.save_pipeline("fifty", fifty_nodes())

    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    app.run()  # first run: imports, device detection, store
    assert len(app.session_state["editor"].pipeline.nodes) == 50
    time_reruns(app, 3)  # warm
    idle = time_reruns(app, args.reruns)
    edited = time_edits(app, args.reruns)
    gestures = time_canvas_actions(app, args.reruns)
    print(f"50-node pipeline, {args.reruns} full reruns each (AppTest), on {os.cpu_count()} CPUs")
    print(describe("idle", idle))
    print(describe("after an edit", edited))
    print(describe("canvas action (move)", gestures))
    print(
        f"  goal: a rerun and a canvas action under 300 ms (median canvas action: "
        f"{statistics.median(gestures) * 1000:.0f} ms)"
    )
    no_peer = "none (no plain tool draws this canvas)"
    for label, seconds in (("idle", idle), ("after an edit", edited), ("canvas action (move)", gestures)):
        figure(
            f"app rerun, 50-node pipeline, {label}, median",
            nodeloom=statistics.median(seconds) * 1000,
            peer=None,
            unit="ms",
            peer_name=no_peer,
            goal="nodeloom < 300",
        )

    cached = [("small 2-node pipeline", small_pipeline(texts))]
    if not args.no_chatbot:
        cached.append((f"chatbot example ({args.chatbot_epochs} epochs)", chatbot_pipeline(args.chatbot_epochs)))
    print(f"Run clicked on a fully cached pipeline: seconds until its results are in the store ({args.clicks} each)")
    for label, pipeline in cached:
        pipeline_file = home / f"cached-{pipeline['name']}.json"
        pipeline_file.write_text(json.dumps(pipeline))
        run_cold(pipeline_file)
        warm, fresh = time_clicks(store, pipeline_file, home / "app-runs", args.clicks)
        print(describe(f"{label}, warm worker", warm, unit="s"))
        print(describe(f"{label}, fresh process", fresh, unit="s"))
        figure(
            f"app: click to results, cached {label}, median",
            nodeloom=statistics.median(warm),
            peer=statistics.median(fresh),
            unit="s",
            peer_name="a fresh `python -m nodeloom run` process per run (the app before the warm worker)",
            goal="nodeloom < 1",
        )
    if args.no_training:
        return

    pipeline_file = home / "training.json"
    pipeline_file.write_text(json.dumps(training_pipeline(texts)))
    command = [sys.executable, "-m", "nodeloom", "run", str(pipeline_file), "--run-id", "bench-training"]
    worker = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.time() + 300
        while time.time() < deadline:  # wait until the trainer itself is running
            run = store.get_run("bench-training")
            if run is not None and run.nodes.get("train") and run.nodes["train"].status == "running":
                break
            if worker.poll() is not None:
                sys.exit(f"the training run ended early (exit {worker.returncode}); see `nodeloom runs`")
            time.sleep(0.5)
        app.session_state["shown_run"] = "bench-training"  # the page polls and draws this run
        busy = time_reruns(app, args.reruns)
        still_training = worker.poll() is None
    finally:
        worker.send_signal(2)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()

    idle_ms, busy_ms = statistics.median(idle) * 1000, statistics.median(busy) * 1000
    ended = "" if still_training else "   (the training ended during the measurement)"
    print(describe("while training", busy) + ended)
    print(f"  ratio training/idle: {busy_ms / idle_ms:.2f}x   (goal: idle < 300 ms, ratio <= 1.2x)")
    figure(
        "app rerun while a run trains, median",
        nodeloom=busy_ms,
        peer=idle_ms,
        unit="ms",
        peer_name="the same app idle",
        goal="ratio <= 1.2",
    )


if __name__ == "__main__":
    main()
