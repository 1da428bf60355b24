"""The store's Python API: versions, diffs, stale saves, import/export, recorded runs, damaged files, gc."""

from __future__ import annotations

import json
import os
import sqlite3
import time

import pytest

from nodeloom.engine.recorder import run_recorded
from nodeloom.engine.store import StaleVersion, Store, StoreCorrupt, StoreError, diff_pipelines
from nodeloom.engine.store.gc import collect_garbage
from nodeloom.engine.validation import load_pipeline
from tests.support.store_nodes import REGISTRY, train_pipeline

BASE = {
    "schema_version": 1,
    "name": "demo",
    "nodes": [
        {"id": "load", "type": "data.load_dataset", "params": {"path": "a.jsonl"}, "position": {"x": 0, "y": 0}},
        {"id": "clean", "type": "text.clean", "params": {"lowercase": True}, "position": {"x": 200, "y": 0}},
    ],
    "edges": [{"source": "load", "target": "clean"}],
}


def edited(data: dict, **changes) -> dict:
    copy = json.loads(json.dumps(data))
    for path, value in changes.items():
        node_id, _, param = path.partition("__")
        next(raw for raw in copy["nodes"] if raw["id"] == node_id)["params"][param] = value
    return copy


@pytest.fixture
def store(nodeloom_home):
    with Store.open() as opened:
        yield opened


def test_a_version_is_added_only_when_the_content_changes(store):
    first = store.save_pipeline("demo", BASE, "first")
    reordered = json.loads(json.dumps(BASE, sort_keys=True))  # same content, other key order
    again = store.save_pipeline("demo", reordered, "no change")
    changed = store.save_pipeline("demo", edited(BASE, clean__lowercase=False), "keep case")
    assert (first.created, again.created, changed.created) == (True, False, True)
    assert [v.version for v in store.versions("demo")] == [2, 1]
    assert store.get_version("demo").data["nodes"][1]["params"] == {"lowercase": False}
    assert store.get_version("demo", 1).message == "first"
    [info] = store.list_pipelines()
    assert (info.name, info.latest_version, info.versions, info.runs) == ("demo", 2, 2, 0)


def test_saving_names_the_content_after_the_pipeline(store):
    saved = store.save_pipeline("renamed", BASE)
    assert saved.version.data["name"] == "renamed" and BASE["name"] == "demo"


def test_a_stale_save_is_refused_and_nothing_is_overwritten(store):
    store.save_pipeline("demo", BASE)
    mine = store.save_pipeline("demo", edited(BASE, load__path="b.jsonl"), "mine", base_version=1)
    with pytest.raises(StaleVersion, match="version 2.*started from version 1"):
        store.save_pipeline("demo", edited(BASE, load__path="c.jsonl"), "theirs", base_version=1)
    assert mine.version.version == 2
    assert store.get_version("demo").data["nodes"][0]["params"]["path"] == "b.jsonl"
    with pytest.raises(StaleVersion, match="a pipeline named 'demo' already exists \\(version 2\\)"):
        store.save_pipeline("demo", BASE, "a new pipeline, by the same name", base_version=0)
    assert len(store.versions("demo")) == 2
    assert store.save_pipeline("fresh", BASE, base_version=0).version.version == 1


def test_diff_names_added_removed_and_changed_nodes_and_params(store):
    store.save_pipeline("demo", BASE)
    new = edited(BASE, clean__lowercase=False, clean__strip=True)
    new["nodes"][0]["params"].pop("path")
    new["nodes"].append({"id": "bleu", "type": "metric.sacrebleu"})
    new["edges"].append({"source": "clean", "target": "bleu"})
    new["settings"] = {"seed": 3}
    store.save_pipeline("demo", new)
    diff = store.diff("demo", 1, 2)
    assert diff.nodes_added == {"bleu": "metric.sacrebleu"} and diff.nodes_removed == {}
    assert diff.nodes_changed["clean"].params_changed["lowercase"].new is False
    assert diff.nodes_changed["clean"].params_added == {"strip": True}  # not a text.clean parameter: no default
    # a parameter left out is at its default, and the diff says so: old → new, not "removed"
    assert diff.nodes_changed["load"].params_removed == {}
    assert "~ load.path: 'a.jsonl' → ''" in diff.lines()
    assert diff.edges_added == ["clean → bleu"] and diff.settings_changed["seed"].new == 3
    assert "~ clean.lowercase: True → False" in diff.lines()
    assert store.diff("demo", 2, 1).nodes_removed == {"bleu": "metric.sacrebleu"}
    assert diff_pipelines(BASE, BASE).is_empty()


def test_diff_shows_old_and_new_value_of_a_parameter_set_away_from_its_default():
    at_default = {"nodes": [{"id": "bleu", "type": "metric.sacrebleu"}]}
    tuned = {"nodes": [{"id": "bleu", "type": "metric.sacrebleu", "params": {"lowercase": True}}]}
    assert diff_pipelines(at_default, tuned).lines() == ["~ bleu.lowercase: False → True"]
    assert diff_pipelines(tuned, at_default).lines() == ["~ bleu.lowercase: True → False"]
    written_out = {"nodes": [{"id": "bleu", "type": "metric.sacrebleu", "params": {"lowercase": False}}]}
    assert diff_pipelines(at_default, written_out).is_empty()  # the same run, spelled out
    plugin = [{"id": "x", "type": "someone.elses", "params": {}}]
    assert diff_pipelines({"nodes": plugin}, {"nodes": [plugin[0] | {"params": {"k": 2}}]}).lines() == ["+ x.k = 2"]


def test_restore_adds_the_old_content_as_a_new_version(store):
    store.save_pipeline("demo", BASE)
    store.save_pipeline("demo", edited(BASE, clean__lowercase=False))
    restored = store.restore("demo", 1)
    assert restored.created and restored.version.version == 3
    assert restored.version.content_hash == store.get_version("demo", 1).content_hash
    assert restored.version.message == "restored version 1"


def test_import_and_export_round_trip(store, tmp_path):
    path = tmp_path / "from-file.json"
    path.write_text(json.dumps({k: v for k, v in BASE.items() if k != "name"}))
    imported = store.import_pipeline(path)
    assert imported.version.pipeline == "from-file"
    exported = store.export_pipeline("from-file")
    assert json.loads(exported) == imported.version.data
    again = store.import_pipeline(exported, name="copy")
    assert again.version.content_hash != imported.version.content_hash  # the name differs
    with pytest.raises(StoreError, match="not valid pipeline JSON"):
        store.import_pipeline("{oops")


def test_unknown_names_and_versions_are_explained(store):
    store.save_pipeline("demo", BASE)
    with pytest.raises(StoreError, match="no saved pipeline named 'dmeo' \\(saved: 'demo'\\)"):
        store.versions("dmeo")
    with pytest.raises(StoreError, match="has no version 9"):
        store.get_version("demo", 9)


def record(store, data: dict, **options):
    pipeline = load_pipeline(data, registry=REGISTRY)
    version = store.ensure_version(pipeline.name, data).version
    return run_recorded(store, pipeline, version, registry=REGISTRY, **options)


def test_a_recorded_run_holds_nodes_curves_metrics_logs_and_artifacts(store):
    result = record(store, train_pipeline(steps=30), run_id="first-run", overrides=["train.steps=30"])
    run = store.get_run("first-run")
    assert run.status == result.status == "succeeded" and run.version == 1 and run.pipeline == "trainer"
    assert run.overrides == ["train.steps=30"] and run.device == "cpu" and run.pid == os.getpid()
    assert list(run.nodes) == ["data", "train"]
    train = run.nodes["train"]
    assert train.status == "succeeded" and train.type == "store_test.train" and train.progress == 1.0
    assert train.cache_key == result.nodes["train"].key
    assert run.metrics == {"train": pytest.approx(result.metrics["train"])}
    curves = store.metric_series("first-run", "train")["train"]
    assert curves["loss"].steps == list(range(1, 31)) and len(curves["learning_rate"].values) == 30
    assert curves["loss"].values[-1] == pytest.approx(result.metrics["train"]["final_loss"])
    assert [entry.message for entry in store.logs("first-run", "train")] == ["trained 30 steps"]
    kinds = {(a.node_id, a.port, a.kind) for a in run.artifacts}
    assert ("train", "metrics", "json") in kinds and ("train", None, "workdir") in kinds
    assert all(a.size > 0 and os.path.exists(a.path) for a in run.artifacts)
    [listed] = store.list_runs("trainer")
    assert listed.id == "first-run" and listed.metrics == run.metrics


