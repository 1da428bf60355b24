"""Fixtures of the command-line tests."""

from __future__ import annotations

import subprocess

import pytest

from nodeloom.cli import main
from nodeloom.engine.node import REGISTRY, discover
from tests.support.store_nodes import REGISTRY as STORE_TEST_NODES


@pytest.fixture
def nodeloom(capsys, monkeypatch):
    """`nodeloom ARGS…` in this process, with the store test nodes registered for the test's duration."""
    discover()
    for type_id, node_type in STORE_TEST_NODES.types.items():
        monkeypatch.setitem(REGISTRY.types, type_id, node_type)

    def call(*args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, captured.out, captured.err)

    return call
