"""The editor around the canvas: run workers, the inspector's rules, diffs and the device box."""

from __future__ import annotations

import json
import time
from concurrent.futures import Future
from pathlib import Path

import pytest

from nodeloom.engine.worker import start_worker
from nodeloom.ui.text import plain  # the inspector shows problems as plain text, escaped for markdown
from tests.support import REPO


def process_state(pid: int) -> str | None:
    """The kernel's state letter for a process (Z: defunct, waiting to be reaped); None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
def test_a_worker_is_reaped_when_it_ends_though_nobody_asks(tmp_path):
    worker = start_worker("rerun", ["no-such-run"], tmp_path, cwd=REPO)  # exits at once: no such run
    deadline = time.monotonic() + 120
    while process_state(worker.pid) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert process_state(worker.pid) is None, "the ended worker was left defunct"
    assert worker.wait(timeout=30) == 2 and "no run 'no-such-run'" in worker.output_text()


def test_a_run_started_here_is_polled_fast_in_its_first_seconds_only():
    from nodeloom.ui import runs

    assert runs.poll_seconds(started=100.0, now=100.5) == runs.FIRST_POLL_SECONDS < 0.5
    assert runs.poll_seconds(started=100.0, now=100.0 + runs.FIRST_POLLS_FOR_SECONDS) == runs.POLL_SECONDS
    assert runs.poll_seconds(started=None, now=100.5) == runs.POLL_SECONDS  # a run this app did not start


# --- the device box -------------------------------------------------------------------------------


def test_the_device_check_names_what_this_machine_has():
    from nodeloom.ui import runs

    found = dict(runs.probe_devices())  # a real process importing torch, as the app asks it
    assert found["cpu"].startswith("CPU (") and found["cpu"].endswith(" threads)")
    assert list(found)[-1] == "cpu"  # accelerators first


def test_the_device_box_says_what_it_found(monkeypatch):
    from streamlit.testing.v1 import AppTest

    from nodeloom.ui import runs

    answer: Future = Future()
    monkeypatch.setattr(runs, "_device_probe", answer)  # the check, still under way
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    app.run()
    assert not app.exception, [error.value for error in app.exception]
    assert "Looking for accelerators…" in [caption.value for caption in app.sidebar.caption]
    answer.set_result([("cuda:0", "NVIDIA H200 (139.8 GiB)"), ("cpu", "CPU (16 threads)")])
    app.run()
    captions = [caption.value for caption in app.sidebar.caption]
    assert "Found NVIDIA H200 (139.8 GiB), CPU (16 threads)" in captions
    assert "Looking for accelerators…" not in captions
    options = app.sidebar.selectbox(key="device").options
    assert options[:2] == ["auto (best available)", "cuda:0 — NVIDIA H200 (139.8 GiB)"]


# --- parameters: when they apply, their rules, their problems in plain words ----------------------


def node_type(type_id: str):
    from nodeloom.engine.node import discover

    return discover().get(type_id)


def test_a_node_declares_which_parameters_apply_and_the_catalog_says_so():
    from nodeloom.engine.node import applicable_params

    load = node_type("data.load_dataset")
    assert {"path", "header"} <= set(applicable_params(load, {})) and "name" not in applicable_params(load, {})
    builtin = applicable_params(load, {"source": "builtin"})
    assert "name" in builtin and "split" in builtin and not {"path", "header", "config"} & set(builtin)
    assert "config" in applicable_params(load, {"source": "hub"})
    optimizer = node_type("optim.optimizer")
    assert not {"momentum", "nesterov"} & set(applicable_params(optimizer, {}))  # adamw by default
    assert {"beta1", "beta2", "eps", "fused"} <= set(applicable_params(optimizer, {"name": "adam"}))
    sgd = applicable_params(optimizer, {"name": "sgd"})
    assert {"momentum", "nesterov"} <= set(sgd) and not {"beta1", "eps"} & set(sgd)
    assert "fused" not in applicable_params(optimizer, {"name": "adafactor"})
    schedule = node_type("optim.lr_schedule")
    assert not {"num_cycles", "power", "lr_end"} & set(applicable_params(schedule, {}))
    assert "num_cycles" in applicable_params(schedule, {"name": "cosine_with_restarts"})
    assert {"power", "lr_end"} <= set(applicable_params(schedule, {"name": "polynomial"}))
    generate = node_type("infer.generate")
    sampling = {"temperature", "top_k", "top_p", "seed"}
    assert not (sampling | {"num_beams"}) & set(applicable_params(generate, {}))  # greedy
    assert sampling <= set(applicable_params(generate, {"strategy": "sampling"}))
    assert applicable_params(generate, {"strategy": "beam"}).count("num_beams") == 1
    # `nodeloom nodes --json` carries the same declarations, so the CLI docs and the form agree
    described = load.describe()["params"]["properties"]
    assert described["path"]["applies_when"] == {"source": ["file"]}
    assert described["name"]["choices"] == ["chat_support", "reviews_sentiment", "support_articles"]
    assert node_type("infer.generate").describe()["params"]["properties"]["max_new_tokens"]["unit"] == "tokens"


def test_a_new_load_node_is_flagged_at_once_not_shown_as_valid():
    from nodeloom.engine.params import param_errors
    from nodeloom.engine.validation import PipelineInvalid, load_pipeline

    load = node_type("data.load_dataset")
    assert param_errors(load, {}) == {"path": ["path is required when source is file"]}
    assert param_errors(load, {"source": "builtin"}) == {}  # the other sources have runnable defaults
    assert param_errors(load, {"source": "builtin", "name": "imdb"}) == {
        "name": [
            "name must be one of chat_support, reviews_sentiment, support_articles when source is builtin, not 'imdb'"
        ]
    }
    assert param_errors(load, {"source": "hub", "name": "stanfordnlp/imdb"}) == {}
    with pytest.raises(PipelineInvalid) as raised:
        load_pipeline({"schema_version": 1, "nodes": [{"id": "load", "type": "data.load_dataset"}], "edges": []})
    assert [problem.message for problem in raised.value.problems] == [
        "node 'load' (data.load_dataset): path is required when source is file"
    ]


def test_a_rule_across_parameters_is_shown_at_each_of_them_in_plain_words():
    from nodeloom.engine.params import param_errors
    from nodeloom.engine.validation import PipelineInvalid, load_pipeline

    fractions = {"train_fraction": 0.8, "validation_fraction": 0.2, "test_fraction": 0.1}
    found = param_errors(node_type("data.split"), fractions)
    message = "train_fraction + validation_fraction + test_fraction must be 1, got 1.1"  # the engine's words, unescaped
    assert found == {name: [message] for name in fractions}
    assert param_errors(node_type("optim.optimizer"), {"name": "sgd", "nesterov": True}) == {
        "nesterov": ["nesterov needs momentum > 0"],
        "momentum": ["nesterov needs momentum > 0"],
    }
    assert param_errors(node_type("optim.optimizer"), {"name": "adam", "nesterov": True}) == {}  # SGD's only
    assert param_errors(node_type("infer.generate"), {"max_new_tokens": 0}) == {
        "max_new_tokens": ["max_new_tokens must be at least 1"]
    }
    pipeline = {"schema_version": 1, "nodes": [{"id": "split", "type": "data.split", "params": fractions}], "edges": []}
    with pytest.raises(PipelineInvalid) as raised:
        load_pipeline(pipeline)
    messages = [problem.message for problem in raised.value.problems if problem.code == "params"]
    assert messages == [f"node 'split' (data.split): {message}"]  # not "parameter 'params': Value error, …"


def test_each_field_says_its_rules_beside_it():
    from nodeloom.ui.inspector import field_form

    def form(type_id: str, name: str, values: dict | None = None):
        schema = node_type(type_id).params.model_json_schema()
        return field_form(schema["properties"][name], schema.get("$defs", {}), values)

    assert form("infer.generate", "max_new_tokens").rules == "≥ 1 and ≤ 8192 · tokens"
    assert form("optim.optimizer", "lr").rules == "> 0 and ≤ 10"
    assert form("optim.optimizer", "name").rules == "one of adamw, adam, sgd, adafactor"
    assert form("data.load_dataset", "path").rules == "required"
    builtin_name = form("data.load_dataset", "name", {"source": "builtin"})
    assert builtin_name.kind == "choice" and builtin_name.choices == (
        "chat_support",
        "reviews_sentiment",
        "support_articles",
    )
    assert form("data.load_dataset", "name", {"source": "hub"}).kind == "text"  # any Hub name


def inspector_app(monkeypatch, tmp_path, nodes: list[dict]):
    from streamlit.testing.v1 import AppTest

    from nodeloom import pipelines as examples_package
    from nodeloom.ui import library

    folder = tmp_path / "examples"
    folder.mkdir()
    pipeline = {"schema_version": 1, "name": "rules", "nodes": nodes, "edges": []}
    (folder / library.FIRST_EXAMPLE).write_text(json.dumps(pipeline))
    monkeypatch.setattr(examples_package, "FOLDER", folder)
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    app.run()
    assert not app.exception, [error.value for error in app.exception]
    return app


def labelled(elements, label: str):
    found = [element for element in elements if element.label == label]
    assert found, f"no widget labelled {label!r}; have {[element.label for element in elements]}"
    return found[0]


def select(app, node_id: str) -> None:
    labelled(app.selectbox, "Selected node").select(node_id).run()
    assert not app.exception, [error.value for error in app.exception]


def test_the_inspector_hides_what_does_not_apply_and_shows_rules_and_problems_at_the_fields(monkeypatch, tmp_path):
    app = inspector_app(
        monkeypatch,
        tmp_path,
        [
            {"id": "opt", "type": "optim.optimizer", "position": {"x": 0, "y": 0}},
            {
                "id": "split",
                "type": "data.split",
                "position": {"x": 300, "y": 0},
                "params": {"train_fraction": 0.8, "validation_fraction": 0.2, "test_fraction": 0.1},
            },
            {"id": "load", "type": "data.load_dataset", "position": {"x": 600, "y": 0}},
        ],
    )
    select(app, "opt")
    numbers = [element.label for element in app.number_input]
    assert "beta1" in numbers and "momentum" not in numbers
    captions = [caption.value for caption in app.caption]
    assert "> 0 and ≤ 10 · default 5e-05" in captions  # lr's bounds, beside it
    assert any("do not apply" in caption and "momentum" in caption for caption in captions)
    labelled(app.selectbox, "name").select("sgd").run()
    numbers = [element.label for element in app.number_input]
    assert "momentum" in numbers and "beta1" not in numbers
    labelled(app.toggle, "nesterov").set_value(True).run()
    assert [error.value for error in app.error].count(
        plain("nesterov needs momentum > 0")
    ) == 2  # at nesterov and momentum

    select(app, "split")
    errors = [error.value for error in app.error]
    assert errors.count(plain("train_fraction + validation_fraction + test_fraction must be 1, got 1.1")) == 3
    assert not any("Value error" in error or "'params'" in error for error in errors)

    select(app, "load")
    assert plain("path is required when source is file") in [error.value for error in app.error]
    labelled(app.selectbox, "source").select("builtin").run()
    assert "path" not in [element.label for element in app.text_input]
    assert labelled(app.selectbox, "name").options == ["chat_support", "reviews_sentiment", "support_articles"]
    assert plain("path is required when source is file") not in [error.value for error in app.error]
