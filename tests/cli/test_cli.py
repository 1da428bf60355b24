"""CLI contract of the store commands: recording, runs, show, rerun, pipelines, gc, exit codes, --json.

Most commands run in this process through `main()` (fast); the contracts that depend on a real
process — stdout holding nothing but the JSON while libraries print, Ctrl-C — use a subprocess.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from nodeloom.engine.store import Store
from tests.support import REPO
from tests.support.cli import one_json_object
from tests.support.store_nodes import start_nodeloom_with_test_nodes, train_pipeline, write_pipeline


def nodeloom_process(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "nodeloom", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def bleu_file(tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text(
        json.dumps({"prediction": "the cat sat on a mat", "reference": "the cat sat on the mat"})
        + "\n"
        + json.dumps({"prediction": "a b c d", "reference": "a b c d"})
        + "\n"
    )
    pipeline = {
        "schema_version": 1,
        "name": "bleu",
        "nodes": [
            {"id": "load", "type": "data.load_dataset", "params": {"source": "file", "path": str(data)}},
            {"id": "bleu", "type": "metric.sacrebleu"},
        ],
        "edges": [{"source": "load", "target": "bleu"}],
    }
    path = tmp_path / "bleu.json"
    path.write_text(json.dumps(pipeline))
    return path


def test_every_run_is_recorded_against_its_pipeline_version(bleu_file, nodeloom):
    first = one_json_object(nodeloom_process("run", str(bleu_file), "--json").stdout)  # a real process
    assert (first["status"], first["pipeline"], first["version"]) == ("succeeded", "bleu", 1)
    again = one_json_object(nodeloom("run", str(bleu_file), "--json").stdout)
    assert again["version"] == 1 and again["run_id"] != first["run_id"]  # same content: same version

    data = json.loads(bleu_file.read_text())
    data["nodes"][1]["params"] = {"lowercase": True}
    bleu_file.write_text(json.dumps(data))
    edited = one_json_object(nodeloom("run", str(bleu_file), "--json").stdout)
    assert edited["version"] == 2

    runs = one_json_object(nodeloom("runs", "--json").stdout)["runs"]
    assert [run["id"] for run in runs] == [edited["run_id"], again["run_id"], first["run_id"]]
    newest = runs[0]
    assert set(newest) >= {"id", "pipeline", "version", "status", "started", "finished", "metrics"}
    assert newest["metrics"] == edited["metrics"] and newest["status"] == "succeeded"

    [pipeline] = one_json_object(nodeloom("pipelines", "--json").stdout)["pipelines"]
    assert (pipeline["name"], pipeline["latest_version"], pipeline["runs"]) == ("bleu", 2, 3)
    versions = one_json_object(nodeloom("pipelines", "bleu", "--json").stdout)["versions"]
    assert [v["version"] for v in versions] == [2, 1] and "data" not in versions[0]
    diff = nodeloom("pipelines", "bleu", "--diff", "1", "2")
    assert diff.returncode == 0 and "~ bleu.lowercase: False → True" in diff.stdout
    assert json.loads(nodeloom("pipelines", "bleu", "--export", "1").stdout)["nodes"][1].get("params") is None


def test_a_saved_pipeline_name_works_where_a_file_is_expected(bleu_file, nodeloom):
    nodeloom("run", str(bleu_file), "--json")
    by_name = nodeloom("run", "bleu", "--json", "--set", "bleu.lowercase=true")
    assert by_name.returncode == 0, by_name.stderr
    result = one_json_object(by_name.stdout)
    assert result["version"] == 1  # --set does not make a new version; it is recorded with the run
    with Store.open() as store:
        assert store.get_run(result["run_id"]).overrides == ["bleu.lowercase=true"]
    assert one_json_object(nodeloom("run", "bleu@1", "--json").stdout)["version"] == 1
    assert nodeloom("validate", "bleu").returncode == 0
    missing = nodeloom("run", "blue")
    assert missing.returncode == 2
    assert "'blue' is neither a pipeline file nor a saved pipeline" in missing.stderr and "'bleu'" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    assert nodeloom("run", "bleu@7").returncode == 2


def test_rerun_reproduces_the_metrics_and_curves(tmp_path, nodeloom):
    path = write_pipeline(tmp_path, train_pipeline(steps=40))
    first = one_json_object(nodeloom("run", str(path), "--json", "--run-id", "original").stdout)
    rerun = nodeloom("rerun", "orig", "--json", "--no-cache", "--run-id", "again")
    assert rerun.returncode == 0, rerun.stderr
    second = one_json_object(rerun.stdout)
    assert second["run_id"] == "again" and second["nodes"]["train"]["cached"] is False
    assert second["metrics"] == first["metrics"]
    with Store.open() as store:
        assert store.get_run("again").rerun_of == "original"
        assert store.metric_series("again") == store.metric_series("original")

    changed = one_json_object(nodeloom("rerun", "again", "--json", "--set", "train.steps=5").stdout)
    assert changed["metrics"]["train"]["final_loss"] != first["metrics"]["train"]["final_loss"]
    with Store.open() as store:
        run = store.get_run(changed["run_id"])
        assert run.overrides == ["train.steps=5"] and run.version == 1
        assert len(store.metric_series(run.id)["train"]["loss"].steps) == 5


def test_a_run_with_no_version_keeps_its_pipeline_and_reruns_it_exactly(tmp_path, nodeloom):
    """The app's Run: the pipeline is recorded with the run, no version is made, a rerun runs the same JSON."""
    data = train_pipeline(steps=12)
    path = write_pipeline(tmp_path, data)
    first = one_json_object(nodeloom("run", str(path), "--no-version", "--json", "--run-id", "draft1").stdout)
    assert (first["status"], first["pipeline"], first["version"]) == ("succeeded", "trainer", None)
    assert nodeloom("pipelines", "--json").stdout.count('"name"') == 0  # nothing saved
    listed = nodeloom("runs")
    assert "trainer draft" in listed.stdout and "trainer draft" in nodeloom("show", "draft1").stdout

    path.write_text(json.dumps(train_pipeline(steps=3)))  # the file changes; the run keeps what it ran
    again = one_json_object(nodeloom("rerun", "draft1", "--json", "--no-cache", "--run-id", "draft2").stdout)
    assert again["version"] is None and again["metrics"] == first["metrics"]
    with Store.open() as store:
        assert store.run_pipeline("draft2") == store.run_pipeline("draft1") == data
        assert len(store.metric_series("draft2")["train"]["loss"].steps) == 12
        assert store.list_pipelines() == []
        store.save_pipeline("trainer", data, "saved by hand")
    # once the same content is a saved version, a run of it is tied to that version
    saved = one_json_object(nodeloom("rerun", "draft1", "--json").stdout)
    assert saved["version"] == 1


