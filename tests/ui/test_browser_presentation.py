"""Presentation mode in headless Chromium at a projector's 1600x1000: "Run and present" follows a run to its
results, the headline metric shows its change from the previous run, the arrow keys move between sections, no
editing control is in view, and the word_vectors example shows its embeddings. Screenshots go to
test-artifacts/browser/presentation-*.png (the README shows two of them, from docs/images/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.browser import (
    SIDEBAR,
    canvas_frame,
    card,
    chromium_tab,
    import_pipeline,
    playwright_api,
    run_and_present,
    serve_app,
    shot,
)
from tests.support.pipelines import bleu_pipeline

pytestmark = pytest.mark.browser

PICKER = ".st-key-presentation-picker"
HEADLINE = "[data-testid='stMetric']"


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("presentation-home")


@pytest.fixture(scope="module")
def server(home):
    yield from serve_app(home)


@pytest.fixture(scope="module")
def page(server):
    with chromium_tab(server) as tab:
        tab.get_by_text("NodeLoom").first.wait_for()
        canvas_frame(tab).locator(".react-flow__node").first.wait_for(timeout=90_000)
        yield tab


def write_pairs(path: Path, first: str) -> None:
    rows = [(first, "the dog ran in the park"), ("the cat sat", "the cat sat on the mat")]
    path.write_text("".join(json.dumps({"prediction": p, "reference": r}) + "\n" for p, r in rows))


def scored_pipeline(pairs: Path) -> dict:
    """Pairs scored three ways, each a headline: sacreBLEU, ROUGE-L and exact match."""
    pipeline = bleu_pipeline("present-scores", str(pairs))
    for index, (node_id, type_id) in enumerate((("rouge", "metric.rouge"), ("match", "metric.exact_match"))):
        position = {"x": 300, "y": 200 * (index + 1)}
        pipeline["nodes"].append({"id": node_id, "type": type_id, "params": {}, "position": position})
        pipeline["edges"].append({"source": "load", "target": node_id})
    return pipeline | {"settings": {"presentation": {"headline": ["bleu.score", "rouge.rougeL", "match.exact_match"]}}}


def present(page) -> None:
    page.get_by_text("Presentation mode").click()
    page.get_by_role("button", name="Exit presentation").wait_for()


def shown_section(page) -> str:
    """The section button that is pressed in the section bar."""
    return page.locator(f"{PICKER} button[aria-checked='true']").inner_text()


def test_headlines_show_their_change_from_the_previous_run_and_the_arrow_keys_move(page, home):
    from nodeloom.engine.store import Store
    from nodeloom.ui.headlines import delta_text, style_of, value_text

    pairs = home / "pairs.jsonl"
    write_pairs(pairs, "a dog ran in the park")
    pipeline = scored_pipeline(pairs)
    import_pipeline(page, home, pipeline)
    card(page, "bleu").wait_for()
    present(page)
    try:
        run_and_present(page, home, "present-scores")
        write_pairs(pairs, "the dog ran in the park")  # the second run scores higher
        run_and_present(page, home, "present-scores")
        cards = page.locator(HEADLINE)
        playwright_api.expect(cards.locator("[data-testid='stMetricDelta']")).to_have_count(3)
        assert shown_section(page).endswith("Results")  # the followed run ended on its results
        latest, previous = (run.metrics for run in Store.open(home).list_runs("present-scores"))
        types = {node["id"]: node["type"] for node in pipeline["nodes"]}
        for index, (node_id, metric) in enumerate((("bleu", "score"), ("rouge", "rougeL"), ("match", "exact_match"))):
            style = style_of(types[node_id], metric)
            now, before = latest[node_id][metric], previous[node_id][metric]
            assert now > before, (node_id, now, before)
            text = cards.nth(index).inner_text()
            assert style.label in text and value_text(style, now) in text and delta_text(style, now, before) in text
        assert "exact match" in cards.nth(2).inner_text() and " pts" in cards.nth(2).inner_text()  # a share, in %
        shot(page, "presentation-results")

        page.keyboard.press("ArrowLeft")
        canvas_frame(page).locator(".react-flow__node[data-id='match']").wait_for()
        assert shown_section(page).endswith("Pipeline")
        for editing in ("Run all", "Save", "Undo", "Auto-layout"):
            assert not page.get_by_role("button", name=editing).first.is_visible(), editing
        assert not page.locator(SIDEBAR).is_visible()  # the inspector and the file menu are there
        assert canvas_frame(page).get_by_text("+ Nodes").count() == 0  # the palette
        assert canvas_frame(page).locator(".react-flow__handle.connectable").count() == 0
        shot(page, "presentation-pipeline")

        page.keyboard.press("ArrowRight")
        page.locator(HEADLINE).first.wait_for()
        assert shown_section(page).endswith("Results")
    finally:
        page.get_by_role("button", name="Exit presentation").click()
        page.get_by_role("button", name="Run all").wait_for()


def test_the_word_vectors_example_presents_its_embeddings(page, home):
    from nodeloom import pipelines

    example = json.loads((pipelines.FOLDER / "word_vectors.json").read_text())
    import_pipeline(page, home, example)
    card(page, "words").wait_for()
    present(page)
    try:
        run_and_present(page, home, "word_vectors")
        assert shown_section(page).endswith("Samples")  # no metrics: the run ends on its pictures
        charts = page.locator(".js-plotly-plot")
        try:
            playwright_api.expect(charts).to_have_count(2, timeout=60_000)  # the sentence and the word embeddings
        finally:
            shot(page, "presentation-samples")
    finally:
        page.get_by_role("button", name="Exit presentation").click()
        page.get_by_role("button", name="Run all").wait_for()
