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


# The chatbot example trains in about 2.5 minutes on 2 cores, and takes 2.5 times as long in the app while Chromium
# draws its page on the same 2 cores. So the example test that bounds its scores trains it, in `chatbot_home`, and
# the browser test that presents it runs it in that home too, where every node is a cache hit of that very run
# (else, with the example test not selected, the browser test trains it live).
CHATBOT_TRAINER = ("test_examples.py", "test_gpt2_chatbot_learns_to_answer_on_topic")
CHATBOT_PRESENTER = ("test_browser.py", "test_the_chatbot_example_trains_in_a_presentation_and_answers_in_the_chat")


@pytest.fixture(scope="session")
def chatbot_home(tmp_path_factory) -> Path:
    """The NODELOOM_HOME that the session's chatbot run is trained in and read back from."""
    return tmp_path_factory.mktemp("chatbot-home")


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: order only what will run
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The chatbot example test goes before the browser module that presents the chatbot (not inside it: a
    module's app would stop and start again around it)."""
    trainers = [item for item in items if (item.path.name, item.name) == CHATBOT_TRAINER]
    presenter = next((item for item in items if (item.path.name, item.name) == CHATBOT_PRESENTER), None)
    if not trainers or presenter is None:
        return
    for trainer in trainers:
        items.remove(trainer)
    first = next(index for index, item in enumerate(items) if item.path == presenter.path)
    items[first:first] = trainers


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or a skip where this checkout has none."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA
