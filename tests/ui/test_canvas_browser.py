"""The canvas component in headless Chromium, through tools/canvas_demo.py (the component outside the app,
with the real registry and the gpt2_chatbot example). Screenshots go to test-artifacts/browser/canvas-*.png.
"""

from __future__ import annotations

import json
import sys
import time

import pytest

from tests.support import REPO
from tests.support.browser import ARTIFACTS, BROWSER_ARGS, CHROMIUM, playwright_api, serve_process

pytestmark = pytest.mark.browser

CANVAS = "iframe[title*='nodeloom_canvas']"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    log_path = tmp_path_factory.mktemp("canvas-demo") / "demo.log"
    yield from serve_process(
        lambda port: [
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
        ],
        log_path,
        {"HF_HUB_OFFLINE": "1"},
        "demo",
    )


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield chromium
        chromium.close()


class Canvas:
    """One browser page showing the demo, with the helpers a test needs."""

    def __init__(self, browser, url: str):
        self.page = browser.new_page(viewport={"width": 1600, "height": 1000})
        self.page.goto(url)
        self.page.wait_for_selector(CANVAS, timeout=60_000)
        self.frame = self.page.query_selector(CANVAS).content_frame()
        self.frame.wait_for_selector(".react-flow__node", timeout=60_000)
        self.wait_for("view kept")  # the first fit has been reported: the canvas is settled

    def result(self) -> str:
        return self.page.locator('[data-testid="stText"]').inner_text()

    def last_action(self) -> dict:
        return json.loads(self.page.locator('[data-testid="stCode"]').inner_text())["action"]

    def wait_for(self, text: str, timeout: float = 20) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            shown = self.result() if self.page.locator('[data-testid="stText"]').count() else ""
            if text in shown:
                return shown
            time.sleep(0.2)
        raise AssertionError(f"the demo never showed {text!r}; it shows {shown!r}")

    def centre(self, selector: str) -> tuple[float, float]:
        box = self.frame.locator(selector).bounding_box()
        return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    def port(self, node: str, port: str, side: str) -> tuple[float, float]:
        return self.centre(f'.react-flow__handle.{side}[data-nodeid="{node}"][data-handleid="{port}"]')

    def drag(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        mouse = self.page.mouse
        mouse.move(*start)
        mouse.down()
        mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, steps=10)
        mouse.move(*end, steps=10)
        mouse.up()

    def edge_ids(self) -> list[str]:
        return self.frame.eval_on_selector_all(".react-flow__edge", "edges => edges.map(e => e.dataset.id)")

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"canvas-{name}.png"))


@pytest.fixture
def canvas(browser, demo):
    opened = Canvas(browser, demo)
    yield opened
    opened.page.close()


def test_the_fitted_chatbot_example_has_readable_cards(canvas):
    canvas.shot("fitted")
    widths = canvas.frame.eval_on_selector_all(".nl-card", "cards => cards.map(c => c.getBoundingClientRect().width)")
    cards = len(json.loads((REPO / "pipelines" / "gpt2_chatbot.json").read_text())["nodes"])
    assert len(widths) == cards and min(widths) >= 110, widths


def test_a_link_from_an_output_to_an_input_connects_exactly_those_ports(canvas):
    canvas.drag(canvas.port("qa", "dataset", "source"), canvas.port("gpt2", "dataset", "target"))
    canvas.wait_for("connected qa.dataset → gpt2.dataset")
    assert canvas.last_action() == {
        "kind": "connect",
        "source": "qa",
        "source_port": "dataset",
        "target": "gpt2",
        "target_port": "dataset",
    }


def test_an_incompatible_drop_is_refused_on_the_spot_with_the_reason(canvas):
    before = canvas.result()
    canvas.drag(canvas.port("split", "train", "source"), canvas.port("train", "optimizer", "target"))
    toast = canvas.frame.locator(".nl-toast").inner_text(timeout=5000)
    canvas.shot("refused")
    assert toast == "train.optimizer takes optimizer_spec, not dataset"
    time.sleep(1)
    assert canvas.result() == before  # nothing was sent


def test_a_second_link_on_an_input_replaces_the_first(canvas):
    canvas.drag(canvas.port("tokenize_validation", "dataset", "source"), canvas.port("train", "train", "target"))
    canvas.wait_for("(replaced tokenize_train.dataset->train.train)")
    time.sleep(0.5)
    assert "tokenize_train.dataset->train.train" not in canvas.edge_ids()


def test_a_palette_drag_adds_the_node_where_it_is_dropped(canvas):
    canvas.frame.get_by_text("+ Nodes").click()
    canvas.frame.locator(".nl-palette input").fill("accuracy")
    pane = canvas.frame.locator(".react-flow__pane")
    drop = {"x": 330, "y": pane.bounding_box()["height"] - 200}
    canvas.frame.locator('.nl-palette-item[data-typeid="metric.accuracy"]').drag_to(pane, target_position=drop)
    canvas.wait_for("added accuracy_1")
    canvas.shot("palette-drop")
    card = canvas.frame.locator('.react-flow__node[data-id="accuracy_1"]').bounding_box()
    pane_box = pane.bounding_box()
    x, y = pane_box["x"] + drop["x"], pane_box["y"] + drop["y"]
    assert card["x"] <= x <= card["x"] + card["width"] and card["y"] <= y <= card["y"] + card["height"]


def test_delete_removes_the_selected_node_and_undo_brings_it_back(canvas):
    canvas.frame.locator('.react-flow__node[data-id="rouge"] .nl-card-title').click()
    canvas.wait_for("selected ['rouge']")
    canvas.page.keyboard.press("Delete")
    canvas.wait_for("deleted nodes ['rouge']")
    assert canvas.frame.locator('.react-flow__node[data-id="rouge"]').count() == 0
    canvas.page.keyboard.press("Control+z")
    canvas.wait_for("undo done")
    canvas.frame.wait_for_selector('.react-flow__node[data-id="rouge"]', timeout=5000)


def test_a_link_dropped_on_empty_canvas_offers_only_fitting_nodes_and_adds_one_connected(canvas):
    start = canvas.port("generate", "dataset", "source")
    canvas.drag(start, (start[0] - 80, start[1] + 330))  # below Perplexity, left of the minimap: empty canvas
    offered = canvas.frame.locator(".nl-quickadd-item").evaluate_all("items => items.map(i => i.dataset.typeid)")
    canvas.shot("quick-add")
    assert "metric.rouge" in offered and not [t for t in offered if t.startswith("optim.") or t == "train.trainer"]
    canvas.frame.locator('.nl-quickadd-item[data-typeid="metric.rouge"]').click()
    canvas.wait_for("connected generate.dataset → rouge_1.dataset")


def test_a_link_python_refuses_disappears_from_the_canvas(canvas):
    canvas.drag(canvas.port("generate", "dataset", "source"), canvas.port("clean", "dataset", "target"))
    canvas.wait_for("would make a cycle")
    time.sleep(1)
    edges = canvas.edge_ids()
    assert "generate.dataset->clean.dataset" not in edges and "qa.dataset->clean.dataset" in edges


def test_read_only_offers_no_palette_and_no_links(browser, demo):
    shown = Canvas(browser, demo + "?read_only=1")
    try:
        assert shown.frame.locator(".nl-palette-toggle").count() == 0
        assert shown.frame.locator(".react-flow__handle.connectable").count() == 0
        shown.drag(shown.port("qa", "dataset", "source"), shown.port("gpt2", "dataset", "target"))
        time.sleep(1)
        assert "qa.dataset->gpt2.dataset" not in shown.edge_ids() and shown.result().endswith("view kept")
    finally:
        shown.page.close()
