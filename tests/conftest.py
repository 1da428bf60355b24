"""Shared test setup: offline Hugging Face, a private NODELOOM_HOME per test, small thread counts, and the one
NODELOOM_HOME where the chatbot example trains once a session."""

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


# The chatbot example trains in about 2.5 minutes on 2 cores. The browser test that presents it trains it live in
# the app, in `chatbot_home`; the example test that bounds its scores then runs it in that home too, where every
# node is a cache hit of that very run (else, with the browser test not selected, it trains it itself).
CHATBOT_TRAINER = ("test_browser.py", "test_the_chatbot_example_trains_in_a_presentation_and_answers_in_the_chat")
CHATBOT_READER = ("test_examples.py", "test_gpt2_chatbot_learns_to_answer_on_topic")


@pytest.fixture(scope="session")
def chatbot_home(tmp_path_factory) -> Path:
    """The NODELOOM_HOME that the session's chatbot run is trained in and read back from."""
    return tmp_path_factory.mktemp("chatbot-home")


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: order only what will run
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The chatbot example test goes after the browser module that trains the chatbot (not inside it: a module's
    app would stop and start again around it)."""
    readers = [item for item in items if (item.path.name, item.name) == CHATBOT_READER]
    trainer = next((item for item in items if (item.path.name, item.name) == CHATBOT_TRAINER), None)
    if not readers or trainer is None:
        return
    for reader in readers:
        items.remove(reader)
    last = max(index for index, item in enumerate(items) if item.path == trainer.path)
    items[last + 1 : last + 1] = readers


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or a skip where this checkout has none."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA
