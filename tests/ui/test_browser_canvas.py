"""The canvas in the real app (`nodeloom app` in headless Chromium, 1600x1000): typed handles, port-to-port
links checked by the engine, the palette, the keyboard, the autosaved draft with the view, and runs that make
no version. One app for the module, on the chatbot example; the tests run in order. Screenshots go to
test-artifacts/browser/canvas-app-*.png.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from nodeloom.engine.store import Store
from nodeloom.ui.library import first_pipeline
from tests.support.browser import (
    ARTIFACTS,
    CANVAS,
    SIDEBAR,
    canvas_frame,
    card,
    chromium_tab,
    handle,
    import_pipeline,
    playwright_api,
    run_all,
    serve_app,
)
from tests.support.pipelines import bleu_pipeline

pytestmark = pytest.mark.browser

TRAINER_PORTS = 9  # train.trainer: model, train, validation, optimizer, schedule, regularization in; model, history,
# metrics out


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("canvas-home")


@pytest.fixture(scope="module")
def page(home):
    for url in serve_app(home):
        with chromium_tab(url) as tab:
            settle(tab)
            yield tab


def settle(page) -> None:
    """Wait until the canvas shows its cards and has reported its first view (drafted)."""
    card(page, "train").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"canvas-app-{name}.png"))


def draft(home: Path) -> dict:
    """The newest autosaved draft: what the app would restore."""
    newest = max((home / "drafts").glob("*.json"), key=lambda path: path.stat().st_mtime_ns)
    return json.loads(newest.read_text())


def eventually(check, timeout: float = 20.0):
    """Poll `check` until it returns something true (the app answers a gesture with a rerun)."""
    deadline = time.time() + timeout
    while True:
        found = check()
        if found or time.time() > deadline:
            return found
        time.sleep(0.25)


def links(pipeline: dict) -> set[tuple[str, str, str, str]]:
    return {(e["source"], e["source_port"], e["target"], e["target_port"]) for e in pipeline["edges"]}


def node_ids(pipeline: dict) -> set[str]:
    return {node["id"] for node in pipeline["nodes"]}


def centre(locator) -> tuple[float, float]:
    box = locator.bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def drag(page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """A pointer drag in steps, as a hand makes it (React Flow follows the pointer, not a drop event)."""
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, steps=10)
    page.mouse.move(*end, steps=10)
    page.mouse.up()


def link_ports(page, source: str, source_port: str, target: str, target_port: str) -> None:
    drag(page, centre(handle(page, source, source_port, "source")), centre(handle(page, target, target_port, "target")))


def viewport(page) -> tuple[float, float, float]:
    style = canvas_frame(page).locator(".react-flow__viewport").get_attribute("style")
    x, y, zoom = re.search(r"translate\(([-\d.]+)px, ([-\d.]+)px\) scale\(([-\d.]+)\)", style).groups()
    return float(x), float(y), float(zoom)


EDGE_POINT = """edge => {
    // A point of the link's curve that no card covers, in the frame's coordinates.
    const path = edge.querySelector("path");
    const length = path.getTotalLength();
    for (let step = 1; step < 20; step++) {
        const local = path.getPointAtLength(length * step / 20);
        const point = new DOMPoint(local.x, local.y).matrixTransform(path.getScreenCTM());
        if (document.elementFromPoint(point.x, point.y)?.closest(".react-flow__edge") === edge) {
            return {x: point.x, y: point.y};
        }
    }
    return null;
}"""


def click_link(page, edge_id: str) -> None:
    point = canvas_frame(page).locator(f".react-flow__edge[data-id='{edge_id}']").evaluate(EDGE_POINT)
    assert point, f"no visible part of link {edge_id}"
    frame_box = page.locator(CANVAS).bounding_box()
    page.mouse.click(frame_box["x"] + point["x"], frame_box["y"] + point["y"])


def select_card(page, node_id: str) -> None:
    """Click a card's title; the inspector in the sidebar follows (the keyboard then goes to the canvas)."""
    card(page, node_id).locator(".nl-card-title").click()
    playwright_api.expect(page.locator(SIDEBAR).get_by_role("textbox", name="Node id")).to_have_value(node_id)


def test_the_fitted_chatbot_example_is_readable_and_the_trainer_has_a_handle_per_port(page):
    frame = canvas_frame(page)
    widths = frame.locator(".nl-card").evaluate_all("cards => cards.map(c => c.getBoundingClientRect().width)")
    shot(page, "example-opened")
    assert len(widths) == len(first_pipeline().nodes) and min(widths) >= 110, widths
    handles = frame.locator(".react-flow__node[data-id='train'] .react-flow__handle").evaluate_all(
        "found => found.map(h => (h.classList.contains('source') ? 'out:' : 'in:') + h.dataset.handleid)"
    )
    assert len(set(handles)) == len(handles) == TRAINER_PORTS, handles


def test_a_link_from_adamw_to_the_trainers_optimizer_is_saved_port_to_port(page, home):
    before = links(draft(home)["pipeline"])
    wanted = ("adamw", "optimizer", "train", "optimizer")
    assert wanted in before
    click_link(page, "adamw.optimizer->train.optimizer")
    page.keyboard.press("Delete")
    assert eventually(lambda: wanted not in links(draft(home)["pipeline"])), "the link was not removed"
    link_ports(page, "adamw", "optimizer", "train", "optimizer")
    assert eventually(lambda: links(draft(home)["pipeline"]) == before), links(draft(home)["pipeline"]) ^ before
    page.locator(SIDEBAR).get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("as version 1.").wait_for()  # the toast, drawn by the rerun after the save
    saved = eventually(lambda: Store.open(home).list_pipelines())
    data = Store.open(home).get_version(saved[0].name).data
    assert [edge for edge in data["edges"] if edge["target"] == "train" and edge["target_port"] == "optimizer"] == [
        {"source": "adamw", "target": "train", "source_port": "optimizer", "target_port": "optimizer"}
    ]
    assert links(data) == before


