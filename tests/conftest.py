"""Shared test setup: offline Hugging Face, a private NODELOOM_HOME per test, small thread counts."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

# The shared helpers' asserts explain themselves on failure, as the tests' own do.
pytest.register_assert_rewrite("tests.support")
# REPO is re-exported for test files still importing it from here (tests.support is its home).
from tests.support import REPO, SHARED_DATA  # noqa: E402, F401


@pytest.fixture(autouse=True)
def nodeloom_home(tmp_path_factory, monkeypatch) -> Path:
    """Every test gets an empty NODELOOM_HOME, so caches and stores never leak between tests."""
    home = tmp_path_factory.mktemp("nodeloom-home")
    monkeypatch.setenv("NODELOOM_HOME", str(home))
    return home


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or a skip where this checkout has none."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA
