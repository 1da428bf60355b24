"""Untrusted text stays text in the real app: a pipeline file, its data, its errors and its run history carry HTML,
script and markdown in every string field, and no frame of the page ever holds an element, a script effect, a link
or a remote image made from them (docs/security.md, "The app").

One `nodeloom app` for the module; screenshots go to test-artifacts/browser/trust-*.png.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.support.browser import ARTIFACTS, BROWSER_ARGS, CHROMIUM, SIDEBAR, playwright_api, serve_app

pytestmark = pytest.mark.browser

CANVAS = "iframe[title*='nodeloom_canvas']"

# Markup that would show up as an element (#pwned, .pwned), a script effect (window.__pwned), a link or a remote
# image (pwned.invalid) if any view rendered it; the '.invalid' domain never resolves.
HTML = '<img id="pwned" src="x" onerror="window.__pwned=1"><script>window.__pwned=1</script><b class="pwned">b</b>'
MARKDOWN = "![remote](http://pwned.invalid/i.png) [link](http://pwned.invalid/a) www.pwned.invalid :red[red] $x^2$"
INJECTED = """() => {
    const where = (element) => {
        const owner = element.closest("[data-testid]");
        const text = (owner || element).textContent.slice(0, 80);
        return `${element.tagName} in ${owner ? owner.dataset.testid : "?"}: ${text}`;
    };
    return {
        script: typeof window.__pwned !== "undefined",
        elements: [...document.querySelectorAll("#pwned, .pwned")].map(where),
        remote: [...document.querySelectorAll("img[src*='pwned.invalid'], a[href*='pwned.invalid']")].map(where),
        formatted: [...document.querySelectorAll(".katex, [class*='stMarkdownColored']")].map(where),
    };
}"""


def hostile(label: str) -> str:
    return f"{label} {HTML} {MARKDOWN}"


def runnable_pipeline(rows_path: Path) -> dict:
    """Valid, so it runs: hostile name, description, settings and parameter values, a dataset of hostile rows
    (previews, an embeddings chart coloured by a hostile label), and a node that fails with a hostile path."""
    return {
        "schema_version": 1,
        "name": hostile("trust-run"),
        "description": hostile("description"),
        "settings": {"seed": 0, hostile("setting"): hostile("value")},
        "nodes": [
            {
                "id": "load",
                "type": "data.load_dataset",
                "position": {"x": 0, "y": 0},
                "params": {"path": str(rows_path), "name": hostile("name"), "config": hostile("config")},
            },
            {"id": "match", "type": "metric.exact_match", "params": {}, "position": {"x": 340, "y": 0}},
            {"id": "embed", "type": "text.embed", "params": {}, "position": {"x": 340, "y": 220}},
            {
                "id": "missing",
                "type": "data.load_dataset",
                "position": {"x": 0, "y": 440},
                "params": {"path": str(rows_path.parent / (HTML.replace("/", "") + ".jsonl"))},
            },
            # Markdown alone, with no HTML before it that could change how a renderer reads it.
            {
                "id": "absent",
                "type": "data.load_dataset",
                "position": {"x": 340, "y": 440},
                "params": {"path": f"{rows_path.parent}/absent/{MARKDOWN}.jsonl"},
            },
        ],
        "edges": [{"source": "load", "target": "match"}, {"source": "load", "target": "embed"}],
    }


def broken_pipeline() -> dict:
    """Not runnable: hostile node ids, unknown hostile node types, hostile parameters the engine refuses, a hostile
    device setting, edges between hostile ids, and a node that asks to run remote code."""
    bad_id, other_id = hostile("id"), f"<b class='pwned'>second</b> {MARKDOWN}"
    return {
        "schema_version": 1,
        "name": hostile("trust-broken"),
        "description": hostile("description"),
        "settings": {"device": hostile("device")},
        "nodes": [
            {
                "id": bad_id,
                "type": hostile("type"),
                "params": {hostile("param"): hostile("value")},
                "position": {"x": 0, "y": 0},
            },
            {
                "id": other_id,
                "type": "metric.sacrebleu",
                "position": {"x": 340, "y": 0},
                "params": {"tokenize": hostile("choice"), "prediction_column": hostile("column"), hostile("extra"): 1},
            },
            {
                "id": "remote",
                "type": "model.load_pretrained",
                "position": {"x": 0, "y": 240},
                "params": {"name_or_path": hostile("model"), "trust_remote_code": True},
            },
            {"id": MARKDOWN, "type": MARKDOWN, "position": {"x": 340, "y": 240}},  # markdown alone
        ],
        "edges": [{"source": bad_id, "target": other_id, "source_port": hostile("out"), "target_port": "dataset"}],
    }


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("trust-home")


@pytest.fixture(scope="module")
def rows_file(home) -> Path:
    path = home / "rows.jsonl"
    rows = [
        {
            "text": hostile(f"row {index}"),
            "prediction": hostile("same" if index % 2 else f"guess {index}"),
            "reference": hostile("same"),
            "label": hostile(f"class {index % 2}"),
            hostile("column"): index,
        }
        for index in range(6)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture(scope="module")
def server(home):
    yield from serve_app(home)


@pytest.fixture(scope="module")
def remote_requests() -> list[str]:
    return []


@pytest.fixture(scope="module")
def page(server, remote_requests):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        context = browser.new_context(viewport={"width": 1600, "height": 1100})
        # Every request from every frame: a remote image the page tried to load shows up here even though it fails.
        context.on("request", lambda request: remote_requests.append(request.url) if "pwned" in request.url else None)
        tab = context.new_page()
        tab.set_default_timeout(30_000)
        tab.goto(server)
        tab.locator(SIDEBAR).get_by_role("button", name="Save").wait_for(timeout=120_000)  # the first run has drawn
        yield tab
        browser.close()


def shot(page, name: str) -> None:
    page.wait_for_timeout(600)
    page.screenshot(path=str(ARTIFACTS / f"trust-{name}.png"), full_page=True)


def assert_nothing_injected(page, remote_requests: list[str], where: str) -> None:
    """No frame has run the script, holds an injected element, links or loads the remote address, or shows
    markdown's maths or colours (nothing in the app uses them: they can only come from the hostile strings)."""
    page.wait_for_timeout(800)  # let the last rerun and any image error handler land
    for attempt in range(3):
        try:
            found = {frame.url or "(frame)": frame.evaluate(INJECTED) for frame in page.frames}
            break
        except playwright_api.Error:  # a frame went away between listing and reading it (a rerun): read again
            if attempt == 2:
                raise
            page.wait_for_timeout(500)
    shot(page, where)
    dirty = {url: result for url, result in found.items() if any(result.values())}
    assert not dirty, f"{where}: untrusted markup became page content: {dirty}"
    assert not remote_requests, f"{where}: the page requested {remote_requests}"


def canvas_frame(page):
    frame_element = page.locator(CANVAS).last
    frame_element.wait_for()
    frame = frame_element.element_handle().content_frame()
    frame.wait_for_selector(".react-flow__node")
    return frame


def select_every_card(page, remote_requests: list[str], where: str) -> int:
    """Click every card on the canvas (the inspector and the preview follow the selection); returns how many."""
    frame = canvas_frame(page)
    cards = frame.locator(".react-flow__node")
    count = cards.count()
    for index in range(count):
        cards.nth(index).click(position={"x": 30, "y": 10})  # the title row: clear of the port handles
        page.wait_for_timeout(1200)
        assert_nothing_injected(page, remote_requests, f"{where}-card-{index}")
    return count


def import_pipeline(page, home: Path, data: dict, file_name: str) -> None:
    path = home / file_name
    path.write_text(json.dumps(data))
    sidebar = page.locator(SIDEBAR)
    uploader = sidebar.locator("input[type='file']")
    if not uploader.count():  # its expander is closed
        sidebar.get_by_text("Import / export").click()
    uploader.wait_for(state="attached")
    shown_name = sidebar.get_by_text(data["name"].split(" <")[0] + " <img", exact=False).first
    # The uploader is keyed by a generation that a rerun may bump: hand the file over again if it went nowhere.
    for attempt in range(3):
        uploader.set_input_files(str(path))
        discard = page.get_by_role("button", name="Discard and open")
        try:
            discard.or_(shown_name).first.wait_for(timeout=20_000)
            if discard.count():
                discard.click()
            shown_name.wait_for(timeout=20_000)  # the name as text, markup and all
            return
        except playwright_api.TimeoutError:
            if attempt == 2:
                shot(page, f"import-{file_name}")
                raise