def test_an_incompatible_drop_is_refused_and_changes_nothing(page, home):
    playwright_api.expect(page.locator("[data-testid='stToast']")).to_have_count(0, timeout=15_000)  # Save's is gone
    before = draft(home)["pipeline"]
    link_ports(page, "split", "train", "train", "optimizer")
    toast = canvas_frame(page).locator(".nl-toast")
    playwright_api.expect(toast).to_have_text("train.optimizer takes optimizer_spec, not dataset")
    shot(page, "connection-refused")
    time.sleep(1.5)
    assert draft(home)["pipeline"] == before
    assert canvas_frame(page).locator(".react-flow__edge[data-id='split.train->train.optimizer']").count() == 0


def test_a_palette_item_dragged_onto_the_canvas_appears_at_the_drop_point(page, home):
    frame = canvas_frame(page)
    frame.get_by_text("+ Nodes").click()
    frame.locator(".nl-palette input").fill("accuracy")
    pane = frame.locator(".react-flow__pane")
    pane_box = pane.bounding_box()
    drop = {"x": 330, "y": pane_box["height"] - 190}  # below the first cards, clear of the legend
    frame.locator(".nl-palette-item[data-typeid='metric.accuracy']").drag_to(pane, target_position=drop)
    added = card(page, "accuracy")
    added.wait_for()
    frame.get_by_role("button", name="Hide the palette").click()
    shot(page, "palette-drop")
    box = added.bounding_box()
    x, y = pane_box["x"] + drop["x"], pane_box["y"] + drop["y"]
    assert box["x"] <= x <= box["x"] + box["width"] and box["y"] <= y <= box["y"] + box["height"], (box, x, y)
    assert eventually(lambda: "accuracy" in node_ids(draft(home)["pipeline"]))


def test_delete_removes_a_node_and_undo_brings_it_back_with_its_links(page, home):
    before = draft(home)["pipeline"]
    select_card(page, "rouge")
    page.keyboard.press("Delete")
    card(page, "rouge").wait_for(state="detached")
    assert eventually(lambda: "rouge" not in node_ids(draft(home)["pipeline"]))
    assert not [link for link in links(draft(home)["pipeline"]) if "rouge" in (link[0], link[2])]
    page.keyboard.press("Control+z")
    card(page, "rouge").wait_for()
    assert eventually(lambda: draft(home)["pipeline"] == before)
    assert ("generate", "dataset", "rouge", "dataset") in links(before)


def test_copy_and_paste_duplicate_a_node_with_its_parameters(page, home):
    select_card(page, "adamw")
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    card(page, "adamw_2").wait_for()
    assert eventually(lambda: "adamw_2" in node_ids(draft(home)["pipeline"]))
    nodes = {node["id"]: node for node in draft(home)["pipeline"]["nodes"]}
    assert nodes["adamw_2"]["params"] == nodes["adamw"]["params"] and nodes["adamw"]["params"]
    assert nodes["adamw_2"]["type"] == "optim.optimizer"
    shot(page, "pasted")


def test_after_an_edit_and_a_reload_the_draft_and_the_view_are_back(page, home):
    pane = canvas_frame(page).locator(".react-flow__pane")
    page.mouse.move(*centre(pane))
    start = viewport(page)
    page.mouse.wheel(0, 150)  # a plain wheel pans
    page.wait_for_timeout(300)
    panned = viewport(page)
    assert panned[1] != start[1] and panned[2] == start[2], (start, panned)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -200)  # Ctrl + wheel zooms
    page.keyboard.up("Control")
    page.wait_for_timeout(300)
    zoomed = viewport(page)
    assert zoomed[2] > panned[2], (panned, zoomed)
    select_card(page, "perplexity")
    page.keyboard.press("Delete")
    assert eventually(lambda: "perplexity" not in node_ids(draft(home)["pipeline"]))
    assert eventually(lambda: (view := draft(home)["view"]) and abs(view["zoom"] - zoomed[2]) < 0.01)
    page.reload()
    settle(page)
    assert card(page, "perplexity").count() == 0 and card(page, "adamw_2").count() == 1
    restored = viewport(page)
    assert all(abs(a - b) < 1 for a, b in zip(restored, zoomed, strict=True)), (zoomed, restored)
    page.locator(SIDEBAR).get_by_text("Draft autosaved").wait_for()
    shot(page, "reloaded")


def test_a_run_does_not_create_a_version(page, home):
    rows = home / "pairs.jsonl"
    rows.write_text(json.dumps({"prediction": "the cat sat", "reference": "the cat sat"}) + "\n")
    import_pipeline(page, home, bleu_pipeline("never-saved", str(rows)))
    card(page, "bleu").wait_for()
    run_all(page)
    card(page, "bleu").get_by_text("✓ done").wait_for(timeout=240_000)  # a worker starts slowly on a busy machine
    store = Store.open(home)
    assert "never-saved" not in [info.name for info in store.list_pipelines()]
    (run,) = store.list_runs("never-saved")
    assert run.status == "succeeded"
