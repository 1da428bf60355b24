"""`nodeloom report RUN`: one self-contained HTML page per run, every value from the run shown as text.

The runs are real (`nodeloom run` in this process): sacreBLEU on a small JSONL file beside the store tests'
training node, which records loss and learning-rate curves. The browser test opens the page in Chromium with
every request to the network refused.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from nodeloom.engine.store import Store
from nodeloom.ui.headlines import style_of, value_text
from tests.support import REPO
from tests.support.cli import one_json_object

UNTRUSTED_NAME = "bleu <img src=x onerror=alert(2)>"
UNTRUSTED_DESCRIPTION = "scores </script><script>alert(3)</script>"
UNTRUSTED_PREDICTION = "the cat sat on a mat <script>alert(1)</script>"
UNTRUSTED_TEXT = "<script>alert(4)</script>"


class Page(HTMLParser):
    """The elements of a page with their attributes, and its text as a reader sees it (scripts left out)."""

    def __init__(self, markup: str):
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.text_parts: list[str] = []
        self._in_script = False
        self.markup = markup
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        (self.scripts if self._in_script else self.text_parts).append(data)

    @property
    def text(self) -> str:
        return " ".join(self.text_parts)

    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.elements if tag == name]


def mixed_pipeline(data_file: Path) -> dict:
    """sacreBLEU on prediction/reference rows beside a small training loop with curves."""
    return {
        "schema_version": 1,
        "name": UNTRUSTED_NAME,
        "description": UNTRUSTED_DESCRIPTION,
        "settings": {"seed": 3, "device": "cpu", "presentation": {"headline": ["train.final_loss", "bleu.score"]}},
        "nodes": [
            {"id": "load", "type": "data.load_dataset", "params": {"source": "file", "path": str(data_file)}},
            {"id": "bleu", "type": "metric.sacrebleu"},
            {"id": "data", "type": "store_test.source"},
            {"id": "train", "type": "store_test.train", "params": {"steps": 40}},
        ],
        "edges": [{"source": "load", "target": "bleu"}, {"source": "data", "target": "train"}],
    }


def run_mixed_pipeline(nodeloom, folder: Path, *options: str) -> dict:
    rows = [
        {"prediction": UNTRUSTED_PREDICTION, "reference": "the cat sat on the mat"},
        {"prediction": "a b c d", "reference": "a b c d"},
    ]
    data_file = folder / "pairs.jsonl"
    data_file.write_text("".join(json.dumps(row) + "\n" for row in rows))
    pipeline = folder / "mixed.json"
    pipeline.write_text(json.dumps(mixed_pipeline(data_file)))
    done = nodeloom("run", str(pipeline), "--json", *options)
    assert done.returncode == 0, done.stderr
    return one_json_object(done.stdout)


def sacrebleu_text(result: dict) -> str:
    """The score as the headline tile writes it (presentation mode's words: "sacreBLEU 25.5")."""
    return value_text(style_of("metric.sacrebleu", "score"), result["metrics"]["bleu"]["score"])


def write_report(nodeloom, run_id: str, target: Path) -> Page:
    made = nodeloom("report", run_id, "-o", str(target))
    assert made.returncode == 0, made.stderr
    assert str(target) in made.stderr
    return Page(target.read_text(encoding="utf-8"))


def test_the_report_of_a_run_is_one_page_that_asks_the_network_for_nothing(nodeloom, tmp_path):
    run_mixed_pipeline(nodeloom, tmp_path, "--run-id", "first")
    result = run_mixed_pipeline(nodeloom, tmp_path, "--set", "train.steps=12", "--run-id", "mixed")
    page = write_report(nodeloom, "mix", tmp_path / "report.html")  # a unique prefix, as `show` takes

    for tag in ("img", "link", "iframe", "object", "embed", "base"):
        assert page.tags(tag) == [], f"a <{tag}> element in the report"
    for tag, attrs in page.elements:
        for name in ("src", "href", "action", "srcset"):
            value = (attrs.get(name) or "").strip().lower()
            assert not re.match(r"(https?:)?//", value), f"<{tag} {name}={value!r}> points at the network"
    assert all(attrs.get("src") is None for attrs in page.tags("script"))  # every script is inline
    policy = next(attrs["content"] for attrs in page.tags("meta") if attrs.get("http-equiv"))
    assert "default-src 'none'" in policy and "connect-src" not in policy

    # The run's own words are text on the page, never markup.
    for untrusted in (UNTRUSTED_NAME, UNTRUSTED_DESCRIPTION, UNTRUSTED_PREDICTION):
        assert untrusted in page.text
    assert len(page.tags("script")) == 1 + 2  # plotly.js, then one chart each: loss and learning rate

    # The headline tile: the metric node's main score and its change from the run before (the same rows: ±0)
    assert f"{sacrebleu_text(result)} ±0 sacreBLEU bleu.score" in page.text
    assert "Changes are from the previous finished run of this pipeline, first" in page.text
    assert re.findall(r'<div class="name">([^<]*)</div>', page.markup) == ["final loss", "sacreBLEU"]  # as chosen
    assert "final_loss" in page.text and "sys_len" in page.text  # all metrics
    assert re.search(r'<tr class="override">(<td[^>]*>.*?</td>)?<td>steps <span class="badge">override', page.markup)
    charts = "".join(page.scripts)
    assert '"title": {"text": "train · loss"}' in charts and '"text": "train · learning_rate"' in charts
    assert "load: first rows of dataset (2 in all)" in page.text and "bleu: lowest-scoring rows" in page.text
    assert "torch (installed)" in page.text and "transformers (installed)" in page.text
    assert "succeeded" in page.text and "run mixed" in page.text
    start = page.markup.index('<svg class="diagram"')
    svg_text = page.markup[start : page.markup.index("</svg>", start)]
    assert svg_text.count('class="link"') == 2
    cached = sum(node["cached"] for node in result["nodes"].values())
    assert svg_text.count('class="card cached"') == cached and svg_text.count('class="card ok"') == 4 - cached
    assert 0 < cached < 4  # train ran again (its steps changed); the source at least came from the cache


def test_a_failed_run_without_metrics_or_curves_still_reads_well(nodeloom, tmp_path):
    pipeline = {
        "schema_version": 1,
        "name": "broken",
        "nodes": [
            {"id": "data", "type": "store_test.source", "params": {"text": UNTRUSTED_TEXT}},
            {"id": "train", "type": "store_test.train"},  # the text is no number: the node fails
        ],
        "edges": [{"source": "data", "target": "train"}],
    }
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(pipeline))
    assert nodeloom("run", str(path), "--run-id", "broken").returncode == 1

    page = write_report(nodeloom, "broken", tmp_path / "broken.html")
    assert page.tags("script") == []  # nothing to plot, no plotly; and the node's text made no element
    assert "This run recorded no metrics." in page.text and "This run recorded no curves." in page.text
    assert "failed" in page.text and UNTRUSTED_TEXT in page.text  # the parameter and the error, as text
    assert "could not convert string to float" in page.text


def test_report_refuses_to_overwrite_and_names_the_run_it_cannot_find(nodeloom, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "source.json"
    path.write_text(
        json.dumps({"schema_version": 1, "name": "one", "nodes": [{"id": "s", "type": "store_test.source"}]})
    )
    assert nodeloom("run", str(path), "--run-id", "only").returncode == 0
    first = nodeloom("report", "only")
    assert first.returncode == 0 and (tmp_path / "nodeloom-run-only.html").is_file()
    again = nodeloom("report", "only")
    assert again.returncode == 2 and "already exists; use --force" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert nodeloom("report", "only", "--force").returncode == 0
    missing = nodeloom("report", "nosuchrun")
    assert missing.returncode == 2 and "no run 'nosuchrun'" in missing.stderr
    with Store.open() as store:
        assert len(store.list_runs()) == 1  # a report records nothing


def test_the_apps_download_button_gives_the_page_the_command_writes(nodeloom, tmp_path, monkeypatch):
    from nodeloom.ui import runs_page

    run_mixed_pipeline(nodeloom, tmp_path, "--run-id", "mixed")
    written = tmp_path / "cli.html"
    write_report(nodeloom, "mixed", written)
    offered = {}
    monkeypatch.setattr(runs_page.st, "download_button", lambda label, **options: offered.update(options))
    with Store.open() as store:
        runs_page.report_button(store.get_run("mixed"), key="report")
    assert (offered["file_name"], offered["mime"], offered["on_click"]) == (
        "nodeloom-run-mixed.html",
        "text/html",
        "ignore",
    )
    assert offered["data"]() == written.read_text(encoding="utf-8")  # built on the click, the same page


def test_the_report_builder_runs_without_streamlit():
    """The CLI and the app share the builder; the CLI must not pay for (or need) Streamlit."""
    script = "import sys, nodeloom.ui.report; sys.exit('streamlit' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", script], cwd=REPO, timeout=120).returncode == 0


@pytest.mark.browser
def test_the_report_renders_its_metrics_and_charts_with_the_network_blocked(nodeloom, tmp_path):
    from tests.support.browser import ARTIFACTS, BROWSER_ARGS, CHROMIUM, playwright_api

    result = run_mixed_pipeline(nodeloom, tmp_path, "--run-id", "mixed")
    target = tmp_path / "report.html"
    write_report(nodeloom, "mixed", target)
    refused: list[str] = []
    dialogs: list[str] = []

    def only_the_file(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            tab.route("**/*", only_the_file)
            tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            tab.goto(target.as_uri())
            tab.locator("#curve-0 svg.main-svg").first.wait_for(timeout=15_000)
            tab.locator("#curve-1 svg.main-svg").first.wait_for(timeout=15_000)
            assert tab.locator("#curve-0 .scatterlayer .trace path.js-line").count() == 1  # the loss curve drawn
            tile = tab.locator(".tile").nth(1)
            assert tile.inner_text().split("\n") == [sacrebleu_text(result), "sacreBLEU", "bleu.score"]
            assert tab.locator("h1").inner_text() == UNTRUSTED_NAME
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            browser.close()
    assert refused == [] and dialogs == []