def test_rerun_of_a_starter_pipeline_reproduces_its_score(bleu_file, nodeloom):
    first = one_json_object(nodeloom("run", str(bleu_file), "--json").stdout)
    again = one_json_object(nodeloom("rerun", first["run_id"], "--json", "--no-cache").stdout)
    assert again["metrics"] == first["metrics"] and 0 < first["metrics"]["bleu"]["score"] < 100


def test_show_json_holds_the_run_its_nodes_curves_and_logs(tmp_path, nodeloom):
    path = write_pipeline(tmp_path, train_pipeline(steps=12))
    nodeloom("run", str(path), "--run-id", "shown")
    shown = one_json_object(nodeloom("show", "shown", "--json").stdout)
    assert shown["id"] == "shown" and shown["status"] == "succeeded" and shown["pipeline"] == "trainer"
    assert list(shown["nodes"]) == ["data", "train"] and shown["nodes"]["train"]["status"] == "succeeded"
    assert shown["series"]["train"]["loss"]["steps"] == list(range(1, 13))
    assert shown["logs"][0]["message"] == "trained 12 steps"
    assert "final_loss" in shown["metrics"]["train"]
    text = nodeloom("show", "shown")
    assert text.returncode == 0 and "train.loss: 12 points" in text.stdout


def test_run_ids_given_on_the_command_line_are_checked(bleu_file, nodeloom):
    assert nodeloom("run", str(bleu_file), "--run-id", "chosen").returncode == 0
    taken = nodeloom("run", str(bleu_file), "--run-id", "chosen")
    assert taken.returncode == 2 and "run id 'chosen' is already taken" in taken.stderr
    assert nodeloom("run", str(bleu_file), "--run-id", "../etc").returncode == 2
    unknown = nodeloom("show", "nonexistent")
    assert unknown.returncode == 2 and "no run 'nonexistent'" in unknown.stderr


