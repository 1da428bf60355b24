"""Untrusted pipeline and data files, case by case (issue [trust]).

Each hostile input ends in a clear one-line error (exit 1 or 2, no traceback) or in a correct run, within a
bounded time, writing nothing outside NODELOOM_HOME or the path the user asked for. Every case runs the real
`nodeloom` command in a subprocess whose HOME and current folder are empty folders that must stay empty.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from nodeloom.engine.store import Store


@dataclass
class Sandbox:
    root: Path
    home: Path  # $HOME: Hugging Face and other libraries' default caches live under it
    cwd: Path
    nodeloom_home: Path

    def nodeloom(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        env = os.environ | {"HOME": str(self.home), "NODELOOM_HOME": str(self.nodeloom_home)}
        for variable in ("HF_HOME", "HF_DATASETS_CACHE", "XDG_CACHE_HOME"):
            env.pop(variable, None)
        return subprocess.run(
            [sys.executable, "-m", "nodeloom", *args],
            cwd=self.cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def write_pipeline(self, data: object, name: str = "pipeline.json") -> Path:
        path = self.root / "files" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return path

    def assert_nothing_written_outside(self) -> None:
        for folder in (self.home, self.cwd):
            found = [str(path.relative_to(folder)) for path in folder.rglob("*")]
            assert not found, f"written outside NODELOOM_HOME, under {folder.name}/: {found[:10]}"


@pytest.fixture
def sandbox(tmp_path) -> Sandbox:
    box = Sandbox(tmp_path, tmp_path / "home", tmp_path / "cwd", tmp_path / "nodeloom-home")
    for folder in (box.home, box.cwd, box.nodeloom_home):
        folder.mkdir()
    return box


def assert_refused(result: subprocess.CompletedProcess, *words: str, codes: tuple[int, ...] = (1, 2)) -> None:
    """Exit 1 or 2, no traceback, and one stderr line that names every word."""
    assert result.returncode in codes, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if all(word.lower() in line.lower() for word in words)]
    assert lines, f"no stderr line names {words}:\n{result.stderr[-3000:]}"


def load_clean(path: str, **load_params: object) -> dict:
    return {
        "schema_version": 1,
        "name": "hostile",
        "nodes": [
            {"id": "load", "type": "data.load_dataset", "params": {"source": "file", "path": path, **load_params}},
            {"id": "clean", "type": "text.clean", "params": {"columns": ["text"]}},
        ],
        "edges": [{"source": "load", "target": "clean"}],
    }


# ---------------------------------------------------------------------------------------------
# node ids are names, not paths


@pytest.mark.parametrize(
    "node_id",
    ["/tmp/nodeloom-abs-id", "../../escape", "a/b", "..", "x" * 5000, "bad\x00id"],
    ids=["absolute", "parent", "separator", "dots", "long", "nul"],
)
def test_node_ids_that_look_like_paths_are_refused_by_validation(sandbox, node_id):
    pipeline = load_clean("data.csv")
    pipeline["nodes"][0]["id"] = node_id
    pipeline["edges"][0]["source"] = node_id
    result = sandbox.nodeloom("validate", str(sandbox.write_pipeline(pipeline)))
    assert_refused(result, "id", codes=(2,))
    assert not Path("/tmp/nodeloom-abs-id").exists()


def test_a_trainer_with_a_path_like_id_writes_nowhere(sandbox):
    data = sandbox.root / "files" / "data.csv"
    data.parent.mkdir()
    data.write_text("text\nhello there\n")
    pipeline = load_clean(str(data))
    pipeline["nodes"][1]["id"] = "../../outside"
    pipeline["edges"][0]["target"] = "../../outside"
    result = sandbox.nodeloom("run", str(sandbox.write_pipeline(pipeline)))
    assert_refused(result, "../../outside", codes=(2,))
    assert not (sandbox.nodeloom_home.parent / "outside").exists()
    sandbox.assert_nothing_written_outside()


# ---------------------------------------------------------------------------------------------
# limits on pipeline files


def test_deeply_nested_json_is_refused_with_a_message(sandbox):
    deep = "[" * 900 + "]" * 900
    pipeline = json.dumps(load_clean("data.csv")).replace('"columns": ["text"]', f'"columns": {deep}')
    assert_refused(sandbox.nodeloom("validate", str(sandbox.write_pipeline(pipeline))), "nest", codes=(2,))


def test_a_huge_pipeline_file_is_refused_by_size(sandbox):
    pipeline = load_clean("data.csv")
    pipeline["description"] = "x" * (60 * 2**20)
    assert_refused(sandbox.nodeloom("validate", str(sandbox.write_pipeline(pipeline))), "MB", codes=(2,))


def test_a_file_without_nodes_is_not_a_pipeline(sandbox):
    result = sandbox.nodeloom("validate", str(sandbox.write_pipeline({"schema_version": 1, "name": "x"})))
    assert_refused(result, "nodes", codes=(2,))
    empty = sandbox.nodeloom("validate", str(sandbox.write_pipeline({"schema_version": 1, "nodes": []})))
    assert empty.returncode == 0, empty.stderr


# ---------------------------------------------------------------------------------------------
# data paths


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("bad\x00name.csv", ("load", "path")),
        ("~nosuchuser/data.csv", ("load", "path")),
        ("/dev/zero", ("load", "regular file")),
        ("/proc/self/environ", ("load", "regular file")),
        ("/etc/shadow-does-not-exist.csv", ("load", "path")),
    ],
)
def test_bad_data_paths_get_a_message_before_anything_runs(sandbox, path, words):
    result = sandbox.nodeloom("run", str(sandbox.write_pipeline(load_clean(path))), timeout=60)
    assert_refused(result, *words)
    sandbox.assert_nothing_written_outside()


def test_a_symlink_to_dev_zero_neither_hangs_nor_is_read(sandbox):
    link = sandbox.root / "files" / "data.csv"
    link.parent.mkdir()
    link.symlink_to("/dev/zero")
    result = sandbox.nodeloom("run", str(sandbox.write_pipeline(load_clean(str(link)))), timeout=60)
    assert_refused(result, "load", "regular file")


def test_a_fifo_is_refused_without_blocking(sandbox):
    fifo = sandbox.root / "files" / "data.csv"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    result = sandbox.nodeloom("validate", str(sandbox.write_pipeline(load_clean(str(fifo)))), timeout=60)
    assert_refused(result, "load", "regular file", codes=(2,))


# ---------------------------------------------------------------------------------------------
# the cache heals itself


def _run_json(sandbox: Sandbox, pipeline_path: Path, *extra: str) -> dict:
    result = sandbox.nodeloom("run", str(pipeline_path), "--json", *extra)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def _damage_arrow_files(sandbox: Sandbox) -> int:
    damaged = 0
    for arrow in (sandbox.nodeloom_home / "cache").rglob("*.arrow"):
        arrow.write_bytes(arrow.read_bytes()[: max(1, arrow.stat().st_size // 3)])
        damaged += 1
    return damaged


def test_a_truncated_cache_entry_is_recomputed_and_the_run_says_so(sandbox):
    data = sandbox.root / "files" / "data.csv"
    data.parent.mkdir()
    data.write_text("text\n" + "".join(f"row number {i}\n" for i in range(50)))
    pipeline = sandbox.write_pipeline(load_clean(str(data)))
    first = _run_json(sandbox, pipeline)
    assert _damage_arrow_files(sandbox) >= 1
    second = sandbox.nodeloom("run", str(pipeline), "--json")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Traceback" not in second.stderr
    assert any(
        "cache" in line.lower() and ("damaged" in line.lower() or "unreadable" in line.lower())
        for line in second.stderr.splitlines()
    ), second.stderr[-3000:]
    assert json.loads(second.stdout)["metrics"] == first["metrics"]
    third = _run_json(sandbox, pipeline)  # healed: the entries are whole again
    assert all(node["cached"] for node in third["nodes"].values())


def test_no_cache_replaces_damaged_entries(sandbox):
    data = sandbox.root / "files" / "data.csv"
    data.parent.mkdir()
    data.write_text("text\nalpha\nbeta\n")
    pipeline = sandbox.write_pipeline(load_clean(str(data)))
    _run_json(sandbox, pipeline)
    _damage_arrow_files(sandbox)
    _run_json(sandbox, pipeline, "--no-cache")
    healed = sandbox.nodeloom("run", str(pipeline), "--json")
    assert healed.returncode == 0 and "damaged" not in healed.stderr.lower(), healed.stderr[-3000:]
    assert all(node["cached"] for node in json.loads(healed.stdout)["nodes"].values())


# ---------------------------------------------------------------------------------------------
# saving never destroys the user's files


def save_into_my_folder(sandbox: Sandbox) -> tuple[Path, str, str]:
    """A folder of the user's, a pipeline file that saves a model into it with overwrite off, and the refusal."""
    target = sandbox.root / "mine"
    target.mkdir()
    (target / "README.md").write_text("my notes")
    (target / "config.json").write_text('{"mine": true}')
    pipeline = {
        "schema_version": 1,
        "name": "save",
        "nodes": [
            {
                "id": "gpt2",
                "type": "model.from_config",
                "params": {"n_layer": 1, "n_head": 2, "n_embd": 32, "n_positions": 64, "vocab_size": 128},
            },
            {"id": "save", "type": "io.save_model", "params": {"path": str(target)}},
        ],
        "edges": [{"source": "gpt2", "target": "save", "target_port": "model"}],
    }
    refusal = (
        f"node 'save' (io.save_model): parameter 'path': folder '{target}' holds files NodeLoom did not write "
        "(README.md, config.json); set overwrite: true or choose another path (a new or empty folder)"
    )
    return target, str(sandbox.write_pipeline(pipeline)), refusal


