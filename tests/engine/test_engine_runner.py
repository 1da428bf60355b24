"""Execution: order, targets, caching (same and new process), file fingerprints, failures, cancellation."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading

import pytest

from nodeloom.engine import codecs
from nodeloom.engine.cache import OutputCache
from nodeloom.engine.context import CancelToken
from nodeloom.engine.runner import run_pipeline
from nodeloom.engine.validation import load_pipeline
from tests.support.engine_nodes import CALLS, CHAIN, run, with_params


def test_runs_in_topological_order_and_gathers_numeric_metrics():
    result = run(CHAIN)
    assert result.status == "succeeded"
    assert CALLS == ["s", "a", "b", "side", "m"]
    assert result.metrics == {"m": {"value": 111.0}}  # strings and booleans are not metrics
    assert result.outputs("b") == {"value": "111.0"}


def test_until_runs_only_what_the_target_needs():
    result = run(CHAIN, targets=["a"])
    assert CALLS == ["s", "a"] and list(result.nodes) == ["s", "a"]


def test_parameter_change_reruns_that_node_and_its_descendants_only():
    cache = OutputCache()
    run(CHAIN, cache)
    second = run(CHAIN, cache)
    assert CALLS == [] and all(node.cached for node in second.nodes.values())
    third = run(with_params(CHAIN, "a", value=20), cache)
    assert CALLS == ["a", "b", "m"]
    assert {n for n, r in third.nodes.items() if r.cached} == {"s", "side"}
    assert third.metrics == {"m": {"value": 121.0}}


def test_spelling_out_a_default_keeps_the_cache():
    cache = OutputCache()
    run(CHAIN, cache)
    run(with_params(CHAIN, "s", mode="plain"), cache)
    assert CALLS == []


def test_no_cache_recomputes_everything():
    cache = OutputCache()
    run(CHAIN, cache)
    run(CHAIN, cache, use_cache=False)
    assert CALLS == ["s", "a", "b", "side", "m"]


def test_a_changed_seed_invalidates():
    cache = OutputCache()
    run(CHAIN, cache)
    run({**CHAIN, "settings": {"seed": 7}}, cache)
    assert len(CALLS) == 5


def test_failure_stops_descendants_only():
    data = {
        "schema_version": 1,
        "name": "f",
        "nodes": [
            {"id": "s", "type": "test.source"},
            {"id": "bad", "type": "test.fail", "params": {"message": "column 'x' is missing"}},
            {"id": "after", "type": "test.score"},
            {"id": "ok", "type": "test.score"},
        ],
        "edges": [
            {"source": "s", "target": "bad"},
            {"source": "bad", "target": "after"},
            {"source": "s", "target": "ok"},
        ],
    }
    events = []
    result = run(data, listeners=[events.append])
    assert result.status == "failed"
    assert {n: r.status for n, r in result.nodes.items()} == {
        "s": "succeeded",
        "bad": "failed",
        "after": "skipped",
        "ok": "succeeded",
    }
    assert result.nodes["bad"].error == "column 'x' is missing"
    failed = next(e for e in events if e.kind == "failed")
    assert failed.node_id == "bad" and failed.traceback == ""  # a NodeError is the user's, not a crash
    # Statuses are RunStatus members but print and serialise as their plain values.
    assert f"{result.status}" == str(result.status) == "failed"
    assert json.loads(json.dumps(result.to_json()))["nodes"]["after"]["status"] == "skipped"


def test_an_unexpected_exception_is_one_line_with_the_traceback_in_the_event():
    data = {
        "schema_version": 1,
        "name": "f",
        "nodes": [
            {"id": "s", "type": "test.source"},
            {"id": "bad", "type": "test.fail", "params": {"crash": True, "message": "x\ny"}},
        ],
        "edges": [{"source": "s", "target": "bad"}],
    }
    events = []
    result = run(data, listeners=[events.append])
    assert result.nodes["bad"].error == "ZeroDivisionError: x"
    failed = next(e for e in events if e.kind == "failed")
    assert "Traceback" in failed.traceback and "ZeroDivisionError" in failed.traceback


def test_cancellation_is_prompt_and_marks_the_rest_cancelled():
    data = {
        "schema_version": 1,
        "name": "c",
        "nodes": [
            {"id": "s", "type": "test.source"},
            {"id": "wait", "type": "test.sleep", "params": {"seconds": 30}},
            {"id": "m", "type": "test.score"},
        ],
        "edges": [{"source": "s", "target": "wait"}, {"source": "wait", "target": "m"}],
    }
    cancel = CancelToken()

    def on_event(event):
        if event.kind == "started" and event.node_id == "wait":
            threading.Timer(0.2, cancel.cancel).start()

    result = run(data, cancel=cancel, listeners=[on_event])
    assert result.status == "cancelled"
    assert result.nodes["wait"].status == "cancelled" and result.nodes["wait"].seconds < 5
    assert result.nodes["m"].status == "cancelled"


def test_event_stream_for_a_run():
    events = []
    run(CHAIN, targets=["a"], listeners=[events.append])
    assert [(e.kind, getattr(e, "node_id", None)) for e in events] == [
        ("run_started", None),
        ("queued", "s"),
        ("queued", "a"),
        ("started", "s"),
        ("finished", "s"),
        ("started", "a"),
        ("finished", "a"),
        ("run_finished", None),
    ]
    assert all(json.dumps(e.to_dict()) for e in events)


@pytest.fixture
def pairs_file(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [
        {"prediction": "the cat sat on the mat", "reference": "the cat sat on the mat"},
        {"prediction": "a dog ran far", "reference": ["a dog ran far", "the dog ran"]},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def bleu_pipeline(path) -> dict:
    return {
        "schema_version": 1,
        "name": "bleu",
        "nodes": [
            {"id": "load", "type": "data.load_dataset", "params": {"source": "file", "path": str(path)}},
            {"id": "clean", "type": "text.clean", "params": {"columns": ["prediction"]}},
            {"id": "bleu", "type": "metric.sacrebleu"},
        ],
        "edges": [{"source": "load", "target": "clean"}, {"source": "clean", "target": "bleu"}],
    }


def cli_run(pipeline_file, *extra):
    completed = subprocess.run(
        [sys.executable, "-m", "nodeloom", "run", str(pipeline_file), "--json", *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return completed.returncode, json.loads(completed.stdout)


def test_cache_survives_a_new_process_and_an_edited_file_invalidates(tmp_path, pairs_file):
    pipeline_file = tmp_path / "bleu.json"
    pipeline_file.write_text(json.dumps(bleu_pipeline(pairs_file)))
    code, first = cli_run(pipeline_file)
    assert code == 0 and first["metrics"]["bleu"]["score"] == pytest.approx(100.0)
    code, second = cli_run(pipeline_file)
    assert [n["cached"] for n in second["nodes"].values()] == [True, True, True]
    code, third = cli_run(pipeline_file, "--set", "clean.lowercase=true")
    assert {n: r["cached"] for n, r in third["nodes"].items()} == {"load": True, "clean": False, "bleu": False}
    pairs_file.write_text(json.dumps({"prediction": "completely different words", "reference": "the cat sat"}) + "\n")
    code, fourth = cli_run(pipeline_file)
    assert not any(n["cached"] for n in fourth["nodes"].values())
    assert fourth["metrics"]["bleu"]["score"] < 100.0


def test_disk_cache_serves_a_fresh_process_without_rerunning(pairs_file):
    first = run_pipeline(load_pipeline(bleu_pipeline(pairs_file)), device="cpu")
    fresh = OutputCache(first.cache.root)  # same folder, empty memory: like a new process
    second = run_pipeline(load_pipeline(bleu_pipeline(pairs_file)), device="cpu", cache=fresh)
    assert all(node.cached for node in second.nodes.values())
    assert second.metrics == first.metrics
    assert fresh.get(second.nodes["clean"].key)["dataset"].num_rows == 2


def safety_pipeline(path) -> dict:
    """A node whose outputs are rows (a dataset) and metrics beside them."""
    return {
        "schema_version": 1,
        "name": "safety",
        "nodes": [
            {"id": "load", "type": "data.load_dataset", "params": {"source": "file", "path": str(path)}},
            {"id": "safety", "type": "text.safety_filter", "params": {"text_column": "prediction"}},
        ],
        "edges": [{"source": "load", "target": "safety", "target_port": "dataset"}],
    }


def test_a_cached_node_is_read_for_its_metrics_only(pairs_file, monkeypatch):
    first = run_pipeline(load_pipeline(safety_pipeline(pairs_file)), device="cpu")
    datasets_read = []
    arrow = codecs.CODECS_BY_NAME["arrow"]

    def load_recorded(folder, meta):
        datasets_read.append(folder)
        return arrow.load(folder, meta)

    reading = dataclasses.replace(arrow, load=load_recorded)
    monkeypatch.setitem(codecs.CODECS_BY_NAME, "arrow", reading)
    fresh = OutputCache(first.cache.root)  # a new process: nothing in memory
    second = run_pipeline(load_pipeline(safety_pipeline(pairs_file)), device="cpu", cache=fresh)
    assert all(node.cached for node in second.nodes.values())
    assert second.metrics == first.metrics and second.metrics["safety"]["rows"] == 2
    assert datasets_read == []  # neither the loaded rows nor the filtered rows beside the metrics were decoded
    assert fresh.get(second.nodes["safety"].key)["dataset"].num_rows == 2  # the whole entry is still there


def test_damaged_metrics_of_a_cached_node_are_computed_again(pairs_file):
    first = run_pipeline(load_pipeline(safety_pipeline(pairs_file)), device="cpu")
    metrics_file = first.cache.entry_folder(first.nodes["safety"].key) / "metrics" / "value.json"
    text = metrics_file.read_text()
    metrics_file.write_text(text.replace('"rows": 2', '"rows": 7'))  # same size: only the checksum can tell
    second = run_pipeline(load_pipeline(safety_pipeline(pairs_file)), device="cpu", cache=OutputCache(first.cache.root))
    assert {node_id: node.cached for node_id, node in second.nodes.items()} == {"load": True, "safety": False}
    assert second.metrics["safety"]["rows"] == 2