def test_a_failing_node_records_its_error_and_traceback(store):
    data = {
        "schema_version": 1,
        "name": "broken",
        "nodes": [
            {"id": "data", "type": "store_test.source", "params": {"text": "not a number"}},
            {"id": "train", "type": "store_test.train"},
        ],
        "edges": [{"source": "data", "target": "train"}],
    }
    record(store, data, run_id="broken-run")
    run = store.get_run("broken-run")
    assert run.status == "failed" and run.nodes["train"].status == "failed"
    assert "could not convert string to float" in run.nodes["train"].error
    assert run.error == f"node 'train' failed: {run.nodes['train'].error}" and run.nodes["train"].seconds > 0
    [entry] = store.logs("broken-run")
    assert entry.level == "error" and "Traceback" in entry.traceback


def test_a_recorded_run_is_planned_once_and_a_bad_target_records_nothing(store, monkeypatch):
    from nodeloom.engine import planner

    calls = []
    for name in ("plan", "resolve_device"):
        counted = getattr(planner, name)
        monkeypatch.setattr(
            planner, name, lambda *args, _name=name, _counted=counted: calls.append(_name) or _counted(*args)
        )
    record(store, train_pipeline(steps=3), run_id="once", device="cpu")
    assert sorted(calls) == ["plan", "resolve_device"]  # the recorder's plan is the one the runner runs
    with pytest.raises(planner.UnknownTarget, match="no node 'nope'"):
        record(store, train_pipeline(steps=3), run_id="never", targets=["nope"])
    assert store.get_run("never") is None


def test_run_ids_are_checked_and_unique(store):
    version = store.save_pipeline("demo", BASE).version
    store.create_run(version, run_id="taken")
    with pytest.raises(StoreError, match="already taken"):
        store.create_run(version, run_id="taken")
    with pytest.raises(StoreError, match="invalid run id"):
        store.create_run(version, run_id="../escape")
    assert store.resolve_run_id("tak") == "taken"


def test_runs_are_listed_by_sweep_and_an_unknown_sweep_lists_none(store):
    version = store.save_pipeline("demo", BASE).version
    other = store.save_pipeline("other", BASE).version
    store.create_run(version, run_id="plain")
    store.create_run(version, run_id="swept-1", sweep_id="sweep-a")
    store.create_run(version, run_id="swept-2", sweep_id="sweep-a")
    store.create_run(other, run_id="elsewhere", sweep_id="sweep-b")
    assert [run.id for run in store.list_runs(sweep_id="sweep-a")] == ["swept-2", "swept-1"]
    assert [run.id for run in store.list_runs("demo", sweep_id="sweep-b")] == []  # the filters combine
    assert [run.id for run in store.list_runs(sweep_id="sweep-a", limit=1)] == ["swept-2"]
    assert store.list_runs(sweep_id="no-such-sweep") == []
    assert len(store.list_runs()) == 4


def test_a_run_whose_process_is_gone_is_marked_interrupted_on_open(nodeloom_home):
    with Store.open() as store:
        version = store.save_pipeline("demo", BASE).version
        store.create_run(version, run_id="mine")  # this process: alive
        store.create_run(version, run_id="orphan")
        # a process id that was never ours: pid 1 with a start time that cannot match
        store.db.execute("UPDATE runs SET status = 'running', pid = 1, pid_started = 1.0 WHERE id = 'orphan'")
    with Store.open() as store:
        assert store.get_run("orphan").status == "interrupted"
        assert store.get_run("orphan").error == "the process running it stopped unexpectedly"
        assert store.get_run("mine").status == "queued"