def test_save_model_refuses_a_folder_it_did_not_write_before_the_run(sandbox):
    target, pipeline_file, refusal = save_into_my_folder(sandbox)
    refused = sandbox.nodeloom("run", pipeline_file)  # refused before the run, not when the save comes
    assert (refused.returncode, refused.stderr.strip()) == (2, f"error: {refusal}")
    with Store.open(sandbox.nodeloom_home) as store:  # as other refusals before a run: nothing recorded
        assert store.list_runs() == []
    assert_refused(sandbox.nodeloom("validate", pipeline_file), refusal, codes=(2,))  # listed before a run, too
    assert sandbox.nodeloom("validate", pipeline_file, "--set", "save.overwrite=true").returncode == 0
    assert (target / "README.md").read_text() == "my notes"
    assert (target / "config.json").read_text() == '{"mine": true}'


def test_a_save_that_does_not_run_refuses_nothing(sandbox):
    target, pipeline_file, _ = save_into_my_folder(sandbox)
    until = sandbox.nodeloom("run", pipeline_file, "--until", "gpt2", "--json")  # stops before the save
    assert until.returncode == 0 and list(json.loads(until.stdout)["nodes"]) == ["gpt2"], until.stderr[-3000:]
    script = sandbox.root / "save.py"
    exported = sandbox.nodeloom("export", pipeline_file, "--python", "-o", str(script))
    assert exported.returncode == 0 and str(target) in script.read_text(), exported.stderr[-3000:]
    assert (target / "README.md").read_text() == "my notes"
    assert (target / "config.json").read_text() == '{"mine": true}'


