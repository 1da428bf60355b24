"""Fixtures the node tests share: the tiny tokenizer, and a RunContext working in the test's own folder."""

from __future__ import annotations

import pytest

from nodeloom.engine.context import RunContext
from tests.support.tiny_models import context, tiny_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    """tests/support/tiny_models' byte-level BPE tokenizer, built once per module."""
    return tiny_tokenizer()


@pytest.fixture
def ctx(tmp_path) -> RunContext:
    return context(tmp_path)