def test_a_file_that_is_not_a_database_is_reported_and_left_untouched(nodeloom_home):
    path = nodeloom_home / "nodeloom.db"
    garbage = b"this is not SQLite at all" * 100
    path.write_bytes(garbage)
    with pytest.raises(StoreCorrupt) as caught:
        Store.open()
    assert str(path) in str(caught.value) and "left untouched" in str(caught.value)
    assert path.read_bytes() == garbage
    assert not (nodeloom_home / "nodeloom.db-wal").exists()


def test_a_database_path_that_cannot_be_opened_is_reported(nodeloom_home):
    (nodeloom_home / "nodeloom.db").mkdir()
    with pytest.raises(StoreCorrupt, match="nodeloom.db.*not a file"):
        Store.open()


def test_a_truncated_database_is_reported(nodeloom_home):
    with Store.open() as store:
        for number in range(50):
            store.save_pipeline(f"p{number}", BASE)
    path = nodeloom_home / "nodeloom.db"
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 3])
    with pytest.raises(StoreCorrupt, match=str(path)):
        with Store.open() as store:
            store.list_pipelines()
            store.integrity_check()


def test_a_database_from_a_newer_nodeloom_is_refused(nodeloom_home):
    with Store.open() as store:
        store.db.execute("INSERT INTO schema_version (version, applied) VALUES (99, 'future')")
    with pytest.raises(StoreError, match="schema version 99, newer"):
        Store.open()


def test_gc_keeps_recent_runs_and_what_they_use(store, nodeloom_home):
    for steps in (10, 11, 12, 13):  # four versions of one pipeline, one run each
        record(store, train_pipeline(steps=steps), run_id=f"run-{steps}")
    record(store, train_pipeline(name="other", steps=5), run_id="other-run")
    runs_root = nodeloom_home / "runs"
    assert sorted(p.name for p in runs_root.iterdir()) == ["other-run", "run-10", "run-11", "run-12", "run-13"]
    old_train_key = store.get_run("run-10").nodes["train"].cache_key
    kept_train_key = store.get_run("run-13").nodes["train"].cache_key
    shared_key = store.get_run("run-10").nodes["data"].cache_key  # the source is the same in every run

    (runs_root / "not-a-recorded-run").mkdir()  # e.g. an unrecorded in-process run: not ours to delete
    preview = collect_garbage(store, keep=2, dry_run=True)
    assert len(list(runs_root.iterdir())) == 6
    report = collect_garbage(store, keep=2)
    assert report.to_dict() | {"dry_run": True} == preview.to_dict()
    assert sorted(report.kept_runs) == ["other-run", "run-12", "run-13"]
    assert sorted(p.name for p in runs_root.iterdir()) == ["not-a-recorded-run", "other-run", "run-12", "run-13"]
    cache = nodeloom_home / "cache"
    assert not (cache / old_train_key[:2] / old_train_key).exists()
    assert (cache / kept_train_key[:2] / kept_train_key).exists() and (cache / shared_key[:2] / shared_key).exists()
    assert report.bytes_freed > 0 and len(report.removed_cache_entries) == 2
    assert all(a.removed for a in store.get_run("run-10").artifacts if a.node_id == "train")
    assert not any(a.removed for a in store.get_run("run-13").artifacts)
    assert store.get_run("run-10").metrics  # history stays


def test_gc_frees_the_datasets_scratch_copies(store, nodeloom_home):
    scratch = nodeloom_home / "datasets" / "csv" / "default-1234"
    scratch.mkdir(parents=True)
    (scratch / "csv-train.arrow").write_bytes(b"x" * 1000)
    (nodeloom_home / "datasets" / "lock-file").write_text("")
    report = collect_garbage(store, keep=1)
    assert sorted(report.removed_datasets_scratch) == [
        str(nodeloom_home / "datasets" / "csv"),
        str(nodeloom_home / "datasets" / "lock-file"),
    ]
    assert report.bytes_freed >= 1000 and not list((nodeloom_home / "datasets").iterdir())


