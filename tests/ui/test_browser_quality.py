"""The chatbot example's data-quality preview in the real app (`nodeloom app` in headless Chromium): the
leakage table of the held-out questions against the training questions.

The example runs up to its `quality` node through the CLI first (seconds: no training), into the app's
NODELOOM_HOME; the app opens the example and shows that run. The node is chosen with the inspector's
"Selected node" box, not on the canvas. Screenshots go to test-artifacts/browser/quality-*.png.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO
from tests.support.browser import ARTIFACTS, SIDEBAR, canvas_frame, chromium_tab, serve_app

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("quality-home")
    env = os.environ | {"NODELOOM_HOME": str(folder), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    completed = subprocess.run(
        [sys.executable, "-m", "nodeloom", "run", "example:gpt2_chatbot", "--until", "quality"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return folder


@pytest.fixture(scope="module")
def page(home):
    for url in serve_app(home):
        with chromium_tab(url, height=1400) as tab:
            canvas_frame(tab).locator(".react-flow__node[data-id='quality']").wait_for(timeout=90_000)
            yield tab


def test_the_chatbot_s_leakage_table_shows_in_the_quality_preview(page):
    selector = page.locator(SIDEBAR).get_by_role("combobox", name="Selected node")
    selector.click()
    page.get_by_role("option", name="quality", exact=True).click()
    page.get_by_text(re.compile(r"^quality — succeeded")).wait_for()
    heading = page.get_by_text("Leaked rows: each beside the reference row it repeats", exact=False)
    heading.wait_for()
    tiles = {
        tile.locator("[data-testid='stMetricLabel']").inner_text().strip(): tile.locator(
            "[data-testid='stMetricValue']"
        )
        .inner_text()
        .strip()
        for tile in page.locator("[data-testid='stMetric']").all()
    }
    assert tiles["rows"] == "64" and tiles["exact overlap rows"] == "0", tiles
    assert tiles["overlap with reference"].endswith("%") and float(tiles["overlap with reference"][:-1]) < 5, tiles
    # the leaks table, drawn on a canvas; the grid keeps an accessible copy of its header and cells
    header = page.locator("[role='columnheader']", has_text="reference_text")
    table = page.locator("[data-testid='stDataFrame']:visible", has=header)
    table.wait_for()
    heading.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "quality-chatbot-leaks.png"), full_page=True)
    cells = table.locator("[role='gridcell']").all_inner_texts()
    # the one leaked question, beside the training question it nearly repeats
    assert any("reset my password" in cell for cell in cells), cells
    assert any("cancel my membership" in cell for cell in cells), cells
