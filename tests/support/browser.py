"""The real app for the browser tests: `nodeloom app` on a free port, headless Chromium, and the helpers that find
the canvas's cards and handles, import a pipeline through the sidebar and run it.

Importing this module skips the importing test module where Playwright or Chromium is missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import REPO

ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Opening another pipeline gives the canvas a fresh component; the old one may linger a moment.
CANVAS = "iframe[title*='nodeloom_canvas'] >> nth=-1"
SIDEBAR = "section[data-testid='stSidebar']"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

playwright_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():
    pytest.skip("Chromium is not installed (the CI script installs Debian's chromium)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def serve_process(command: Callable[[int], list[str]], log_path: Path, env: dict[str, str], name: str) -> Iterator[str]:
    """A Streamlit server started as `command(port)` on a free port, logging to log_path; yields its URL once it
    answers, stops it afterwards."""
    port = free_port()
    log = open(log_path, "wb")
    process = subprocess.Popen(
        command(port), cwd=REPO, env=os.environ | env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://localhost:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"the {name} exited: {log_path.read_text()[-2000:]}")
            time.sleep(0.5)
    else:
        pytest.fail(f"the {name} did not answer within 60 s")
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def serve_app(home: Path) -> Iterator[str]:
    """`nodeloom app` with NODELOOM_HOME=home, on a free port; yields its URL, stops it and the runs it left going
    afterwards."""
    env = {"NODELOOM_HOME": str(home), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    try:
        yield from serve_process(
            lambda port: [sys.executable, "-m", "nodeloom", "app", "--port", str(port)], home / "app.log", env, "app"
        )
    finally:
        stop_runs(home)


@contextlib.contextmanager
def chromium_tab(url: str, height: int = 1000) -> Iterator[Any]:
    """A headless Chromium tab on `url`, 1600 wide, each step waiting up to 30 s; the browser closes afterwards."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        tab = browser.new_page(viewport={"width": 1600, "height": height})
        tab.set_default_timeout(30_000)
        tab.goto(url)
        yield tab
        browser.close()


def stop_runs(home: Path) -> None:
    """End the runs the app left going (a test that failed mid-training): a run's worker is a session of
    its own that outlives the app by design, and would go on taking the machine's cores."""
    from nodeloom.engine.store import Store

    store = Store.open(home)
    for run_id in store.active_run_ids():
        run = store.get_run(run_id)
        command = Path(f"/proc/{run.pid}/cmdline") if run is not None and run.pid else None
        with contextlib.suppress(OSError):  # gone already, or no /proc: nothing to stop
            # Only the worker of this very run: a pid the store kept may belong to another process by now.
            if command is not None and run_id in command.read_bytes().decode(errors="replace").split("\0"):
                os.kill(run.pid, signal.SIGTERM)


def shot(page, name: str) -> None:
    page.wait_for_timeout(600)  # let the canvas settle after the last rerun
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def canvas_frame(page):
    return page.frame_locator(CANVAS)


def card(page, node_id: str):
    return canvas_frame(page).locator(f".react-flow__node[data-id='{node_id}']")


def handle(page, node_id: str, port: str, side: str):
    """A card's handle for one port: side "source" for an output, "target" for an input."""
    return canvas_frame(page).locator(f".react-flow__handle.{side}[data-nodeid='{node_id}'][data-handleid='{port}']")


def import_pipeline(page, home: Path, data: dict) -> None:
    """Import a pipeline file through the sidebar, discarding unsaved changes when the app asks."""
    path = home / f"{data['name']}.json"
    path.write_text(json.dumps(data))
    # Open the expander unless it is open: a collapsed one keeps its uploader in the page but hides the
    # "Imported" message and the "Discard and open" button this waits for.
    expander = page.locator(f"{SIDEBAR} details").filter(has_text="Import / export")
    if expander.get_attribute("open") is None:
        page.get_by_text("Import / export").click()
    uploader = expander.locator("input[type='file']")
    imported = page.get_by_text(f"Imported {path.name}")
    discard = page.get_by_role("button", name="Discard and open")
    try:
        # The uploader is keyed by the canvas generation: a rerun landing between finding it and
        # handing it the file replaces it, and the file goes nowhere. Hand it over again then.
        for attempt in range(3):
            uploader.set_input_files(str(path))
            try:
                imported.or_(discard).first.wait_for(timeout=20_000 * (attempt + 1))
                if discard.is_visible():
                    discard.click()
                    imported.wait_for()
                break
            except playwright_api.TimeoutError:
                if attempt == 2:
                    raise
    finally:
        shot(page, f"import-{data['name']}")


def run_all(page) -> None:
    page.get_by_text("The pipeline is valid.").wait_for()
    button = page.get_by_role("button", name="Run all")
    playwright_api.expect(button).to_be_enabled()
    # A click while the page is still rerunning (after an import, say) can be lost with the rerun it interrupts:
    # CI saw Run all start no run once. Streamlit shows its status widget while a script run is going.
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden")
    button.click()
    started = page.get_by_role("button", name="Stop").or_(page.get_by_text("succeeded")).or_(page.get_by_text("failed"))
    started.first.wait_for()


def run_and_present(page, home: Path, name: str, timeout_ms: int = 180_000) -> str:
    """Press "Run and present" and wait until the page shows the new run succeeded; returns its id. The default
    timeout is for a small run, which may take minutes to start on a busy machine."""
    from nodeloom.engine.store import Store

    store = Store.open(home)
    before = {run.id for run in store.list_runs(name)}
    page.get_by_role("button", name="Run and present").click()
    deadline = time.time() + timeout_ms / 1000
    while not (new := [run for run in store.list_runs(name) if run.id not in before]) and time.time() < deadline:
        time.sleep(0.5)
    assert new, "no run started"
    page.get_by_text(f"Succeeded · run {new[0].id}").wait_for(timeout=timeout_ms)
    return new[0].id
