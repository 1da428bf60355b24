"""How long a full rerun of the app's script takes with a 50-node pipeline on the canvas: idle, after
a parameter edit, after a canvas gesture, and while a training run is going in a worker process (the
app polls the store meanwhile).

Goals: a rerun and a canvas action under 300 ms of server time; no more than 1.2x idle while training.

    python benchmarks/bench_app.py [--reruns 30] [--no-training]

The rerun is timed through streamlit.testing's AppTest (the whole script, widgets included, minus
the browser). A canvas action is what the component sends for one gesture (here: a card moved), set
as the component's value before the rerun, exactly as the browser's message would; the rerun applies
it to the pipeline, writes the draft, validates and draws the new props. The training run is a real
`nodeloom run` of a small GPT-2 pipeline on this machine.
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


def describe(label: str, seconds: list[float]) -> str:
    ordered = sorted(seconds)
    median, p90 = statistics.median(seconds) * 1000, ordered[int(0.9 * len(ordered))] * 1000
    return f"  {label:<22} median {median:6.1f} ms   p90 {p90:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, default=30)
    parser.add_argument("--no-training", action="store_true", help="skip the measurement while a run trains")
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
