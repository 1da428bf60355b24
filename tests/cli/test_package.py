"""The installable package: one top-level name in the wheel, and the rooms' import contracts on it."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.support import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a fresh copy of this checkout's files (.ci/build-wheel, also used by CI's smoke test)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        ["bash", str(REPO / ".ci" / "build-wheel"), str(out)], check=True, capture_output=True, text=True, timeout=300
    )
    [built] = out.glob("nodeloom-*.whl")
    return built


def test_wheel_has_one_top_level_name(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"nodeloom"}
    for expected in (
        "nodeloom/engine/store/core.py",
        "nodeloom/nodes/sample_data/chat_support.train.jsonl",
        "nodeloom/nodes/text/tokenization.py",
        "nodeloom/nodes/metrics/overlap.py",
        "nodeloom/pipelines/gpt2_chatbot.json",
        "nodeloom/ui/main.py",
        "nodeloom/streamlit_app.py",
        "nodeloom/py.typed",
    ):
        assert expected in names
    # the sample-data generator is a development tool (tools/), not part of the package
    assert not [name for name in names if name.startswith("nodeloom/nodes/sample_data/") and name.endswith(".py")]


def test_import_contracts_hold_on_the_installed_layout(wheel, tmp_path):
    lint = shutil.which("lint-imports")
    assert lint, "import-linter is part of the test extras"
    zipfile.ZipFile(wheel).extractall(tmp_path)
    completed = subprocess.run(
        [lint, "--config", str(REPO / "pyproject.toml")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    declared = (REPO / "pyproject.toml").read_text().count("[[tool.importlinter.contracts]]")
    assert declared >= 5 and f"Contracts: {declared} kept, 0 broken" in completed.stdout  # every one was checked