def test_output_paths_that_cannot_be_written_are_refused_before_anything_runs(sandbox):
    blocker = sandbox.root / "a-file"
    blocker.write_text("mine")
    pipeline = {
        "schema_version": 1,
        "name": "save",
        "nodes": [
            {
                "id": "gpt2",
                "type": "model.from_config",
                "params": {"n_layer": 1, "n_head": 2, "n_embd": 32, "n_positions": 64, "vocab_size": 128},
            },
            {"id": "blocked", "type": "io.save_model", "params": {"path": str(blocker / "models" / "gpt2")}},
            {"id": "home", "type": "io.save_model", "params": {"path": str(sandbox.nodeloom_home), "overwrite": True}},
        ],
        "edges": [
            {"source": "gpt2", "target": "blocked", "target_port": "model"},
            {"source": "gpt2", "target": "home", "target_port": "model"},
        ],
    }
    path = sandbox.write_pipeline(pipeline)
    for command in ("validate", "run"):
        result = sandbox.nodeloom(command, str(path))
        assert_refused(result, "'blocked'", "parameter 'path'", f"{blocker} is a file, not a folder", codes=(2,))
        assert_refused(result, "'home'", "parameter 'path'", "would replace NODELOOM_HOME", codes=(2,))
    assert blocker.read_text() == "mine"
    assert sandbox.nodeloom_home.is_dir()  # with overwrite on, the save would have replaced it, store and all
    sandbox.assert_nothing_written_outside()


