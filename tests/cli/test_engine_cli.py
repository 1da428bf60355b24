"""CLI contract of the engine commands: exit codes, --set parsing, --json output, Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from nodeloom.engine.validation import apply_overrides, parse_set_value
from tests.support import REPO


def nodeloom(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "nodeloom", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def bleu_file(tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps({"prediction": "a b c d", "reference": "a b c d"}) + "\n")
    pipeline = {
        "schema_version": 1,
        "name": "cli",
        "nodes": [
            {"id": "load", "type": "data.load_dataset", "params": {"source": "file", "path": str(data)}},
            {"id": "bleu", "type": "metric.sacrebleu"},
        ],
        "edges": [{"source": "load", "target": "bleu"}],
    }
    path = tmp_path / "cli.json"
    path.write_text(json.dumps(pipeline))
    return path


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("0.5", 0.5),
        ("true", True),
        ('["a", "b"]', ["a", "b"]),
        ('{"k": 1}', {"k": 1}),
        ("null", None),
        ("hello", "hello"),
        ("13a", "13a"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_set_values_are_json_where_they_parse(text, value):
    assert parse_set_value(text) == value


def test_set_assignments_patch_params_and_report_bad_ones():
    data = {"nodes": [{"id": "clean", "type": "text.clean"}]}
    patched, problems = apply_overrides(
        data, ["clean.lowercase=true", 'clean.columns=["q"]', "cleen.x=1", "nodot=1", "clean.x"]
    )
    assert patched["nodes"][0]["params"] == {"lowercase": True, "columns": ["q"]}
    assert [p.message.split(":")[0] for p in problems] == ["--set 'cleen.x=1'", "--set 'nodot=1'", "--set 'clean.x'"]
    assert "did you mean 'clean'" in problems[0].message


def test_success_prints_exactly_one_json_object(bleu_file):
    completed = nodeloom("run", str(bleu_file), "--json")
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert set(result) >= {"run_id", "status", "nodes", "metrics"}
    assert result["nodes"]["bleu"]["status"] == "succeeded"
    assert result["metrics"]["bleu"]["score"] == pytest.approx(100.0)


def test_set_values_are_validated_like_file_parameters(bleu_file):
    completed = nodeloom("run", str(bleu_file), "--set", "bleu.tokenize=klingon")
    assert completed.returncode == 2
    assert "parameter 'tokenize'" in completed.stderr and "'13a'" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_a_failing_node_exits_1_with_a_one_line_error(bleu_file, tmp_path):
    completed = nodeloom("run", str(bleu_file), "--json", "--set", f"load.path={tmp_path / 'missing.csv'}")
    assert completed.returncode == 1
    result = json.loads(completed.stdout)
    assert result["status"] == "failed" and result["nodes"]["bleu"]["status"] == "skipped"
    assert "missing.csv" in result["nodes"]["load"]["error"] and "Traceback" not in completed.stderr


def test_invalid_pipelines_and_usage_errors_exit_2(tmp_path, bleu_file):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert nodeloom("validate", str(broken)).returncode == 2
    assert nodeloom("run", str(tmp_path / "absent.json")).returncode == 2
    assert nodeloom("run", str(bleu_file), "--until", "nowhere").returncode == 2
    assert nodeloom("run", str(bleu_file), "--frobnicate").returncode == 2
    assert nodeloom("frobnicate").returncode == 2
    ok = nodeloom("validate", str(bleu_file))
    assert ok.returncode == 0 and "valid" in ok.stderr


def test_nodes_catalog_json_lists_ports_params_and_docs():
    completed = nodeloom("nodes", "--json")
    catalog = {entry["type"]: entry for entry in json.loads(completed.stdout)["nodes"]}
    clean = catalog["text.clean"]
    assert clean["inputs"][0] == {"name": "dataset", "type": "dataset", "required": True, "description": ""}
    assert "lowercase" in clean["params"]["properties"] and clean["doc"]
    assert nodeloom("nodes", "--markdown").stdout.startswith("| type |")


SLOW_RUN = """
import sys
from nodeloom.engine.node import REGISTRY
from tests.support.engine_nodes import REGISTRY as TEST_NODES
REGISTRY.types.update(TEST_NODES.types)
from nodeloom.cli import main
sys.exit(main(["run", sys.argv[1], "--json"]))
"""


def _wait_until_node_runs(node_id: str, process: subprocess.Popen, timeout: float = 60) -> None:
    """Until the store says `node_id` is running: only then is the CLI's Ctrl-C handler surely in place."""
    from nodeloom.engine.store import Store

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        with Store.open() as store:
            runs = store.list_runs()
            if runs and (node := store.get_run(runs[0].id).nodes.get(node_id)) and node.status == "running":
                return
        time.sleep(0.2)
    raise AssertionError(f"node {node_id} did not start within {timeout} s")


def test_ctrl_c_cancels_cooperatively_and_exits_130(tmp_path):
    pipeline = {
        "schema_version": 1,
        "name": "slow",
        "nodes": [{"id": "s", "type": "test.source"}, {"id": "wait", "type": "test.sleep", "params": {"seconds": 120}}],
        "edges": [{"source": "s", "target": "wait"}],
    }
    path = tmp_path / "slow.json"
    path.write_text(json.dumps(pipeline))
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_RUN, str(path)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_until_node_runs("wait", process)  # a fixed sleep raced the CLI's start-up on a loaded machine
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 130
    assert time.monotonic() - started < 10
    assert json.loads(stdout)["nodes"]["wait"]["status"] == "cancelled"