def wait_for_run_to_end(home: Path, timeout: float = 300) -> None:
    from nodeloom.engine.events import ACTIVE
    from nodeloom.engine.store import Store

    store = Store.open(home, recover=False)
    deadline = time.time() + timeout
    while time.time() < deadline:
        latest = store.list_runs(limit=1)
        if latest and latest[0].status not in ACTIVE:
            return
        time.sleep(1)
    raise AssertionError(f"the run did not end within {timeout:.0f} s")


def test_a_hostile_pipeline_runs_and_every_view_shows_its_strings_as_text(page, home, rows_file, remote_requests):
    import_pipeline(page, home, runnable_pipeline(rows_file), "trust-run.json")
    assert_nothing_injected(page, remote_requests, "run-imported")

    button = page.get_by_role("button", name="Run all")
    playwright_api.expect(button).to_be_enabled()
    button.click()
    wait_for_run_to_end(home)
    page.get_by_text("failed").first.wait_for(timeout=60_000)  # the page has caught up with the run
    assert_nothing_injected(page, remote_requests, "run-finished")

    assert select_every_card(page, remote_requests, "run") == 5
    canvas_frame(page).locator(".react-flow__node[data-id='embed']").click(position={"x": 30, "y": 10})
    chart = page.locator(".js-plotly-plot:visible").first
    chart.wait_for(timeout=120_000)
    chart.scroll_into_view_if_needed()
    legend = chart.locator(".legendtext").evaluate_all("entries => entries.map(entry => entry.textContent)")  # SVG
    assert any(HTML[:20] in entry for entry in legend), legend  # the hostile labels, shown as their characters
    point = chart.locator(".scatterlayer .point").first.bounding_box()
    page.mouse.move(point["x"] + point["width"] / 2, point["y"] + point["height"] / 2)
    hover = chart.locator(".hoverlayer")
    playwright_api.expect(hover).to_contain_text("<img id=", timeout=10_000)  # the row's text, not an image
    assert_nothing_injected(page, remote_requests, "run-embeddings-hover")

    page.get_by_text("Presentation mode").click()
    page.get_by_role("button", name="Exit presentation").wait_for()
    try:  # the title (the presentation's h1) and the description, as text
        page.locator("h1", has_text="trust-run <img").first.wait_for()
        page.locator("[data-testid='stCaptionContainer']:visible", has_text="description <img").first.wait_for()
        assert_nothing_injected(page, remote_requests, "run-presentation")
    finally:  # the next test imports in the editor: leave presentation mode even when a check above failed
        page.get_by_role("button", name="Exit presentation").click()

    page.locator(SIDEBAR).get_by_text("Runs", exact=True).click()
    page.get_by_role("heading", name="Runs").wait_for()
    page.get_by_text("all pipelines").click()
    page.get_by_role("button", name="Rerun").wait_for()
    assert_nothing_injected(page, remote_requests, "run-runs-page")
    page.locator(SIDEBAR).get_by_text("Editor", exact=True).click()
    page.get_by_role("button", name="Run all").wait_for()


def test_a_pipeline_the_engine_refuses_shows_its_ids_types_and_problems_as_text(page, home, remote_requests):
    import_pipeline(page, home, broken_pipeline(), "trust-broken.json")
    assert_nothing_injected(page, remote_requests, "broken-imported")
    assert select_every_card(page, remote_requests, "broken") == 4
    remote_card = canvas_frame(page).locator(".react-flow__node[data-id='remote']")
    playwright_api.expect(remote_card).to_contain_text("trust_remote_code")  # its warning
    page.get_by_text("to fix before running", exact=False).first.click()  # open the list of problems
    assert_nothing_injected(page, remote_requests, "broken-problems")
