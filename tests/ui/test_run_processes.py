"""The run settings' process count: a number in the sidebar, passed to the run's worker as `--processes N`."""

from __future__ import annotations


def test_a_run_started_with_more_than_one_process_asks_the_worker_for_them():
    from nodeloom.ui.runs import run_options

    assert run_options([], "auto", 1) == []  # one process: the command line as before
    assert run_options(["train"], "cuda", 2) == ["--until", "train", "--device", "cuda", "--processes", "2"]


def test_the_sidebar_offers_a_process_count_that_start_run_reads(app_on_cpu):
    app = app_on_cpu
    count = app.sidebar.number_input(key="processes")
    assert count.value == 1 and count.min == 1
    count.set_value(2).run()
    assert not app.exception, [error.value for error in app.exception]
    assert app.session_state["processes"] == 2  # where runs.start_run reads it
