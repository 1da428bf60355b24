"""io.save_dataset: csv, jsonl and parquet files that read back as they were written, refusing to replace a
file unless told to, and never leaving half a file."""

from __future__ import annotations

import datasets
import pytest

from nodeloom.engine import NodeError
from nodeloom.engine.planner import TargetExists, plan_run
from nodeloom.engine.runner import run_pipeline, run_planned
from nodeloom.engine.validation import load_pipeline
from tests.support.pipelines import copy_pipeline
from tests.support.tiny_models import context, run_node

ROWS = {"text": ["Grüße, world", 'a "quoted", comma', "line\nbreak"], "label": [1, 0, 1], "score": [0.5, 1.25, -3.0]}


@pytest.fixture
def dataset() -> datasets.Dataset:
    return datasets.Dataset.from_dict(ROWS)


def read_back(tmp_path, path) -> datasets.Dataset:
    """The file as data.load_dataset reads it: the round trip a pipeline makes."""
    return run_node("data.load_dataset", context(tmp_path), {}, source="file", path=str(path))["dataset"]


@pytest.mark.parametrize("name", ["rows.csv", "rows.jsonl", "rows.parquet"])
def test_each_format_reads_back_as_written(tmp_path, dataset, name):
    events: list = []
    out = run_node("io.save_dataset", context(tmp_path, events=events), {"dataset": dataset}, path=str(tmp_path / name))
    assert out["path"] == str(tmp_path / name)
    assert read_back(tmp_path, tmp_path / name).to_dict() == ROWS
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []  # no staging file left
    assert any("saved 3 rows (text, label, score) as" in getattr(event, "message", "") for event in events)


def test_the_format_param_overrides_the_extension(tmp_path, dataset):
    run_node(
        "io.save_dataset", context(tmp_path), {"dataset": dataset}, path=str(tmp_path / "rows.data"), format="jsonl"
    )
    (tmp_path / "rows.data").rename(tmp_path / "rows.jsonl")
    assert read_back(tmp_path, tmp_path / "rows.jsonl").to_dict() == ROWS
    with pytest.raises(NodeError, match=r"cannot tell the format from '\.data'; end the file name in \.csv"):
        run_node("io.save_dataset", context(tmp_path), {"dataset": dataset}, path=str(tmp_path / "other.data"))


def test_an_existing_file_is_refused_unless_overwrite_is_on(tmp_path, dataset):
    target = tmp_path / "rows.csv"
    target.write_text("mine\n")
    with pytest.raises(NodeError, match="file '.*rows.csv' exists; set overwrite: true or choose another path$"):
        run_node("io.save_dataset", context(tmp_path), {"dataset": dataset}, path=str(target))
    assert target.read_text() == "mine\n"
    run_node("io.save_dataset", context(tmp_path), {"dataset": dataset}, path=str(target), overwrite=True)
    assert read_back(tmp_path, target).to_dict() == ROWS


def test_a_run_is_refused_up_front_for_an_existing_file_and_the_node_refuses_one_that_appears_after(tmp_path):
    source, target = tmp_path / "rows.csv", tmp_path / "copy.csv"
    source.write_text("text\nalpha\nbeta\n")
    planned = plan_run(load_pipeline(copy_pipeline(source, target, overwrite=False)), device="cpu")  # nothing there
    target.write_text("mine\n")  # appears between the plan and the save
    result = run_planned(planned)
    assert result.nodes["load"].status == "succeeded" and result.nodes["save"].status == "failed"
    assert result.nodes["save"].error == (
        f"io.save_dataset: parameter 'path': file '{target}' exists; set overwrite: true or choose another path"
    )
    assert target.read_text() == "mine\n"

    checked = load_pipeline(copy_pipeline(source, target, overwrite=False))  # a valid pipeline: it may be exported
    with pytest.raises(TargetExists) as refused:  # but a run of it is refused before anything runs
        run_pipeline(checked, device="cpu")
    assert refused.value.refusals == [
        f"node 'save' (io.save_dataset): parameter 'path': file '{target}' exists; "
        "set overwrite: true or choose another path"
    ]
    assert run_pipeline(checked, targets=["load"], device="cpu").status == "succeeded"  # the save is not run
    replaced = run_pipeline(load_pipeline(copy_pipeline(source, target, overwrite=True)), device="cpu")
    assert replaced.status == "succeeded" and read_back(tmp_path, target).to_dict() == {"text": ["alpha", "beta"]}


def test_a_failed_write_leaves_the_old_file_whole(tmp_path, dataset):
    target = tmp_path / "rows.jsonl"
    target.write_text('{"text": "old"}\n')

    class BreaksMidway:
        num_rows, column_names = 3, ["text"]

        def to_json(self, path, **options):
            with open(path, "w") as half:
                half.write('{"text": "new"')
            raise OSError(28, "No space left on device")

    with pytest.raises(NodeError, match="cannot write .*No space left on device"):
        run_node("io.save_dataset", context(tmp_path), {"dataset": BreaksMidway()}, path=str(target), overwrite=True)
    assert target.read_text() == '{"text": "old"}\n'
    assert sorted(path.name for path in tmp_path.iterdir()) == ["rows.jsonl"]


def test_bad_paths_are_explained(tmp_path, dataset):
    with pytest.raises(NodeError, match="parameter 'path' is empty"):
        run_node("io.save_dataset", context(tmp_path), {"dataset": dataset})
    with pytest.raises(NodeError, match="is a folder"):
        run_node("io.save_dataset", context(tmp_path), {"dataset": dataset}, path=str(tmp_path), format="csv")
