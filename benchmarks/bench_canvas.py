"""Frame times while panning and zooming a 200-node pipeline on the canvas, beside plain React Flow.

    python benchmarks/bench_canvas.py [--copies 11] [--rounds 2] [--steps 60] [--baseline-build DIR]

NodeLoom: the canvas component as Streamlit serves it (tools/canvas_demo.py?copies=11: eleven copies of the
gpt2_chatbot example, 209 cards and 275 links, with the demo's sample run statuses). Peer: plain @xyflow/react with
the same nodes and links at the same places and canvas size, drawn with its default nodes and edges (a page of its own
in ui/canvas_component/frontend/bench/, built here into a temporary folder, never into the shipped bundle). Both get
the same mouse input in the same headless Chromium, in turns: Ctrl+wheel zooms in from the fitted overview and back
out, the wheel pans, and a drag on empty canvas pans in a circle, one input event per ~16 ms. A requestAnimationFrame
loop in the canvas's own frame records frame timestamps meanwhile; a frame time is the gap between two of them.

--baseline-build measures another build of the component too (for example the previous commit's frontend/build/),
in the same rounds, so a change can be judged before and after under the same load; it prints its frame times only.

Reported: p50 and p95 frame time and the share of 60 Hz frames missed. Goal: p95 at most two 60 Hz frames (30 frames
per second). Headless Chromium with --disable-gpu rasterises on the CPU, on a machine other work may share, so these
figures are pessimistic next to a desktop browser with a GPU; the ratio to the peer is the steadier figure.

Needs Playwright, Chromium (/usr/bin/chromium) and the frontend's node_modules (`npm ci` in
ui/canvas_component/frontend).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import itertools
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO / "tools")]
from _report import figure  # noqa: E402

FRONTEND = REPO / "ui" / "canvas_component" / "frontend"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WINDOW = {"width": 1600, "height": 1000}
CANVAS_FRAME = "iframe[title*='nodeloom_canvas']"
VSYNC_MS = 1000 / 60
STEP_SECONDS = 0.016  # one input event per frame, as a mouse or touchpad sends them
# 30 frames per second: a frame at most two 60 Hz frames long. requestAnimationFrame stamps frames on vsync, so such a
# frame measures 33.3-33.4 ms; a bound of 33 ms (as before) let only single frames pass, i.e. asked for 60 fps.
GOAL_P95_MS = round(2 * VSYNC_MS + 0.2, 1)

# Runs in the canvas's frame: a requestAnimationFrame loop that keeps every frame's timestamp until stopped.
START_RECORDING = """() => {
  window.__benchFrames = [];
  window.__benchRecording = true;
  const tick = (stamp) => {
    window.__benchFrames.push(stamp);
    if (window.__benchRecording) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""
STOP_RECORDING = "() => { window.__benchRecording = false; return window.__benchFrames; }"
# A point on empty canvas (the pane itself, not a card or a panel), nearest the middle: where a drag pans.
EMPTY_POINT = """() => {
  const box = document.querySelector('.react-flow').getBoundingClientRect();
  const middle = { x: box.left + box.width / 2, y: box.top + box.height / 2 };
  let best = null;
  for (let x = box.left + 40; x < box.right - 40; x += 15) {
    for (let y = box.top + 60; y < box.bottom - 80; y += 15) {
      const below = document.elementFromPoint(x, y);
      if (!below || !below.classList.contains('react-flow__pane')) continue;
      const distance = Math.hypot(x - middle.x, y - middle.y);
      if (!best || distance < best.distance) best = { x, y, distance };
    }
  }
  return best;
}"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (share in 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def frame_times(stamps: list[float]) -> list[float]:
    """The gaps between consecutive requestAnimationFrame timestamps (ms)."""
    return [later - earlier for earlier, later in itertools.pairwise(stamps)]


def frame_summary(gaps: list[float]) -> dict[str, float]:
    """p50/p95 frame time and the share of 60 Hz frames missed, from frame times in ms."""
    slots = [max(1, round(gap / VSYNC_MS)) for gap in gaps]
    return {
        "frames": len(gaps),
        "p50": percentile(gaps, 0.50),
        "p95": percentile(gaps, 0.95),
        "dropped": 100 * sum(slot - 1 for slot in slots) / sum(slots),
    }


def describe_frames(summary: dict[str, float]) -> str:
    return (
        f"{summary['frames']} frames, p50 {summary['p50']:.1f} ms, p95 {summary['p95']:.1f} ms, "
        f"dropped {summary['dropped']:.0f}%"
    )


def pipeline_data(copies: int) -> dict:
    """The demo's nodes and links for `copies` copies of the chatbot example, as the peer page reads them."""
    from canvas_demo import example_state  # tools/canvas_demo.py, the page NodeLoom is measured on

    from nodeloom.engine.node import discover

    state = example_state(discover(), copies)
    nodes = [{"id": node["id"], "title": node["title"], "position": node["position"]} for node in state["nodes"]]
    edges = [{"id": edge["id"], "source": edge["source"], "target": edge["target"]} for edge in state["edges"]]
    return {"nodes": nodes, "edges": edges}


def build_peer(folder: Path, data: dict) -> None:
    if not (FRONTEND / "node_modules" / "@xyflow" / "react").is_dir():
        sys.exit(f"bench_canvas: no node_modules in {FRONTEND}; run `npm ci` there first")
    subprocess.run(
        ["npx", "vite", "build", "--config", "bench/vite.config.js", "--outDir", str(folder)],
        cwd=FRONTEND,
        check=True,
        capture_output=True,
    )
    (folder / "data.json").write_text(json.dumps(data), encoding="utf-8")


def xyflow_version() -> str:
    package = FRONTEND / "node_modules" / "@xyflow" / "react" / "package.json"
    return json.loads(package.read_text(encoding="utf-8"))["version"]


@contextlib.contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("localhost", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # the benchmark's output is its figures
        pass


@contextlib.contextmanager
def serve_demo(copies: int, log_path: Path, bundle_url: str | None = None) -> Iterator[str]:
    """tools/canvas_demo.py with `copies` copies of the example; bundle_url serves another build of the component."""
    port = free_port()
    environment = os.environ | {"HF_HUB_OFFLINE": "1"}
    if bundle_url:
        environment["NODELOOM_CANVAS_DEV_URL"] = bundle_url
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "tools/canvas_demo.py",
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://localhost:{port}"
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=2)
                break
            except OSError:
                if process.poll() is not None or time.time() > deadline:
                    sys.exit(f"bench_canvas: the canvas demo did not start: {log_path.read_text()[-500:]}")
                time.sleep(0.5)
        yield f"{url}/?copies={copies}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def paced(steps: int, act) -> None:
    """Call act(step) `steps` times, one call per STEP_SECONDS (less often if a call takes longer)."""
    started = time.perf_counter()
    for step in range(steps):
        act(step)
        wait = started + (step + 1) * STEP_SECONDS - time.perf_counter()
        if wait > 0:
            time.sleep(wait)


def gestures(page, centre: dict[str, float], empty: dict[str, float], steps: int) -> None:
    """Zoom in from the overview and back out, pan with the wheel, then drag the canvas round a circle."""
    mouse = page.mouse
    mouse.move(centre["x"], centre["y"])
    page.keyboard.down("Control")
    paced(steps, lambda step: mouse.wheel(0, -4))
    paced(steps, lambda step: mouse.wheel(0, 4))
    page.keyboard.up("Control")
    paced(steps, lambda step: mouse.wheel(30 * math.cos(step / 8), 30 * math.sin(step / 8)))
    radius = 150
    mouse.move(empty["x"], empty["y"])
    mouse.down()
    paced(
        2 * steps,
        lambda step: mouse.move(
            empty["x"] + radius * math.sin(2 * math.pi * step / steps),
            empty["y"] + radius * (1 - math.cos(2 * math.pi * step / steps)) / 2,
        ),
    )
    mouse.up()


def measure(browser, url: str, frame_selector: str | None, cards: int, steps: int) -> tuple[list[float], dict]:
    """Open the page, wait until its cards are drawn and fitted, drive the gestures and return the frame times
    and the canvas's box (in page coordinates)."""
    page = browser.new_page(viewport=WINDOW)
    try:
        page.goto(url)
        if frame_selector:
            page.wait_for_selector(frame_selector, timeout=60_000)
            frame = page.query_selector(frame_selector).content_frame()
        else:
            frame = page.main_frame
        frame.wait_for_function(f"document.querySelectorAll('.react-flow__node').length >= {cards}", timeout=60_000)
        time.sleep(2)  # the first measurement and fit, and the demo's first rerun, are not what we measure
        offset = {"x": 0.0, "y": 0.0}
        if frame_selector:
            frame_box = page.query_selector(frame_selector).bounding_box()
            offset = {"x": frame_box["x"], "y": frame_box["y"]}
        box = frame.evaluate(
            "() => { const b = document.querySelector('.react-flow').getBoundingClientRect();"
            " return {x: b.left, y: b.top, width: b.width, height: b.height}; }"
        )
        box = {**box, "x": box["x"] + offset["x"], "y": box["y"] + offset["y"]}
        empty = frame.evaluate(EMPTY_POINT)
        if empty is None:
            sys.exit(f"bench_canvas: no empty canvas to drag on at {url}")
        empty = {"x": empty["x"] + offset["x"], "y": empty["y"] + offset["y"]}
        centre = {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}
        frame.evaluate(START_RECORDING)
        gestures(page, centre, empty, steps)
        stamps = frame.evaluate(STOP_RECORDING)
        return frame_times(stamps), box
    finally:
        page.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=11, help="copies of the chatbot example (19 cards each)")
    parser.add_argument("--rounds", type=int, default=2, help="turns per page, alternating NodeLoom and the peer")
    parser.add_argument("--steps", type=int, default=60, help="input events per gesture phase (~16 ms each)")
    parser.add_argument("--baseline-build", type=Path, help="another build of the component to measure alongside")
    options = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        sys.exit(f"bench_canvas: no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    data = pipeline_data(options.copies)
    cards, links = len(data["nodes"]), len(data["edges"])
    print(f"{cards} cards, {links} links, {options.rounds} rounds of {5 * options.steps} input events each", flush=True)
    with tempfile.TemporaryDirectory(prefix="nodeloom-bench-canvas-") as scratch:
        peer_folder = Path(scratch) / "peer"
        build_peer(peer_folder, data)
        with contextlib.ExitStack() as stack:
            demo_url = stack.enter_context(serve_demo(options.copies, Path(scratch) / "demo.log"))
            peer_root = stack.enter_context(serve_folder(peer_folder))
            baseline_url = None
            if options.baseline_build:
                bundle_url = stack.enter_context(serve_folder(options.baseline_build))
                baseline_url = stack.enter_context(
                    serve_demo(options.copies, Path(scratch) / "baseline.log", bundle_url)
                )
            browser = stack.enter_context(sync_playwright()).chromium.launch(
                executable_path=CHROMIUM, args=BROWSER_ARGS
            )
            results: dict[str, list[float]] = {"NodeLoom": [], "baseline build": [], "peer": []}
            for round_index in range(options.rounds):
                frames, box = measure(browser, demo_url, CANVAS_FRAME, cards, options.steps)
                measured = {"NodeLoom": frames}
                if baseline_url:
                    measured["baseline build"], _ = measure(browser, baseline_url, CANVAS_FRAME, cards, options.steps)
                peer_url = f"{peer_root}/index.html?width={round(box['width'])}&height={round(box['height'])}"
                measured["peer"], _ = measure(browser, peer_url, None, cards, options.steps)
                for name, frames in measured.items():
                    results[name] += frames
                    print(f"round {round_index + 1} {name}: {describe_frames(frame_summary(frames))}", flush=True)
            browser.close()
    if options.baseline_build:
        print(f"all rounds, baseline build: {describe_frames(frame_summary(results['baseline build']))}", flush=True)
    nodeloom, peer = frame_summary(results["NodeLoom"]), frame_summary(results["peer"])  # all rounds' frames
    peer_name = f"@xyflow/react {xyflow_version()}, default nodes"
    subject = f"canvas pan+zoom, {cards} cards/{links} links, headless Chromium (software)"
    figure(
        f"{subject}: frame time p95",
        nodeloom=nodeloom["p95"],
        peer=peer["p95"],
        unit="ms",
        peer_name=peer_name,
        goal=f"nodeloom <= {GOAL_P95_MS}",
    )
    figure(f"{subject}: frame time p50", nodeloom=nodeloom["p50"], peer=peer["p50"], unit="ms", peer_name=peer_name)
    figure(
        f"{subject}: 60 Hz frames dropped",
        nodeloom=nodeloom["dropped"],
        peer=peer["dropped"],
        unit="%",
        peer_name=peer_name,
    )
    print("note: headless Chromium without a GPU rasterises on the CPU; a desktop browser is faster", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