def test_gc_leaves_the_cache_alone_while_a_run_is_in_progress(store, nodeloom_home):
    record(store, train_pipeline(steps=10), run_id="old")
    record(store, train_pipeline(steps=11), run_id="new")
    store.create_run(store.get_version("trainer"), run_id="live")  # owned by this (living) process
    report = collect_garbage(store, keep=1)
    assert "live" in report.cache_skipped and report.removed_cache_entries == []
    assert report.removed_run_folders == [str(nodeloom_home / "runs" / "old")]


def test_gc_removes_the_worker_files_of_finished_runs_it_does_not_keep(store, nodeloom_home):
    record(store, train_pipeline(steps=10), run_id="old")
    record(store, train_pipeline(steps=11), run_id="new")
    store.create_run(store.get_version("trainer"), run_id="live")  # in progress (owned by this living process)
    app, api = nodeloom_home / "app-runs", nodeloom_home / "api-runs"
    app.mkdir()
    api.mkdir()
    for run_id in ("old", "new", "live", "starting"):  # "starting": a worker that has not recorded its run yet
        (app / f"{run_id}.json").write_text("{}")
        (app / f"{run_id}.log").write_text("output\n")
    (api / "old.log").write_text("x" * 1000)
    failed_launch = app / "refused.log"  # a worker that ended before recording: its log says why, for a day
    failed_launch.write_text("not a valid pipeline")
    os.utime(failed_launch, (time.time() - 2 * 24 * 3600,) * 2)
    removed = [app / "old.json", app / "old.log", app / "refused.log", api / "old.log"]

    preview = collect_garbage(store, keep=1, dry_run=True)
    assert sorted(preview.removed_worker_files) == sorted(str(path) for path in removed)
    assert all(path.exists() for path in removed)
    report = collect_garbage(store, keep=1)
    assert sorted(report.removed_worker_files) == sorted(str(path) for path in removed)
    assert report.bytes_freed >= 1000 + len("not a valid pipeline")
    assert sorted(path.name for path in app.iterdir()) == [
        "live.json",
        "live.log",
        "new.json",
        "new.log",
        "starting.json",
        "starting.log",
    ]
    assert list(api.iterdir()) == []


def test_readers_see_a_consistent_database_while_writing(store, nodeloom_home):
    store.save_pipeline("demo", BASE)
    reader = sqlite3.connect(nodeloom_home / "nodeloom.db")
    assert reader.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert reader.execute("SELECT count(*) FROM pipeline_versions").fetchone()[0] == 1
    reader.close()


def test_one_store_can_be_shared_by_threads(store):
    import threading

    def save_many(writer: str) -> None:
        for index in range(30):
            store.save_pipeline("threads", {"schema_version": 1, "nodes": [], "edges": [], "w": writer, "i": index})
            store.list_pipelines()

    threads = [threading.Thread(target=save_many, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(v.version for v in store.versions("threads")) == list(range(1, 61))


def test_another_programs_sqlite_file_is_not_taken_over(nodeloom_home):
    path = nodeloom_home / "nodeloom.db"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, title TEXT)")
    other.commit()
    other.close()
    before = path.read_bytes()
    with pytest.raises(StoreCorrupt, match="not NodeLoom's \\(tables: photos\\)"):
        Store.open()
    assert path.read_bytes() == before


def test_a_cached_node_shows_the_curves_of_the_run_that_computed_it(store):
    record(store, train_pipeline(steps=15), run_id="computed")
    record(store, train_pipeline(steps=15), run_id="from-cache")
    assert store.get_run("from-cache").nodes["train"].cached
    assert store.metric_series("from-cache") == store.metric_series("computed")
    assert len(store.metric_series("from-cache", "train", "loss")["train"]["loss"].steps) == 15