def test_a_failing_node_is_recorded_and_exits_1(bleu_file, tmp_path, nodeloom):
    failed = nodeloom("run", str(bleu_file), "--json", "--set", f"load.path={tmp_path / 'missing.jsonl'}")
    assert failed.returncode == 1
    result = one_json_object(failed.stdout)
    with Store.open() as store:
        run = store.get_run(result["run_id"])
    assert run.status == "failed" and "missing.jsonl" in run.nodes["load"].error
    assert run.nodes["bleu"].status == "skipped"


def test_a_damaged_database_is_reported_in_one_line_and_left_alone(bleu_file, nodeloom_home, nodeloom):
    database = nodeloom_home / "nodeloom.db"
    database.write_bytes(b"\x00garbage" * 512)
    for args in (["runs"], ["run", str(bleu_file)], ["pipelines", "--json"]):
        completed = nodeloom_process(*args) if args[0] == "run" else nodeloom(*args)
        assert completed.returncode == 2 and completed.stdout == ""
        assert len(completed.stderr.strip().splitlines()) == 1, completed.stderr
        assert str(database) in completed.stderr and "Traceback" not in completed.stderr
    assert database.read_bytes() == b"\x00garbage" * 512


def test_ctrl_c_cancels_and_the_run_is_recorded_as_cancelled(tmp_path, nodeloom_home):
    path = write_pipeline(tmp_path, train_pipeline(steps=1_000_000, step_seconds=0.001))
    process = start_nodeloom_with_test_nodes("run", str(path), "--json", "--run-id", "stopped")
    database = nodeloom_home / "nodeloom.db"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until training reports progress
        time.sleep(0.2)
        if database.exists():
            with Store.open(recover=False) as store:
                run = store.get_run("stopped")
                if run and run.nodes.get("train") and run.nodes["train"].progress:
                    break
    process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 130
    assert one_json_object(stdout)["status"] == "cancelled"
    with Store.open() as store:
        run = store.get_run("stopped")
    assert run.status == "cancelled" and run.nodes["train"].status == "cancelled"


def test_gc_prints_what_it_freed(tmp_path, nodeloom_home, nodeloom):
    for steps in (5, 6, 7):
        path = write_pipeline(tmp_path, train_pipeline(steps=steps))
        assert nodeloom("run", str(path), "--run-id", f"gc-{steps}").returncode == 0
    completed = nodeloom("gc", "--keep", "1")
    assert completed.returncode == 0
    assert completed.stdout.startswith("freed ") and "2 cache entries, 2 run folders" in completed.stdout
    assert sorted(p.name for p in (nodeloom_home / "runs").iterdir()) == ["gc-7"]
    report = one_json_object(nodeloom("gc", "--json").stdout)
    assert report["bytes_freed"] == 0 and report["removed_cache_entries"] == []


def test_usage_mistakes_record_no_run(bleu_file, nodeloom):
    assert nodeloom("run", str(bleu_file), "--until", "nowhere").returncode == 2
    assert one_json_object(nodeloom("runs", "--json").stdout)["runs"] == []
