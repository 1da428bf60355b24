"""The run settings' executor: offered where Ray is installed, and passed to the run's worker as `--executor ray`."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("ray")


def test_the_sidebar_offers_the_ray_executor_only_where_ray_is_installed(app_on_cpu, monkeypatch):
    from nodeloom.ui import runs

    app = app_on_cpu
    executor = app.sidebar.radio(key="executor")
    assert executor.options == ["local", "ray"] and executor.value == "local"
    executor.set_value("ray").run()
    assert not app.exception, [error.value for error in app.exception]
    assert app.session_state["executor"] == "ray"  # where runs.start_run reads it

    monkeypatch.setattr(runs, "ray_installed", lambda: False)  # as where the extra is not installed
    app.run()
    assert not app.exception and not [radio for radio in app.sidebar.radio if radio.key == "executor"]


def test_a_run_started_with_the_ray_executor_asks_its_worker_for_it(monkeypatch, tmp_path):
    from nodeloom.ui import runs

    started: list[list[str]] = []
    monkeypatch.setattr(runs, "spawn", lambda command, arguments, run_id=None: started.append(arguments) or run_id)
    monkeypatch.setattr(runs, "write_run_file", lambda data, run_id: tmp_path / f"{run_id}.json")
    editor = SimpleNamespace(pipeline=SimpleNamespace(to_dict=dict, name="p"), saved_as=None)
    for choice in ("local", "ray"):
        monkeypatch.setattr(runs.st, "session_state", {"executor": choice})
        runs.start_run(editor, [], "auto")
    assert "--executor" not in started[0]
    assert started[1][started[1].index("--executor") + 1] == "ray" and started[1][-2] == "--"  # before the file
