"""Runs that never block the page: each run is a `nodeloom run` worker process (the CLI's own engine
path, started and stopped by engine.worker as `nodeloom serve` does) that records its progress in the
store; the page only reads the store.

A worker is forked from a warm run server that imported torch and the other heavy libraries once, when the
app opened, so a run of a cached pipeline shows its results within a second of the click. It is still a
process and a session of its own, so a crash in a run never takes the app down and the accelerator's memory
goes back when the worker exits; Stop sends it SIGINT, which the CLI turns into "stop after the current
step". Because everything lives in the store, a browser reload or an app restart finds the run again.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import streamlit as st

from nodeloom.engine.events import RunStatus
from nodeloom.engine.paths import new_run_id, worker_folders
from nodeloom.engine.store import ACTIVE, RunDetail
from nodeloom.engine.worker import Worker, interrupt_process, start_worker, warm_up
from nodeloom.ui import library
from nodeloom.ui.canvas import CACHED, NodeStatus
from nodeloom.ui.state import Editor

POLL_SECONDS = 1.0
# A run started here is polled faster at first: a cached run ends within a second, and a 1 s poll would add up
# to another second before its results show. After the first seconds a run is a long one, polled at the pace
# the page can afford while it trains.
FIRST_POLL_SECONDS = 0.2
FIRST_POLLS_FOR_SECONDS = 4.0
MOST_PROCESSES = 1024  # as `nodeloom run --processes` allows
_workers: dict[str, Worker] = {}  # run id -> worker started by this app process


def runs_folder() -> Path:
    folder = worker_folders()["app"]
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def probe_devices() -> list[tuple[str, str]]:
    """(name, label) of every device, asked of a short-lived process: the page never imports torch
    (only the chat and the model previews do, on request) and never holds accelerator memory."""
    script = (
        "import json; from nodeloom.engine.device import available_devices; "
        "print(json.dumps([[d.name, d.label] for d in available_devices()]))"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=Path(__file__).resolve().parent.parent,
        )
        return [tuple(pair) for pair in json.loads(done.stdout.strip().splitlines()[-1])]
    except (subprocess.SubprocessError, ValueError, IndexError, OSError):
        return [("cpu", "CPU (the device check did not answer)")]


_device_probe: Future | None = None


def detected_devices() -> list[tuple[str, str]] | None:
    """The devices, once the background probe has answered (importing torch takes seconds)."""
    global _device_probe
    if _device_probe is None:
        _device_probe = ThreadPoolExecutor(max_workers=1, thread_name_prefix="device-probe").submit(probe_devices)
    return _device_probe.result() if _device_probe.done() else None


def found_devices_text(devices: list[tuple[str, str]]) -> str:
    """What the device check found, in words: "Found NVIDIA H200 (139.8 GiB), CPU (16 threads)"."""
    return "Found " + ", ".join(label for _, label in devices)


@st.fragment(run_every=0.5)
def await_devices() -> None:
    """Says the check is under way, and redraws the page the moment it answers (a page otherwise stays
    as drawn until the user touches it, and would never say what was found)."""
    if detected_devices() is not None:
        st.rerun(scope="app")
    st.caption("Looking for accelerators…")


def ray_installed() -> bool:
    """Whether Ray can be imported here, asked without importing it (the page itself never needs Ray)."""
    return importlib.util.find_spec("ray") is not None


def executor_choice() -> None:
    """The sidebar's executor, offered where Ray is installed; `start_run` reads it from the session."""
    if ray_installed():
        st.radio(
            "Executor",
            ["local", "ray"],
            horizontal=True,
            key="executor",
            help="ray: each node a Ray task on a local Ray instance, independent branches at the same time "
            "(`nodeloom run --executor ray`, docs/scale.md)",
        )


def executor_options(executor: str) -> list[str]:
    """The `nodeloom run` options for the sidebar's executor: none for the local one."""
    return [] if executor == "local" else ["--executor", executor]


def device_choice() -> str:
    """The sidebar's device selector: auto, then what the machine has, and what was found."""
    devices = detected_devices()
    labels = {"auto": "auto (best available)"} | {name: f"{name} — {label}" for name, label in devices or []}
    chosen = st.selectbox("Device", list(labels), format_func=labels.get, key="device")
    if devices is None:
        await_devices()
    else:
        st.caption(found_devices_text(devices))
    return chosen.partition(":")[0]  # the CLI takes a kind; the pipeline setting may name an index


def processes_choice() -> int:
    """The sidebar's process count: above 1, a run starts under PyTorch's launcher (`nodeloom run --processes N`)."""
    return int(
        st.number_input(
            "Processes",
            min_value=1,
            max_value=MOST_PROCESSES,
            value=1,
            step=1,
            key="processes",
            help="Training processes (one per GPU is usual): train.trainer trains in all of them with DDP, "
            "every other node runs once",
        )
    )


def run_options(targets: list[str], device: str, processes: int) -> list[str]:
    """The `nodeloom run` options of a run started here: --until per target, --device, --processes."""
    options = [option for target in targets for option in ("--until", target)]
    if device != "auto":
        options += ["--device", device]
    if processes > 1:
        options += ["--processes", str(processes)]
    return options


