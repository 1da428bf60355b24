"""The engine's side of issue [trust], unit by unit: which paths it reads, the limits on pipeline JSON, node
working folders, and a cache that heals itself. The command-line cases are tests/cli/test_trust_cases.py."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from nodeloom.engine import NodeParams, Output, node
from nodeloom.engine.cache import MANIFEST, OutputCache, file_fingerprint
from nodeloom.engine.files import RefusedPath, folder_files, readable
from nodeloom.engine.limits import MAX_NESTING_DEPTH, is_node_id, too_deep
from nodeloom.engine.node import Registry
from nodeloom.engine.paths import InvalidNodeId, node_workdir
from nodeloom.engine.runner import run_pipeline
from nodeloom.engine.store import Store, StoreError
from nodeloom.engine.types import TEXT
from nodeloom.engine.validation import PipelineInvalid, load_pipeline
from tests.support.engine_nodes import CALLS, CHAIN, REGISTRY, run, with_params

# ---------------------------------------------------------------------------------------------
# paths NodeLoom reads


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "data.csv"
    os.mkfifo(path)
    return path


def test_regular_files_and_folders_are_readable_and_a_missing_path_is_missing(tmp_path):
    (tmp_path / "data.csv").write_text("text\n")
    assert readable(str(tmp_path / "data.csv")) == ("file", tmp_path / "data.csv")
    assert readable(str(tmp_path))[0] == "folder"
    assert readable(str(tmp_path / "nope.csv"))[0] == "missing"
    assert readable("~")[1] == Path.home()


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/dev/zero", "not a regular file but a character device"),
        ("/proc/self/environ", "under /proc"),
        ("bad\x00name.csv", "NUL byte"),
        ("~nosuchuser/data.csv", "'~nosuchuser', which names no user"),
    ],
)
def test_devices_pseudo_files_nul_bytes_and_unknown_users_are_refused(path, reason):
    with pytest.raises(RefusedPath, match=reason):
        readable(path)


def test_a_fifo_and_a_link_to_a_device_are_refused_without_being_opened(fifo, tmp_path):
    with pytest.raises(RefusedPath, match="named pipe"):
        readable(str(fifo))  # opening it would block until a writer came
    link = tmp_path / "link.csv"
    link.symlink_to("/dev/zero")
    with pytest.raises(RefusedPath, match="character device"):
        readable(str(link))


def test_a_folder_lists_its_regular_files_only_and_has_a_limit(tmp_path, fifo):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "weights.bin").write_bytes(b"w")
    (tmp_path / "zero").symlink_to("/dev/zero")
    assert folder_files(tmp_path) == [tmp_path / "sub" / "weights.bin"]  # neither the FIFO nor the link
    with pytest.raises(RefusedPath, match="more than 0 files"):
        folder_files(tmp_path, limit=0)


def test_the_fingerprint_of_a_fifo_is_a_refusal_not_a_hang(fifo):
    with pytest.raises(RefusedPath):
        file_fingerprint(str(fifo))


READS = Registry()


class ReadParams(NodeParams):
    path: str = ""


@node(
    "test.reads",
    title="Reads",
    category="test",
    outputs=[Output("value", TEXT)],
    params=ReadParams,
    external_files=lambda params: [params.path],
    registry=READS,
)
def reads(ctx, inputs, params):
    """Reads the file at `path` (and returns its text)."""
    return {"value": Path(params.path).read_text()}


def reader(path: str, node_id: str = "r") -> dict:
    return {"schema_version": 1, "nodes": [{"id": node_id, "type": "test.reads", "params": {"path": path}}]}


def test_validation_names_node_parameter_and_path_of_a_file_it_will_not_read(fifo):
    with pytest.raises(PipelineInvalid) as caught:
        load_pipeline(reader(str(fifo)), READS)
    [problem] = caught.value.problems
    assert "node 'r' (test.reads)" in str(problem) and "parameter 'path'" in str(problem)
    assert str(fifo) in str(problem) and "not a regular file" in str(problem)


def test_a_file_that_turns_into_a_fifo_after_validation_fails_its_node_without_hanging(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("fine")
    pipeline = load_pipeline(reader(str(path)), READS)
    path.unlink()
    os.mkfifo(path)
    result = run_pipeline(pipeline, registry=READS, cache=OutputCache(tmp_path / "cache"), device="cpu")
    assert result.status == "failed"
    assert "named pipe" in result.nodes["r"].error


# ---------------------------------------------------------------------------------------------
# pipeline JSON and node ids


def nested(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def test_nesting_is_measured_without_recursion_and_stops_in_a_loop():
    assert too_deep(nested(MAX_NESTING_DEPTH)) is None
    assert "nested more than 64 levels" in too_deep(nested(MAX_NESTING_DEPTH + 1))
    assert too_deep(nested(100_000)) is not None  # far past Python's recursion limit
    looped: dict = {}
    looped["self"] = looped
    assert too_deep(looped) is not None


@pytest.mark.parametrize("node_id", ["load", "load_dataset_2", "a.b-c", "x" * 64])
def test_plain_names_are_node_ids(node_id):
    assert is_node_id(node_id)
    assert node_workdir("run1", node_id).name == node_id


@pytest.mark.parametrize("node_id", ["", ".", "..", "a..b", "a/b", "/abs", "..\\x", "x" * 65, "bad\x00", "tab\t", "é"])
def test_anything_else_is_refused_as_an_id_and_as_a_working_folder(node_id):
    assert not is_node_id(node_id)
    with pytest.raises(InvalidNodeId):
        node_workdir("run1", node_id)


def test_the_store_imports_and_saves_within_the_same_limits(nodeloom_home, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text('{"schema_version": 1, "nodes": [], "x": ' + "[" * 900 + "]" * 900 + "}")
    with Store.open() as store:
        with pytest.raises(StoreError, match="nested more than 64"):
            store.import_pipeline(deep)
        with pytest.raises(StoreError, match="nodes"):
            store.import_pipeline(json.dumps({"schema_version": 1, "name": "no nodes"}))
        with pytest.raises(StoreError, match="the limit is 20 MB"):
            store.save_pipeline("huge", {"schema_version": 1, "nodes": [], "description": "x" * (21 * 2**20)})
        with pytest.raises(StoreError, match="nested more than 64"):
            store.save_pipeline("deep", {"schema_version": 1, "nodes": [], "x": nested(100)})
        assert store.list_pipelines() == []


# ---------------------------------------------------------------------------------------------
# the cache heals itself


def entry_file(cache: OutputCache, key: str) -> Path:
    return cache.entry_folder(key) / "value" / "value.json"


def test_a_flipped_byte_is_caught_by_its_checksum_and_the_node_computed_again(tmp_path, caplog):
    cache = OutputCache(tmp_path / "cache")
    first = run(CHAIN, cache)
    damaged = entry_file(cache, first.nodes["s"].key)
    text = damaged.read_bytes()
    damaged.write_bytes(text.replace(b"1", b"7"))  # same size: only the checksum can tell
    fresh = OutputCache(cache.root)  # a new process: nothing in memory
    with caplog.at_level(logging.WARNING, logger="nodeloom.engine.cache"):
        second = run(with_params(CHAIN, "a", value=20), fresh)
    assert second.status == "succeeded" and second.metrics == {"m": {"value": 121.0}}  # s's true value, 1
    assert CALLS == ["s", "a", "b", "m"]  # s computed again when a needed it
    assert [r.message for r in caplog.records if "damaged cache entry" in r.message and "checksum" in r.message]
    assert entry_file(fresh, first.nodes["s"].key).read_bytes() == text  # healed


def test_a_truncated_entry_is_moved_aside_and_reads_as_absent(tmp_path, caplog):
    cache = OutputCache(tmp_path / "cache")
    key = run(CHAIN, cache).nodes["b"].key
    entry_file(cache, key).write_text("")
    fresh = OutputCache(cache.root)
    with caplog.at_level(logging.WARNING, logger="nodeloom.engine.cache"):
        assert not fresh.has(key)
    assert not cache.entry_folder(key).exists()
    assert any("damaged" in r.message and "bytes" in r.message for r in caplog.records)
    again = run(CHAIN, fresh)
    assert CALLS == ["b"] and again.metrics == {"m": {"value": 111.0}}  # keys never depend on values: m is cached


def test_an_entry_from_an_older_nodeloom_is_recomputed_quietly(tmp_path, caplog):
    cache = OutputCache(tmp_path / "cache")
    key = run(CHAIN, cache).nodes["s"].key
    manifest = cache.entry_folder(key) / MANIFEST
    old = json.loads(manifest.read_text())
    del old["format"], old["files"]
    manifest.write_text(json.dumps(old))
    with caplog.at_level(logging.WARNING):
        run(CHAIN, OutputCache(cache.root))
    assert "s" in CALLS and not [r for r in caplog.records if "damaged" in r.message]


def test_put_with_replace_writes_over_a_whole_entry(tmp_path):
    cache = OutputCache(tmp_path / "cache")
    key = run(CHAIN, cache).nodes["s"].key
    node_type = REGISTRY.get("test.source")
    assert cache.put(key, node_type, {"value": "2.0"})  # an entry is there: kept as it is
    assert OutputCache(cache.root).get(key) == {"value": "1.0"}
    assert cache.put(key, node_type, {"value": "2.0"}, replace=True)
    assert OutputCache(cache.root).get(key) == {"value": "2.0"}
    assert not list((cache.root / "tmp").iterdir())  # nothing left half-written or aside
