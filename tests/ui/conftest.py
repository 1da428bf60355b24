"""Fixtures shared by the app's tests."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from tests.support import REPO


@pytest.fixture
def app_on_cpu(monkeypatch):
    """app.py run once under Streamlit's AppTest, its device check already answered (a CPU), so that the sidebar's
    run settings are drawn."""
    from streamlit.testing.v1 import AppTest

    from nodeloom.ui import runs

    answer: Future = Future()
    answer.set_result([("cpu", "CPU (2 threads)")])
    monkeypatch.setattr(runs, "_device_probe", answer)
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    app.run()
    assert not app.exception, [error.value for error in app.exception]
    return app
