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

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


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
