"""`nodeloom export --python`: the scripts are run for real, from folders of their own, and their metrics
compared with `nodeloom run --json` of the same pipeline, seed and overrides."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from nodeloom.cli import main
from nodeloom.engine.node import discover
from nodeloom.engine.script import python_script
from nodeloom.engine.validation import load_pipeline
from nodeloom.pipelines import example_files
from tests.support.pipelines import metrics_pipeline


def nodeloom(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nodeloom", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=environment(home),
    )


def environment(home: Path) -> dict[str, str]:
    import os

    return os.environ | {"NODELOOM_HOME": str(home)}


def run_script(script: Path, folder: Path, home: Path) -> subprocess.CompletedProcess:
    """`python SCRIPT` from `folder`, with a NODELOOM_HOME of its own that must stay empty."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=folder, capture_output=True, text=True, timeout=600, env=environment(home)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (home / "nodeloom.db").exists() and not (home / "cache").exists(), "the script used the store or cache"
    return done


def last_line_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def test_an_exported_pipeline_reproduces_its_metrics_from_an_empty_folder(tmp_path):
    (tmp_path / "metrics_demo.json").write_text(json.dumps(metrics_pipeline()))
    options = ["--seed", "5", "--set", "clean.lowercase=true"]
    exported = nodeloom(
        "export", "metrics_demo.json", "--python", "-o", "demo.py", *options, cwd=tmp_path, home=tmp_path / "home"
    )
    assert exported.returncode == 0, exported.stderr
    script = tmp_path / "demo.py"
    assert "python demo.py" in script.read_text()
    assert "SEED = 5" in script.read_text() and "lowercase=True" in script.read_text()

    ran = run_script(script, tmp_path / "elsewhere", tmp_path / "script-home")
    expected = nodeloom("run", "metrics_demo.json", "--json", *options, cwd=tmp_path, home=tmp_path / "home")
    assert expected.returncode == 0, expected.stderr
    metrics = json.loads(expected.stdout)["metrics"]
    assert metrics["rouge"]["rouge1"] > 0 and metrics["quality"]["rows"] == 40
    assert last_line_json(ran.stdout) == metrics
    assert len(ran.stdout.strip().splitlines()) == 1  # the libraries' chatter went to stderr
    assert "[split] split 80 rows into 40 train, 20 validation, 20 test" in ran.stderr


def test_files_the_pipeline_reads_are_found_from_any_folder(tmp_path):
    pairs = [("a cat", "a cat"), ("a dog", "the dog"), ("Hi", "hi"), ("yes", "yes")]
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps({"p": p, "r": r}) + "\n" for p, r in pairs))
    pipeline = {
        "schema_version": 1,
        "name": "pairs",
        "settings": {"device": "cpu"},
        "nodes": [
            {"id": "data", "type": "data.load_dataset", "params": {"source": "file", "path": "pairs.jsonl"}},
            {
                "id": "match",
                "type": "metric.exact_match",
                "params": {"prediction_column": "p", "reference_column": "r"},
            },
        ],
        "edges": [{"source": "data", "target": "match"}],
    }
    (tmp_path / "pairs.json").write_text(json.dumps(pipeline))
    exported = nodeloom("export", "pairs.json", "--python", "-o", "pairs.py", cwd=tmp_path, home=tmp_path / "home")
    assert exported.returncode == 0, exported.stderr
    assert json.dumps(str(tmp_path / "pairs.jsonl")) in (tmp_path / "pairs.py").read_text()
    ran = run_script(tmp_path / "pairs.py", tmp_path / "elsewhere", tmp_path / "script-home")
    assert last_line_json(ran.stdout) == {"match": {"exact_match": 0.5, "matches": 2.0, "total": 4.0}}


