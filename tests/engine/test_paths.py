"""NODELOOM_HOME layout and the one run-id format (engine/paths.py)."""

from __future__ import annotations

import pytest

from nodeloom.engine import paths


def test_every_path_follows_nodeloom_home_as_set_now(nodeloom_home, monkeypatch, tmp_path):
    assert paths.nodeloom_home() == nodeloom_home
    assert paths.database_path() == nodeloom_home / "nodeloom.db"
    assert paths.cache_folder() == nodeloom_home / "cache"
    assert paths.run_folder("abc") == nodeloom_home / "runs" / "abc"
    monkeypatch.setenv("NODELOOM_HOME", str(tmp_path / "elsewhere"))
    assert paths.run_folder("abc") == tmp_path / "elsewhere" / "runs" / "abc"
    assert paths.run_folder("abc", home=nodeloom_home) == nodeloom_home / "runs" / "abc"


def test_new_run_ids_are_valid_and_distinct():
    ids = {paths.new_run_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(paths.check_run_id(run_id) == run_id for run_id in ids)


@pytest.mark.parametrize("bad", ["", "../escape", "-leading-dash", "a/b", "x" * 65, 42])
def test_a_run_id_that_cannot_name_a_folder_is_refused(bad):
    with pytest.raises(paths.InvalidRunId, match="invalid run id"):
        paths.check_run_id(bad)