def warm_worker() -> None:
    """Have the run server import its libraries while the page opens, not when Run is first clicked; a call
    while it is up costs nothing (engine.worker.warm_up)."""
    warm_up()


def spawn(command: str, arguments: list[str], run_id: str | None = None) -> str:
    """Start `nodeloom COMMAND --json --run-id ID ARGUMENTS` as a worker of its own; returns ID."""
    worker = start_worker(command, arguments, runs_folder(), run_id=run_id, cwd=Path(__file__).resolve().parent.parent)
    _workers[worker.run_id] = worker
    st.session_state["shown_run"] = worker.run_id
    return worker.run_id


def poll_seconds(started: float | None, now: float) -> float:
    """How often the page polls a run: faster in the first seconds of a run started here (`started`)."""
    young = started is not None and now - started < FIRST_POLLS_FOR_SECONDS
    return FIRST_POLL_SECONDS if young else POLL_SECONDS


def write_run_file(data: dict, run_id: str) -> Path:
    """The pipeline a run starts from, beside the run's log: the worker reads it once and the store keeps it."""
    path = runs_folder() / f"{run_id}.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def start_run(editor: Editor, targets: list[str], device: str) -> str:
    """Run the editor's pipeline as it is: `nodeloom run --no-version FILE` on a copy of it.

    Versions are made by Save only. The run records this exact pipeline JSON, tied to the saved
    version with the same content when there is one, else as a draft, and a rerun runs it again.
    """
    data = editor.pipeline.to_dict() | {"name": editor.saved_as or editor.pipeline.name or "untitled"}
    run_id = new_run_id()
    options = run_options(targets, device, st.session_state.get("processes", 1))
    options += executor_options(st.session_state.get("executor", "local"))
    path = write_run_file(data, run_id)
    return spawn("run", ["--no-version", *options, "--", str(path)], run_id=run_id)  # "--": a path may begin "-"


def rerun(run_id: str) -> str:
    """Run a recorded run's exact pipeline and overrides again."""
    return spawn("rerun", [run_id])


def worker_output(run_id: str) -> str:
    path = runs_folder() / f"{run_id}.log"
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


def worker_exit(run_id: str) -> int | None:
    """The worker's exit code, when this app started it and it has ended (reaping it)."""
    worker = _workers.get(run_id)
    return None if worker is None else worker.exit_code()


def stop_run(run: RunDetail) -> None:
    """SIGINT: the worker finishes the current step, records 'cancelled' and exits."""
    worker = _workers.get(run.id)
    if worker is not None:
        worker.stop()
    elif run.pid:
        interrupt_process(run.pid)


def shown_run(editor: Editor) -> RunDetail | None:
    """The run whose statuses the canvas shows: the one started here, else the pipeline's latest."""
    run_id = st.session_state.get("shown_run")
    if run_id is None:
        name = editor.saved_as or editor.pipeline.name
        latest = library.store().list_runs(name, limit=1)
        run_id = latest[0].id if latest else None
    return library.store().get_run(run_id) if run_id else None


def node_statuses(run: RunDetail | None) -> dict[str, NodeStatus]:
    if run is None:
        return {}
    found = {}
    for node_id, node_run in run.nodes.items():
        status = CACHED if node_run.cached else node_run.status
        progress = None
        if status == RunStatus.RUNNING and node_run.progress is not None:
            progress = round(node_run.progress, 1)  # the canvas redraws per 10%, not per step
        found[node_id] = NodeStatus(status, progress, "", node_run.seconds, node_run.error, node_run.cache_key)
    return found


def is_active(run: RunDetail | None) -> bool:
    return run is not None and run.status in ACTIVE


def launch_failure(run_id: str) -> str | None:
    """Why a worker ended before recording its run (an invalid pipeline, a bad device…)."""
    if library.store().get_run(run_id) is None and worker_exit(run_id) is not None:
        lines = [line for line in worker_output(run_id).splitlines() if line.strip()]
        return "\n".join(lines[-8:]) or f"the run process exited with code {worker_exit(run_id)}"
    return None


def live_panel(
    editor: Editor,
    run: RunDetail | None,
    draw: Callable[[RunDetail | None, str | None, bool], None],
    presentation: bool = False,
) -> None:
    """Poll the store while a run is going; redraw the whole page when a node changes state
    (the canvas badges), else only this panel. `run` is the snapshot the page was drawn from, so
    a run that ends between two reads of the store is still noticed."""
    shown = st.session_state.get("shown_run")
    starting = shown is not None and run is None and worker_exit(shown) is None
    polling = is_active(run) or starting
    started = _workers[shown].started if shown in _workers else None
    interval = poll_seconds(started, time.monotonic())

    @st.fragment(run_every=interval if polling else None)
    def live() -> None:
        current = shown_run(editor)
        ended = polling and not is_active(current) and (current is not None or worker_exit(shown) is not None)
        slower = interval < poll_seconds(started, time.monotonic())  # past its first seconds: redraw at 1 s
        if ended or slower or node_statuses(current) != st.session_state.get("statuses_drawn"):
            st.rerun(scope="app")
        draw(current, shown, starting)

    live()