@pytest.mark.slow
def test_the_word_vectors_example_exports_and_runs_as_the_cli_runs_it(tmp_path):
    exported = nodeloom(
        "export", "example:word_vectors", "--python", "-o", "wv.py", cwd=tmp_path, home=tmp_path / "home"
    )
    assert exported.returncode == 0, exported.stderr
    ran = run_script(tmp_path / "wv.py", tmp_path / "elsewhere", tmp_path / "script-home")
    expected = nodeloom("run", "example:word_vectors", "--json", cwd=tmp_path, home=tmp_path / "home")
    assert expected.returncode == 0, expected.stderr
    result = json.loads(expected.stdout)
    assert last_line_json(ran.stdout) == result["metrics"]
    # no metrics in this example: what each node reported says that the script did the same work
    shown = json.loads(nodeloom("show", result["run_id"], "--json", cwd=tmp_path, home=tmp_path / "home").stdout)
    logged = [f"[{entry['node_id']}] {entry['message']}" for entry in shown["logs"] if entry["node_id"]]
    assert logged and all(line in ran.stderr for line in logged), (logged, ran.stderr[-2000:])


def test_every_example_exports_with_every_parameter_written_out():
    registry = discover()
    for path in example_files():
        pipeline = load_pipeline(path)
        script = python_script(pipeline, f"from {path.name}")
        assert script.startswith(f"#!/usr/bin/env python3\n# {pipeline.name}: from {path.name}, exported by NodeLoom")
        written = {  # node id -> the keywords of its parameter model's call
            call.args[0].args[0].value: {keyword.arg for keyword in call.args[2].keywords}
            for call in ast.walk(ast.parse(script))
            if isinstance(call, ast.Call)
            and len(call.args) == 3
            and isinstance(call.args[0], ast.Call)
            and getattr(call.args[0].func, "id", None) == "context"
        }
        assert set(written) == {spec.id for spec in pipeline.nodes}, path.name
        for spec in pipeline.nodes:
            assert written[spec.id] == set(registry.get(spec.type).params.model_fields), (path.name, spec.id)
        assert all(len(line) <= 120 for line in script.splitlines()), path.name


def test_a_saved_version_is_named_in_the_header(tmp_path, capsys):
    from nodeloom.engine.store import Store

    with Store.open() as store:
        store.save_pipeline("demo", metrics_pipeline())
        store.save_pipeline("demo", metrics_pipeline() | {"description": "second"})
    assert main(["export", "demo@1", "--python"]) == 0
    header = capsys.readouterr().out.splitlines()[1]
    assert header.startswith("# demo: version 1 of the saved pipeline 'demo', exported by NodeLoom on")


def test_export_refuses_what_it_cannot_do_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo.json").write_text(json.dumps(metrics_pipeline()))
    (tmp_path / "taken.py").write_text("# mine\n")
    assert main(["export", "demo.json", "--python", "-o", "taken.py"]) == 2
    assert "taken.py already exists; use --force" in capsys.readouterr().err
    assert (tmp_path / "taken.py").read_text() == "# mine\n"
    assert main(["export", "demo.json", "--python", "-o", "taken.py", "--force"]) == 0
    assert "def run()" in (tmp_path / "taken.py").read_text()
    assert main(["export", "demo.json"]) == 2  # a format is required
    assert "--python" in capsys.readouterr().err
    assert main(["export", "demo.json", "--python", "--set", "rouge.use_stemmer=perhaps"]) == 2
    assert "node 'rouge' (metric.rouge): parameter 'use_stemmer'" in capsys.readouterr().err


def test_the_app_offers_the_same_script():
    from nodeloom.ui.pipelines import python_export
    from nodeloom.ui.state import Editor, pipeline_from_json

    editor = Editor(pipeline_from_json(metrics_pipeline()))  # never saved
    script, file_name, why_not = python_export(editor)
    assert (file_name, why_not) == ("metrics_demo.py", "")
    assert "edited in the NodeLoom app, unsaved" in script and "def run()" in script
    editor.pipeline.node("rouge").type = "metric.rogue"
    script, _, why_not = python_export(editor)
    assert script is None and "problem" in why_not
