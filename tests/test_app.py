"""The app's logic through streamlit.testing's AppTest (the canvas component itself is inert here:
its answers are fed to the adapter directly) — the browser tests drive the real thing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from nodeloom import pipelines as examples_package
from nodeloom.engine.node import discover
from nodeloom.engine.store import Store
from nodeloom.engine.validation import PipelineInvalid
from nodeloom.ui import canvas, layout, library
from nodeloom.ui.state import Editor, pipeline_from_json

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def bleu_pipeline(name: str, path: str = "pairs.jsonl") -> dict:
    return {
        "schema_version": 1,
        "name": name,
        "nodes": [
            {"id": "load", "type": "data.load_dataset", "params": {"path": path}, "position": {"x": 0, "y": 0}},
            {"id": "bleu", "type": "metric.sacrebleu", "params": {}, "position": {"x": 300, "y": 0}},
        ],
        "edges": [{"source": "load", "target": "bleu", "source_port": "dataset", "target_port": "dataset"}],
    }


@pytest.fixture
def examples(tmp_path, monkeypatch) -> Path:
    """An examples folder with the chatbot stand-in and another pipeline."""
    folder = tmp_path / "examples"
    folder.mkdir()
    (folder / "a_first_alphabetically.json").write_text(json.dumps(bleu_pipeline("other")))
    (folder / library.FIRST_EXAMPLE).write_text(json.dumps(bleu_pipeline("chatbot-stand-in")))
    monkeypatch.setattr(examples_package, "FOLDER", folder)
    return folder


@pytest.fixture
def app(examples) -> AppTest:
    test = AppTest.from_file(APP, default_timeout=60)
    test.run()
    assert not test.exception, [error.value for error in test.exception]
    return test


def editor_of(test: AppTest) -> Editor:
    return test.session_state["editor"]


def widget(elements, label: str):
    found = [element for element in elements if element.label == label]
    assert found, f"no widget labelled {label!r}; have {[element.label for element in elements]}"
    return found[0]


def select_node(test: AppTest, node_id: str) -> None:
    widget(test.selectbox, "Selected node").select(node_id).run()
    assert editor_of(test).selected == node_id


def test_opens_the_chatbot_example_first_with_its_nodes_on_the_canvas(app):
    assert editor_of(app).pipeline.name == "chatbot-stand-in"
    drawn = app.session_state["canvas_drawn"][1]
    assert [node.id for node in drawn.nodes] == ["load", "bleu"]
    assert [edge.label for edge in drawn.edges] == ["dataset"]
    assert "Load dataset" in drawn.nodes[0].data["content"]


def test_reopens_the_last_saved_pipeline(examples, nodeloom_home):
    Store.open(nodeloom_home).save_pipeline("mine", bleu_pipeline("mine", "/data/x.jsonl"))
    test = AppTest.from_file(APP, default_timeout=60)
    test.run()
    assert editor_of(test).saved_as == "mine"
    assert editor_of(test).pipeline.node("load").params["path"] == "/data/x.jsonl"


def test_editing_a_parameter_applies_at_once_and_marks_unsaved(app):
    select_node(app, "bleu")
    widget(app.toggle, "lowercase").set_value(True).run()
    assert editor_of(app).pipeline.node("bleu").params == {"lowercase": True}
    assert any("●" in markdown.value for markdown in app.sidebar.markdown)
    widget(app.selectbox, "tokenize").select("char").run()
    assert editor_of(app).pipeline.node("bleu").params == {"lowercase": True, "tokenize": "char"}
    # The card shows the key parameter's new value.
    card = next(node for node in app.session_state["canvas_drawn"][1].nodes if node.id == "bleu")
    assert "tokenize: **char**" in card.data["content"]


def test_back_to_the_default_drops_the_parameter_and_undo_redo_follow(app):
    select_node(app, "bleu")
    widget(app.toggle, "lowercase").set_value(True).run()
    widget(app.toggle, "lowercase").set_value(False).run()
    assert editor_of(app).pipeline.node("bleu").params == {}
    widget(app.button, ":material/undo: Undo").click().run()
    assert editor_of(app).pipeline.node("bleu").params == {"lowercase": True}
    assert widget(app.toggle, "lowercase").value is True  # the form shows the restored value
    widget(app.button, ":material/redo: Redo").click().run()
    assert editor_of(app).pipeline.node("bleu").params == {}


def test_invalid_values_show_inline_messages(app):
    select_node(app, "load")
    widget(app.text_input, "path").set_value("").run()
    problems = [expander.label for expander in app.expander if "problem" in expander.label]
    assert problems == []  # an empty path is valid until run: the node reports a missing file itself
    # A structured value that breaks the model is named with its node and parameter.
    app.button(key="add:text.clean").click().run()
    widget(app.text_area, "columns (JSON)").set_value("[]").run()
    errors = " ".join(error.value for error in app.error)
    assert "node 'clean'" in errors and "parameter 'columns'" in errors
    widget(app.text_area, "columns (JSON)").set_value("[oops").run()
    assert any("not valid JSON" in error.value for error in app.error)
    assert editor_of(app).pipeline.node("clean").params["columns"] == []  # the last valid value is kept
    # The unconnected input is listed before running, and Run all is disabled.
    assert any("1 problem" in label or "problems" in label for label in (e.label for e in app.expander))
    assert widget(app.button, ":material/play_arrow: Run all").disabled


def test_palette_search_and_add_node(app):
    app.sidebar.text_input(key="palette_search").set_value("bleu").run()
    shown = [button.key for button in app.sidebar.button if button.key.startswith("add:")]
    assert "add:metric.sacrebleu" in shown and "add:data.load_dataset" not in shown
    app.button(key="add:metric.sacrebleu").click().run()
    pipeline = editor_of(app).pipeline
    assert [spec.id for spec in pipeline.nodes] == ["load", "bleu", "sacrebleu"]
    assert pipeline.node("sacrebleu").position["x"] > pipeline.node("bleu").position["x"]  # placed clear of others
    assert editor_of(app).selected == "sacrebleu"


def test_save_versions_diff_and_restore(app, nodeloom_home):
    widget(app.sidebar.button, "Save").click().run()
    store = Store.open(nodeloom_home)
    assert [version.version for version in store.versions("chatbot-stand-in")] == [1]
    select_node(app, "bleu")
    widget(app.toggle, "lowercase").set_value(True).run()
    widget(app.sidebar.button, "Save").click().run()
    assert [version.version for version in store.versions("chatbot-stand-in")] == [2, 1]
    assert not any("●" in markdown.value for markdown in app.sidebar.markdown)
    widget(app.sidebar.selectbox, "Version").select(1).run()
    assert "~ bleu.lowercase: False → True" in " ".join(code.value for code in app.sidebar.code)
    app.sidebar.button(key="version-restore").click().run()
    assert [version.version for version in store.versions("chatbot-stand-in")] == [3, 2, 1]
    assert editor_of(app).pipeline.node("bleu").params == {}
    assert editor_of(app).base_version == 3


def test_a_stale_save_is_refused(app, nodeloom_home):
    widget(app.sidebar.button, "Save").click().run()
    Store.open(nodeloom_home).save_pipeline("chatbot-stand-in", bleu_pipeline("x", "elsewhere.jsonl"))
    select_node(app, "bleu")
    widget(app.toggle, "lowercase").set_value(True).run()
    widget(app.sidebar.button, "Save").click().run()
    assert any("saved elsewhere meanwhile" in error.value for error in app.error)


def test_run_all_runs_the_editors_pipeline_without_making_a_version(examples, nodeloom_home, tmp_path, capsys):
    from nodeloom.cli import main
    from nodeloom.ui import runs

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prediction": "the cat sat", "reference": "the cat sat"}) + "\n")
    (examples / library.FIRST_EXAMPLE).write_text(json.dumps(bleu_pipeline("bleu-run", str(pairs))))
    test = AppTest.from_file(APP, default_timeout=60)
    test.run()
    widget(test.button, ":material/play_arrow: Run all").click().run()
    run_id = test.session_state["shown_run"]
    worker = runs._workers[run_id].process
    assert worker.wait(timeout=120) == 0, runs.worker_output(run_id)
    assert worker.args[-2:] == ["--", str(runs.runs_folder() / f"{run_id}.json")] and "--no-version" in worker.args
    store = Store.open(nodeloom_home)
    assert store.list_pipelines() == []  # Run never saves: versions are made by Save only
    run = store.get_run(run_id)
    assert (run.pipeline, run.version, run.status) == ("bleu-run", None, "succeeded")
    ran = store.run_pipeline(run_id)
    assert ran == editor_of(test).pipeline.to_dict() | {"name": "bleu-run"}
    assert editor_of(test).saved_as is None and editor_of(test).base_version is None  # the editor saved nothing


# --- the canvas adapter, fed what streamlit-flow sends back -----------------------------------


def component_answer(editor: Editor, edges: list[tuple[str, str]], selected: str | None = None, moved: dict | None = None) -> dict:
    state_now = canvas.to_flow_state(editor.pipeline, discover(), {}, [], None, False, 0)
    nodes = [node.asdict() for node in state_now.nodes]
    for node in nodes:
        if moved and node["id"] in moved:
            node["position"] = moved[node["id"]]
    return {
        "nodes": nodes,
        "edges": [{"id": canvas.link_id(s, t), "source": s, "target": t} for s, t in edges],
        "selectedId": selected,
        "timestamp": 1,
    }


def small_editor() -> Editor:
    pipeline = pipeline_from_json(
        {
            "schema_version": 1,
            "name": "t",
            "nodes": [
                {"id": "load", "type": "data.load_dataset", "position": {"x": 0, "y": 0}},
                {"id": "split", "type": "data.split", "position": {"x": 300, "y": 0}},
                {"id": "clean", "type": "text.clean", "position": {"x": 600, "y": 0}},
                {"id": "bleu", "type": "metric.sacrebleu", "position": {"x": 900, "y": 0}},
            ],
            "edges": [{"source": "load", "target": "split"}],
        }
    )
    editor = Editor(pipeline)
    editor.open(pipeline)
    return editor
    capsys.readouterr()
    assert main(["rerun", run_id, "--json", "--no-cache", "--run-id", "again"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] is None
    assert store.get_run("again").metrics == run.metrics and "score" in run.metrics["bleu"]
    assert store.run_pipeline("again") == ran and store.list_pipelines() == []


def test_a_drawn_link_gets_its_port_from_the_engine():
    editor = small_editor()
    redraw = canvas.apply_component_state(editor, discover(), component_answer(editor, [("load", "split"), ("clean", "bleu")]))
    assert redraw
    edge = next(edge for edge in editor.pipeline.edges if edge.target == "bleu")
    assert (edge.source_port, edge.target_port) == ("dataset", "dataset")
    labels = {e.target: e.label for e in canvas.to_flow_state(editor.pipeline, discover(), {}, [], None, False, 0).edges}
    assert labels["bleu"] == "dataset"


def test_an_incompatible_link_is_refused_naming_both_types():
    editor = small_editor()
    # bleu offers metrics; clean takes a dataset.
    canvas.apply_component_state(editor, discover(), component_answer(editor, [("load", "split"), ("bleu", "clean")]))
    assert not any(edge.target == "clean" for edge in editor.pipeline.edges)
    message = editor.notices[-1].text
    assert editor.notices[-1].level == "error"
    assert "metrics" in message and "dataset" in message and "'bleu'" in message and "'clean'" in message


def test_an_ambiguous_link_waits_for_the_user_to_pick_the_port():
    editor = small_editor()
    canvas.apply_component_state(editor, discover(), component_answer(editor, [("load", "split"), ("split", "clean")]))
    assert editor.pending is not None
    assert editor.pending.choices == [("train", "dataset"), ("validation", "dataset"), ("test", "dataset")]
    assert not any(edge.target == "clean" for edge in editor.pipeline.edges)
    editor.connect("split", "clean", [editor.pending.choices[1]])
    assert [(e.source_port, e.target_port) for e in editor.pipeline.edges if e.target == "clean"] == [("validation", "dataset")]


def test_moves_deletions_and_selection_come_back_from_the_canvas():
    editor = small_editor()
    answer = component_answer(editor, [], selected="clean", moved={"bleu": {"x": 10.0, "y": 400.0}})
    answer["nodes"] = [node for node in answer["nodes"] if node["id"] != "split"]
    redraw = canvas.apply_component_state(editor, discover(), answer)
    assert not redraw  # the component already shows all of this
    assert editor.pipeline.node("bleu").position == {"x": 10.0, "y": 400.0}
    assert not editor.pipeline.has_node("split") and editor.pipeline.edges == []
    assert editor.selected == "clean"
    editor.undo()
    assert editor.pipeline.has_node("split") and len(editor.pipeline.edges) == 1


def test_a_cycle_is_refused():
    editor = small_editor()
    editor.connect("split", "clean", [("train", "dataset")])
    canvas.apply_component_state(
        editor, discover(), component_answer(editor, [("load", "split"), ("split", "clean"), ("clean", "split")])
    )
    assert "cycle" in editor.notices[-1].text


def test_an_invalid_pipeline_opens_as_written_with_its_problems_listed():
    data = bleu_pipeline("broken") | {"edges": [{"source": "bleu", "target": "load", "target_port": "nope"}]}
    editor = Editor(pipeline_from_json(data))
    assert [(e.source, e.target, e.target_port) for e in editor.pipeline.edges] == [("bleu", "load", "nope")]
    assert {problem.code for problem in editor.problems()} == {"port", "unconnected"}
    with pytest.raises(PipelineInvalid):
        pipeline_from_json({"schema_version": 1, "nodes": "not a list"})


def test_auto_layout_places_layers_left_to_right():
    editor = small_editor()
    editor.connect("split", "clean", [("train", "dataset")])
    editor.change(layout.auto_layout)
    x = {spec.id: spec.position["x"] for spec in editor.pipeline.nodes}
    assert x["load"] < x["split"] < x["clean"]
    assert x["bleu"] == x["load"]  # unconnected: first layer


def test_cards_show_status_and_error():
    editor = small_editor()
    failed = canvas.NodeStatus("failed", seconds=0.2, error="parameter 'path': file 'x' does not exist")
    flow = canvas.to_flow_state(editor.pipeline, discover(), {"load": failed}, [], None, False, 0)
    card = flow.nodes[0]
    assert "✗ failed" in card.data["content"] and "does not exist" in card.data["content"]
    assert card.style["background"] == "#fef2f2"


def test_metric_tiles_keep_numbers_short_enough_to_read():
    from nodeloom.ui.previews import tile_text

    assert [tile_text(value) for value in (0.78838, 78.838, 2390.4, 285902.0, 64.0, 1e15)] == ["0.788", "78.8", "2,390", "285,902", "64", "1e+15"]


def test_float_parameters_step_by_a_float_at_every_magnitude():
    # epochs=30 once gave an int step, and Streamlit refused to draw the trainer's form
    from nodeloom.ui.inspector import float_step

    assert [float_step(value) for value in (3e-4, 0.5, 30.0, 1200.0, None)] == [1e-5, 0.01, 1.0, 100.0, 0.1]
    assert all(isinstance(float_step(value), float) for value in (3e-4, 30.0, 1200.0))


def test_every_node_of_every_example_opens_in_the_inspector(tmp_path, monkeypatch):
    """Each example's real parameter values drawn as forms (no edges: the forms are the point)."""
    nodes = []
    for path in sorted((Path(APP).parent / "pipelines").glob("*.json")):
        for raw in json.loads(path.read_text())["nodes"]:
            nodes.append(raw | {"id": f"{path.stem}.{raw['id']}"})
    folder = tmp_path / "examples"
    folder.mkdir()
    all_nodes = {"schema_version": 1, "name": "all", "nodes": nodes, "edges": []}
    (folder / library.FIRST_EXAMPLE).write_text(json.dumps(all_nodes))
    monkeypatch.setattr(examples_package, "FOLDER", folder)
    test = AppTest.from_file(APP, default_timeout=60)
    test.run()
    for raw in nodes:
        select_node(test, raw["id"])
        assert not test.exception, (raw["id"], [error.value for error in test.exception])


def test_the_editor_model_imports_neither_the_store_views_nor_streamlit():
    """ui.state is the model every view uses; it once imported ui.library back, a cycle."""
    script = (
        "import sys, nodeloom.ui.state; "
        "print(sorted(m for m in ('nodeloom.ui.library', 'streamlit') if m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


def test_drawing_the_page_imports_no_torch():
    """Only the chat and the model previews load torch into the app process, on request (docs/app.md).
    A fresh process, as the app starts: this one has imported torch for other tests."""
    script = (
        "import sys; from streamlit.testing.v1 import AppTest; "
        f"test = AppTest.from_file({APP!r}, default_timeout=120); test.run(); "
        "assert not test.exception, [e.value for e in test.exception]; "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert found.returncode == 0, found.stderr[-2000:]
    assert found.stdout.strip().splitlines()[-1] == "[]"
