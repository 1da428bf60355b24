"""The engine's side of issue [trust], unit by unit: which paths it reads and writes, the limits on pipeline
JSON, node working folders, a cache that heals itself, and running out of memory said in one line by every node.
The command-line cases are tests/cli/test_trust_cases.py."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import pytest
import torch
from pydantic import Field

from nodeloom.engine import NodeParams, Output, node
from nodeloom.engine.cache import MANIFEST, OutputCache, file_fingerprint
from nodeloom.engine.events import NodeFailed
from nodeloom.engine.files import MARKER, RefusedPath, folder_files, readable, writable
from nodeloom.engine.limits import MAX_NESTING_DEPTH, is_node_id, too_deep
from nodeloom.engine.node import Registry, param_rules
from nodeloom.engine.out_of_memory import is_out_of_memory, memory_kind
from nodeloom.engine.params import written_paths
from nodeloom.engine.paths import InvalidNodeId, node_workdir
from nodeloom.engine.planner import TargetExists, overwrite_refusals, plan_run
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


# ---------------------------------------------------------------------------------------------
# paths NodeLoom writes: output parameters are checked by validation, before anything runs


@pytest.fixture
def places(tmp_path) -> Path:
    """A folder holding a file, a folder and a FIFO (NODELOOM_HOME is elsewhere)."""
    (tmp_path / "a-file").write_text("mine")
    (tmp_path / "a-folder").mkdir()
    os.mkfifo(tmp_path / "a-fifo")
    return tmp_path


def test_a_new_path_whose_folders_can_be_created_is_writable_and_nothing_is_created(places, nodeloom_home):
    target = places / "models" / "deeper" / "gpt2"
    assert writable(str(target), "folder", nodeloom_home) == target
    assert writable(str(places / "a-folder"), "folder", nodeloom_home) == places / "a-folder"
    assert writable(str(places / "a-file"), "file", nodeloom_home) == places / "a-file"
    exports = nodeloom_home / "exports" / "gpt2"  # beside NodeLoom's own entries is the user's
    assert writable(str(exports), "folder", nodeloom_home) == exports
    assert not (places / "models").exists() and not (nodeloom_home / "exports").exists()


@pytest.mark.parametrize(
    ("path", "kind", "words"),
    [
        ("{home}", "folder", "would replace NODELOOM_HOME"),
        ("{home}/..", "folder", "would replace NODELOOM_HOME"),
        ("{home}/cache/ab/entry", "folder", "inside NodeLoom's own {home}/cache"),
        ("{home}/nodeloom.db", "file", "inside NodeLoom's own {home}/nodeloom.db,"),
        ("{home}/nodeloom.db-wal", "file", "inside NodeLoom's own {home}/nodeloom.db-wal"),
        ("{home}/runs/r1/save", "folder", "inside NodeLoom's own {home}/runs"),
        ("{home}/datasets/x.csv", "file", "inside NodeLoom's own {home}/datasets"),
        ("{home}/app-runs/r1.json", "file", "inside NodeLoom's own {home}/app-runs"),
        ("{home}/api-runs/r1.log", "file", "inside NodeLoom's own {home}/api-runs"),
        ("{places}/a-file/sub/model", "folder", "cannot be created: {places}/a-file is a file, not a folder"),
        ("{places}/a-file", "folder", "is a file, not a folder"),
        ("{places}/a-folder", "file", "is a folder, not a file"),
        ("{places}/a-fifo", "file", "is a named pipe (FIFO)"),
        ("/proc/self/model", "folder", "is under /proc"),
        ("/dev/null", "file", "is under /dev"),
        ("~no-such-user-nodeloom/model", "folder", "names no user's home folder"),
        ("model\x00", "folder", "contains a NUL byte"),
    ],
)
def test_paths_a_save_could_only_fail_at_or_would_harm_are_refused(places, nodeloom_home, path, kind, words):
    filled = {"home": nodeloom_home, "places": places}
    with pytest.raises(RefusedPath) as refused:
        writable(path.format(**filled), kind, nodeloom_home)
    assert words.format(**filled) in str(refused.value)


def test_a_folder_that_cannot_be_written_to_is_refused(places, nodeloom_home, monkeypatch):
    # As root, chmod cannot take write permission away, so os.access (which writable asks) is told the answer.
    locked = places / "a-folder"
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode: not (Path(path) == locked and mode & os.W_OK) and real_access(path, mode)
    )
    (locked / "old-model").mkdir()  # replacing it means writing a sibling first, in the locked folder
    for target, kind in (
        (locked / "new" / "model", "folder"),
        (locked / "data.csv", "file"),
        (locked / "old-model", "folder"),
    ):
        with pytest.raises(RefusedPath, match=f"cannot be written: no permission to write in {locked}$"):
            writable(str(target), kind, nodeloom_home)
    assert writable(str(locked), "folder", nodeloom_home) == locked  # its own parent can be written to


def test_validation_refuses_output_paths_once_each_naming_node_parameter_and_path(places, nodeloom_home):
    pipeline = {
        "schema_version": 1,
        "nodes": [
            {"id": "save", "type": "io.save_model", "params": {"path": str(places / "a-file" / "model")}},
            {"id": "write", "type": "io.save_dataset", "params": {"path": str(nodeloom_home / "cache" / "x.csv")}},
            {"id": "fine", "type": "io.save_dataset", "params": {"path": str(places / "new" / "x.csv")}},
        ],
        "edges": [],
    }
    problems = [problem for problem in load_pipeline(pipeline, strict=False).problems if problem.code == "path"]
    assert [str(problem) for problem in problems] == [
        f"node 'save' (io.save_model): parameter 'path': path '{places}/a-file/model' cannot be created: "
        f"{places}/a-file is a file, not a folder; pick another folder",
        f"node 'write' (io.save_dataset): parameter 'path': path '{nodeloom_home}/cache/x.csv' is inside "
        f"NodeLoom's own {nodeloom_home}/cache, which gc and the store manage; pick another file",
    ]
    assert [problem.node for problem in problems] == ["save", "write"]
    assert not (places / "new").exists()


def test_a_run_is_refused_when_planned_for_what_its_saves_would_replace_while_overwrite_is_off(places):
    (places / "rows.csv").write_text("mine")
    (places / "a-folder" / "notes.md").write_text("my notes")
    ours = places / "ours"  # a folder an earlier save wrote: the save replaces it without being told
    ours.mkdir()
    (ours / "config.json").write_text("{}")
    (ours / MARKER).write_text(json.dumps({"files": ["config.json"]}))
    odd = places / "odd"  # a FIFO where the marker goes is never opened: the folder reads as not ours
    odd.mkdir()
    os.mkfifo(odd / MARKER)
    (odd / "weights.bin").write_text("0")

    def pipeline(overwrite: bool) -> dict:
        saves = {"file": ("io.save_dataset", "rows.csv"), "folder": ("io.save_model", "a-folder")}
        saves |= {"ours": ("io.save_model", "ours"), "odd": ("io.save_model", "odd"), "new": ("io.save_model", "new")}
        nodes = [
            {"id": node_id, "type": type_id, "params": {"path": str(places / name), "overwrite": overwrite}}
            for node_id, (type_id, name) in saves.items()
        ]
        return {"schema_version": 1, "nodes": nodes, "edges": []}

    loaded = load_pipeline(pipeline(False), strict=False)  # their inputs are missing: only the run would save
    assert loaded.pipeline is not None and not [p for p in loaded.problems if "exists" in p.message]
    fix = "set overwrite: true or choose another path"
    refusals = [
        f"node 'file' (io.save_dataset): parameter 'path': file '{places}/rows.csv' exists; {fix}",
        f"node 'folder' (io.save_model): parameter 'path': folder '{places}/a-folder' holds files NodeLoom did "
        f"not write (notes.md); {fix} (a new or empty folder)",
        f"node 'odd' (io.save_model): parameter 'path': folder '{places}/odd' holds files NodeLoom did not "
        f"write (weights.bin); {fix} (a new or empty folder)",
    ]
    assert overwrite_refusals(loaded.pipeline) == refusals
    with pytest.raises(TargetExists) as refused:
        plan_run(loaded.pipeline, device="cpu")
    assert refused.value.refusals == refusals and str(refused.value) == "\n".join(refusals)
    with pytest.raises(TargetExists) as refused:  # only the saves the run executes
        plan_run(loaded.pipeline, ["ours", "odd"], device="cpu")
    assert refused.value.refusals == refusals[2:]
    assert plan_run(loaded.pipeline, ["ours", "new"], device="cpu").order == ["ours", "new"]
    overwriting = load_pipeline(pipeline(True), strict=False).pipeline
    assert overwriting is not None and overwrite_refusals(overwriting) == []
    assert plan_run(overwriting, device="cpu").order == ["file", "folder", "ours", "odd", "new"]


def test_an_overwrite_flag_must_name_a_parameter_of_the_node():
    class Params(NodeParams):
        target: str = Field("", json_schema_extra=param_rules(writes="file", overwrite_flag="overwirte"))
        overwrite: bool = False

    with pytest.raises(ValueError, match="test.typo: overwrite_flag names overwirte, not among its parameters"):
        node("test.typo", title="Typo", category="test", params=Params, registry=Registry())(lambda *_: {})


def test_a_parameter_declared_as_written_is_checked_only_while_it_applies():
    class Params(NodeParams):
        target: str = Field("", json_schema_extra=param_rules(writes="file", applies_when={"save": [True]}))
        save: bool = False

    assert written_paths(Params, {"target": "/dev/null"}) == []
    assert written_paths(Params, {"target": "/dev/null", "save": True}) == [("target", "/dev/null", "file")]
    assert written_paths(Params, {"target": "  ", "save": True}) == []


# ---------------------------------------------------------------------------------------------
# running out of memory: one line for every node


# torch.OutOfMemoryError arrived in torch 2.5; older releases have only the CUDA one
TORCH_OUT_OF_MEMORY = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (
            TORCH_OUT_OF_MEMORY("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.1 GiB total capacity)"),
            "CUDA",
        ),
        (TORCH_OUT_OF_MEMORY("MPS backend out of memory (MPS allocated: 1.00 GB, max allowed: 3.00 GB)"), "MPS"),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1099511627776 bytes"), "CPU"),
        (MemoryError(), "CPU"),
    ],
    ids=["cuda", "mps", "cpu-allocator", "python"],
)
def test_every_allocator_s_out_of_memory_is_recognised_with_the_memory_that_ran_out(error, kind):
    assert is_out_of_memory(error)
    assert memory_kind(error, "cuda:0" if kind == "CUDA" else "cpu") == kind


def test_other_errors_are_not_out_of_memory():
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))  # only the allocators' errors count


OOM = Registry()


class SizedParams(NodeParams):
    batch_size: int = Field(64, ge=1)
    max_length: int = Field(512, ge=1)
    beams: int = Field(4, ge=1, json_schema_extra=param_rules(applies_when={"strategy": ["beam"]}))
    strategy: str = "greedy"


@node(
    "test.hungry",
    title="Hungry",
    category="test",
    outputs=[Output("value", TEXT)],
    params=SizedParams,
    memory_params=("batch_size", "max_length", "beams"),
    registry=OOM,
)
def hungry(ctx, inputs, params):
    """Runs out of memory the way torch does."""
    raise TORCH_OUT_OF_MEMORY("CUDA out of memory. Tried to allocate 20.00 GiB")


class NoSizes(NodeParams):
    pass


@node("test.greedy", title="Greedy", category="test", outputs=[Output("value", TEXT)], params=NoSizes, registry=OOM)
def greedy(ctx, inputs, params):
    """Runs out of memory the way Python does."""
    raise MemoryError()


def test_any_node_that_runs_out_of_memory_fails_with_one_line_naming_it_the_memory_and_its_sizes(tmp_path):
    nodes = [
        {"id": "gen", "type": "test.hungry"},
        {"id": "beam", "type": "test.hungry", "params": {"strategy": "beam", "batch_size": 8}},
        {"id": "rows", "type": "test.greedy"},
    ]
    events: list = []
    result = run_pipeline(
        load_pipeline({"schema_version": 1, "nodes": nodes}, OOM),
        registry=OOM,
        cache=OutputCache(tmp_path / "cache"),
        device="cpu",
        listeners=[events.append],
    )
    errors = {node_id: outcome.error for node_id, outcome in result.nodes.items()}
    # a CUDA error on a machine without CUDA has no free figure to show; with CUDA it shows one
    assert re.fullmatch(
        r"test\.hungry: ran out of CUDA memory( \(\S+ \S+ free now\))?; lower batch_size \(now 64\) or "
        r"max_length \(now 512\), or use a device with more memory",
        errors["gen"],
    ), errors["gen"]
    assert errors["beam"].endswith(
        "lower batch_size (now 8), max_length (now 512) or beams (now 4), or use a device with more memory"
    )
    assert re.fullmatch(
        r"test\.greedy: ran out of CPU memory \(\S+ \S+ free now\); give the node less data at once, "
        r"or use a device with more memory",
        errors["rows"],
    ), errors["rows"]
    failures = [event for event in events if isinstance(event, NodeFailed)]
    assert len(failures) == 3 and all(event.traceback == "" and "\n" not in event.error for event in failures)


def test_memory_params_must_name_parameters_of_the_node():
    with pytest.raises(ValueError, match="memory_params names batch, not among its parameters"):
        node(
            "test.typo",
            title="Typo",
            category="test",
            params=SizedParams,
            memory_params=("batch",),
            registry=Registry(),
        )