# ---------------------------------------------------------------------------------------------
# a memory guard


def test_a_model_too_big_for_the_machine_is_refused_with_both_figures(sandbox):
    pipeline = {
        "schema_version": 1,
        "name": "huge",
        "settings": {"device": "cpu"},
        "nodes": [
            {
                "id": "gpt2",
                "type": "model.from_config",
                "params": {"n_layer": 96, "n_head": 96, "n_embd": 12288, "n_positions": 2048, "vocab_size": 50257},
            }
        ],
        "edges": [],
    }
    result = sandbox.nodeloom("run", str(sandbox.write_pipeline(pipeline)), timeout=120)
    assert_refused(result, "gpt2", "memory", codes=(1, 2))
    assert "GB" in result.stderr or "GiB" in result.stderr


@pytest.mark.parametrize(
    ("node_type", "param", "value"),
    [
        ("model.from_config", "vocab_size", 10**9),
        ("model.from_config", "n_positions", 10**7),
        ("train.trainer", "max_steps", 10**12),
        ("text.train_tokenizer", "vocab_size", 10**9),
    ],
)
def test_sizes_have_upper_bounds(sandbox, node_type, param, value):
    pipeline = {
        "schema_version": 1,
        "name": "bounds",
        "nodes": [{"id": "n", "type": node_type, "params": {param: value}}],
        "edges": [],
    }
    assert_refused(sandbox.nodeloom("validate", str(sandbox.write_pipeline(pipeline))), param, codes=(2,))


# ---------------------------------------------------------------------------------------------
# data loading reads what it needs and keeps its caches under NODELOOM_HOME


def test_max_rows_reads_only_the_first_rows_and_writes_no_outside_cache(sandbox):
    data = sandbox.root / "files" / "big.csv"
    data.parent.mkdir()
    with data.open("w") as handle:
        handle.write("text,label\n")
        for index in range(200_000):
            handle.write(f"row {index} with some words to make it longer than a few bytes,{index % 2}\n")
    pipeline = sandbox.write_pipeline(load_clean(str(data), max_rows=5))
    result = sandbox.nodeloom("run", str(pipeline), "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    sandbox.assert_nothing_written_outside()
    cache_bytes = sum(path.stat().st_size for path in sandbox.nodeloom_home.rglob("*") if path.is_file())
    assert cache_bytes < data.stat().st_size / 4, (
        f"{cache_bytes} bytes cached for 5 rows of a {data.stat().st_size}-byte file"
    )


# ---------------------------------------------------------------------------------------------
# honest store messages, and gc


def test_a_read_only_home_says_read_only(sandbox):
    assert sandbox.nodeloom("runs").returncode == 0  # creates the database
    os.chmod(sandbox.nodeloom_home, 0o555)
    os.chmod(sandbox.nodeloom_home / "nodeloom.db", 0o444)
    try:
        if os.access(sandbox.nodeloom_home / "nodeloom.db", os.W_OK):
            pytest.skip("running as a user that can write read-only files")
        data = sandbox.write_pipeline(load_clean("data.csv"))
        result = sandbox.nodeloom("run", str(data))
        assert_refused(result, "read-only", codes=(2,))
        assert "move it aside" not in result.stderr and "damaged" not in result.stderr
    finally:
        os.chmod(sandbox.nodeloom_home, 0o755)


def test_gc_keep_zero_is_refused_or_done_without_traceback(sandbox):
    result = sandbox.nodeloom("gc", "--keep", "0")
    assert "Traceback" not in result.stderr
    assert result.returncode in (0, 2), result.stderr
    if result.returncode == 2:
        assert_refused(result, "keep", codes=(2,))
