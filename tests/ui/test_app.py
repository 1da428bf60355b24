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
from tests.support import REPO
from tests.support.pipelines import bleu_pipeline, copy_pipeline

APP = str(REPO / "app.py")


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


def canvas_props(test: AppTest) -> dict:
    """What the page last sent the canvas component (its props, as the browser gets them)."""
    (component,) = test.get("component_instance")
    return json.loads(component.proto.json_args)["state"]


def canvas_card(test: AppTest, node_id: str) -> dict:
    return next(node for node in canvas_props(test)["nodes"] if node["id"] == node_id)


def gesture(test: AppTest, action: dict) -> AppTest:
    """The canvas sending one action, as the browser does (a new seq each time), and the rerun it causes."""
    editor = editor_of(test)
    key = canvas.canvas_key(editor, False)
    test.session_state[key] = {
        "seq": test.session_state["next_seq"] if "next_seq" in test.session_state else 1,
        "revision": editor.revision,
        "action": action,
    }
    test.session_state["next_seq"] = test.session_state[key]["seq"] + 1
    test.run()
    assert not test.exception, [error.value for error in test.exception]
    return test


def toasts(test: AppTest) -> list[str]:
    return [toast.value for toast in test.toast]


def test_opens_the_chatbot_example_first_with_its_nodes_on_the_canvas(app):
    assert editor_of(app).pipeline.name == "chatbot-stand-in"
    props = canvas_props(app)
    assert [node["id"] for node in props["nodes"]] == ["load", "bleu"]
    assert props["edges"] == [
        {
            "id": "load.dataset->bleu.dataset",
            "source": "load",
            "source_port": "dataset",
            "target": "bleu",
            "target_port": "dataset",
        }
    ]
    load = props["nodes"][0]
    assert load["title"] == "Load dataset" and load["outputs"] == [{"name": "dataset", "type": "dataset"}]
    assert props["compatibility"]["optimizer_spec"] == ["optimizer_spec"] and not props["read_only"]
    assert {"type_id": "metric.sacrebleu"}.items() <= next(
        entry for entry in props["palette"] if entry["type_id"] == "metric.sacrebleu"
    ).items()


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
    assert ["tokenize", "char"] in canvas_card(app, "bleu")["params"]


def test_a_value_sent_again_or_for_a_deleted_node_changes_nothing():
    editor = small_editor()
    editor.pipeline.node("clean").params["lowercase"] = False  # the file spells the default (False) out
    editor.set_param("clean", "lowercase", False, False)
    assert editor.pipeline.node("clean").params == {"lowercase": False} and editor.undo_stack == []
    editor.set_param("clean", "lowercase", True, False)
    editor.set_param("clean", "lowercase", False, False)  # a change back to the default drops it
    assert editor.pipeline.node("clean").params == {}
    editor.delete(["clean"], [])
    editor.set_param("clean", "lowercase", True, False)  # the deleted node's form, late: nothing happens
    assert not editor.pipeline.has_node("clean")


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
    assert problems == [":material/warning: 1 problem to fix before running"]  # flagged at once, not at run time
    assert "path is required when source is file" in [error.value for error in app.error]  # at the field
    widget(app.text_input, "path").set_value("pairs.jsonl").run()
    # A structured value that breaks the model is named with its parameter, at the field.
    gesture(app, {"kind": "add", "type_id": "text.clean", "position": {"x": 0, "y": 300}, "connect": None})
    widget(app.text_area, "columns (JSON)").set_value("[]").run()
    errors = [error.value for error in app.error]
    assert any(error.startswith("columns ") for error in errors), errors
    widget(app.text_area, "columns (JSON)").set_value("[oops").run()
    assert any("not valid JSON" in error.value for error in app.error)
    assert editor_of(app).pipeline.node("clean").params["columns"] == []  # the last valid value is kept
    # The unconnected input is listed before running, and Run all is disabled.
    assert any("1 problem" in label or "problems" in label for label in (e.label for e in app.expander))
    assert widget(app.button, ":material/play_arrow: Run all").disabled


def test_a_node_added_on_the_canvas_lands_where_dropped_with_a_fresh_id(app):
    gesture(app, {"kind": "add", "type_id": "metric.sacrebleu", "position": {"x": 120.5, "y": 340}, "connect": None})
    pipeline = editor_of(app).pipeline
    assert [spec.id for spec in pipeline.nodes] == ["load", "bleu", "sacrebleu"]
    assert pipeline.node("sacrebleu").position == {"x": 120.5, "y": 340.0}
    assert editor_of(app).selected == "sacrebleu"
    assert canvas_card(app, "sacrebleu")["position"] == {"x": 120.5, "y": 340.0}
    # A link dropped on empty canvas: the new node comes connected, by the first input that fits.
    gesture(
        app,
        {
            "kind": "add",
            "type_id": "metric.sacrebleu",
            "position": {"x": 400, "y": 0},
            "connect": {"node": "load", "port": "dataset", "direction": "from_output"},
        },
    )
    assert [
        (e.source, e.source_port, e.target, e.target_port)
        for e in editor_of(app).pipeline.edges
        if e.target == "sacrebleu_2"
    ] == [("load", "dataset", "sacrebleu_2", "dataset")]
    widget(app.button, ":material/undo: Undo").click().run()  # one step takes the node and its link back
    assert not editor_of(app).pipeline.has_node("sacrebleu_2") and len(editor_of(app).pipeline.edges) == 1


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
    assert any("saved elsewhere meanwhile" in text for text in toasts(app))


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
    worker = runs._workers[run_id]
    assert worker.wait(timeout=120) == 0, runs.worker_output(run_id)
    assert worker.arguments[-2:] == ["--", str(runs.runs_folder() / f"{run_id}.json")]
    assert "--no-version" in worker.arguments
    store = Store.open(nodeloom_home)
    assert store.list_pipelines() == []  # Run never saves: versions are made by Save only
    run = store.get_run(run_id)
    assert (run.pipeline, run.version, run.status) == ("bleu-run", None, "succeeded")
    ran = store.run_pipeline(run_id)
    assert ran == editor_of(test).pipeline.to_dict() | {"name": "bleu-run"}
    assert editor_of(test).saved_as is None and editor_of(test).base_version is None  # the editor saved nothing

    capsys.readouterr()
    assert main(["rerun", run_id, "--json", "--no-cache", "--run-id", "again"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] is None
    assert store.get_run("again").metrics == run.metrics and "score" in run.metrics["bleu"]
    assert store.run_pipeline("again") == ran and store.list_pipelines() == []


def test_a_run_whose_save_would_replace_a_file_shows_why_it_could_not_start(examples, nodeloom_home, tmp_path):
    from nodeloom.ui import runs

    source, target = tmp_path / "rows.csv", tmp_path / "copy.csv"
    source.write_text("text\nalpha\n")
    target.write_text("mine\n")
    (examples / library.FIRST_EXAMPLE).write_text(json.dumps(copy_pipeline(source, target)))
    test = AppTest.from_file(APP, default_timeout=60)
    test.run()
    assert editor_of(test).problems() == []  # a valid pipeline: the editor lists nothing to fix
    widget(test.button, ":material/play_arrow: Run all").click().run()
    run_id = test.session_state["shown_run"]
    assert runs._workers[run_id].wait(timeout=120) == 2, runs.worker_output(run_id)
    test.run()
    refusal = (
        f"node 'save' (io.save_dataset): parameter 'path': file '{target}' exists; "
        "set overwrite: true or choose another path"
    )
    assert [error.value for error in test.error] == ["The run could not start:"]
    assert [block.value for block in test.code] == [f"error: {refusal}"]
    assert Store.open(nodeloom_home).get_run(run_id) is None and target.read_text() == "mine\n"


# --- the canvas adapter: the component's actions applied to the editor -------------------------


def small_editor() -> Editor:
    pipeline = pipeline_from_json(
        {
            "schema_version": 1,
            "name": "t",
            "nodes": [
                {"id": "load", "type": "data.load_dataset", "position": {"x": 0, "y": 0}},
                {"id": "split", "type": "data.split", "position": {"x": 300, "y": 0}},
                {"id": "clean", "type": "text.clean", "params": {"lowercase": True}, "position": {"x": 600, "y": 0}},
                {"id": "bleu", "type": "metric.sacrebleu", "position": {"x": 900, "y": 0}},
            ],
            "edges": [{"source": "load", "target": "split"}],
        }
    )
    editor = Editor(pipeline)
    editor.open(pipeline)
    return editor


def links_into(editor: Editor, node_id: str) -> list[tuple[str, str, str, str]]:
    return [(e.source, e.source_port, e.target, e.target_port) for e in editor.pipeline.edges if e.target == node_id]


def connect(editor: Editor, source: str, source_port: str, target: str, target_port: str) -> None:
    canvas.apply_action(
        editor,
        discover(),
        {"kind": "connect", "source": source, "source_port": source_port, "target": target, "target_port": target_port},
    )


def test_a_link_connects_exactly_the_ports_dropped_on():
    editor = small_editor()
    connect(editor, "split", "validation", "clean", "dataset")  # not the first output that fits: the one dragged
    assert links_into(editor, "clean") == [("split", "validation", "clean", "dataset")]
    assert editor.notices == []


def test_an_incompatible_link_is_refused_by_the_engine_naming_both_types():
    editor = small_editor()
    before = editor.pipeline.to_json()
    connect(editor, "bleu", "metrics", "clean", "dataset")  # the browser refuses this too; Python checks again
    assert editor.pipeline.to_json() == before and editor.undo_stack == []
    notice = editor.notices[-1]
    assert notice.level == "error"
    assert notice.text.startswith("Cannot connect bleu.metrics → clean.dataset")
    assert "expects dataset" in notice.text and "(metrics)" in notice.text
    connect(editor, "split", "train", "clean", "no_such_port")
    assert "has no input 'no_such_port'" in editor.notices[-1].text


def test_a_second_link_on_an_input_replaces_the_first_and_undo_brings_it_back():
    editor = small_editor()
    connect(editor, "split", "train", "clean", "dataset")
    connect(editor, "split", "test", "clean", "dataset")
    assert links_into(editor, "clean") == [("split", "test", "clean", "dataset")]
    assert "instead of split.train" in editor.notices[-1].text
    editor.undo()
    assert links_into(editor, "clean") == [("split", "train", "clean", "dataset")]
    connect(editor, "split", "train", "clean", "dataset")  # the same link again changes nothing
    assert len(editor.undo_stack) == 1


def test_a_cycle_is_refused():
    editor = small_editor()
    connect(editor, "split", "train", "clean", "dataset")
    connect(editor, "clean", "dataset", "split", "dataset")
    assert "loop" in editor.notices[-1].text
    assert links_into(editor, "split") == [("load", "dataset", "split", "dataset")]


def test_delete_takes_nodes_with_their_links_and_undo_restores_them():
    editor = small_editor()
    connect(editor, "split", "train", "clean", "dataset")
    canvas.apply_action(editor, discover(), {"kind": "delete", "nodes": ["split"], "edges": []})
    assert not editor.pipeline.has_node("split") and editor.pipeline.edges == []
    editor.undo()
    assert editor.pipeline.has_node("split") and len(editor.pipeline.edges) == 2
    canvas.apply_action(editor, discover(), {"kind": "delete", "nodes": [], "edges": ["split.train->clean.dataset"]})
    assert links_into(editor, "clean") == [] and editor.pipeline.has_node("clean")


def test_paste_copies_nodes_with_parameters_and_inner_links_under_fresh_ids():
    editor = small_editor()
    connect(editor, "split", "train", "clean", "dataset")
    canvas.apply_action(
        editor, discover(), {"kind": "paste", "nodes": ["split", "clean"], "offset": {"x": 40, "y": 40}}
    )
    assert editor.pipeline.node("clean_2").params == {"lowercase": True}
    assert editor.pipeline.node("clean_2").position == {"x": 640.0, "y": 40.0}
    assert links_into(editor, "clean_2") == [("split_2", "train", "clean_2", "dataset")]
    assert links_into(editor, "split_2") == []  # its feed came from outside the copied nodes
    editor.pipeline.node("clean_2").params["lowercase"] = False
    assert editor.pipeline.node("clean").params == {"lowercase": True}  # a copy, not a shared dict
    canvas.apply_action(editor, discover(), {"kind": "paste", "nodes": ["clean_2"], "offset": {"x": 80, "y": 80}})
    assert editor.pipeline.has_node("clean_3")


def test_moves_selection_and_view_come_back_from_the_canvas():
    editor = small_editor()
    moved = {"bleu": {"x": 10, "y": 400}, "gone": {"x": 0, "y": 0}}  # a node deleted meanwhile is skipped
    canvas.apply_action(editor, discover(), {"kind": "move", "positions": moved})
    assert editor.pipeline.node("bleu").position == {"x": 10.0, "y": 400.0}
    canvas.apply_action(editor, discover(), {"kind": "select", "nodes": ["clean"], "edges": []})
    assert editor.selected == "clean"
    canvas.apply_action(editor, discover(), {"kind": "select", "nodes": [], "edges": ["load.dataset->split.dataset"]})
    assert editor.selected is None and editor.selected_link == ("load", "split")
    revision = editor.revision
    canvas.apply_action(editor, discover(), {"kind": "view", "x": -12.5, "y": 30, "zoom": 0.75})
    assert editor.view == {"x": -12.5, "y": 30.0, "zoom": 0.75} and editor.revision == revision
    canvas.apply_action(editor, discover(), {"kind": "move"})  # malformed: ignored, nothing raised
    canvas.apply_action(editor, discover(), {"kind": "undo"})
    assert editor.pipeline.node("bleu").position == {"x": 900.0, "y": 0.0}


def test_an_invalid_pipeline_opens_as_written_with_its_problems_listed():
    data = bleu_pipeline("broken") | {"edges": [{"source": "bleu", "target": "load", "target_port": "nope"}]}
    editor = Editor(pipeline_from_json(data))
    assert [(e.source, e.target, e.target_port) for e in editor.pipeline.edges] == [("bleu", "load", "nope")]
    assert {problem.code for problem in editor.problems()} == {"port", "unconnected"}
    with pytest.raises(PipelineInvalid):
        pipeline_from_json({"schema_version": 1, "nodes": "not a list"})


def test_auto_layout_places_layers_left_to_right():
    editor = small_editor()
    connect(editor, "split", "train", "clean", "dataset")
    editor.change(layout.auto_layout)
    x = {spec.id: spec.position["x"] for spec in editor.pipeline.nodes}
    assert x["load"] < x["split"] < x["clean"]
    assert x["bleu"] == x["load"]  # unconnected: first layer
    assert not layout.overlapping(editor.pipeline)


def test_the_examples_cards_do_not_overlap_at_the_canvas_card_size():
    for path in sorted((Path(APP).parent / "pipelines").glob("*.json")):
        pipeline = pipeline_from_json(path)
        assert not layout.overlapping(pipeline), path.name


def test_cards_list_the_key_parameters_that_apply():
    editor, load_type = small_editor(), discover().get("data.load_dataset")

    def shown() -> dict[str, str]:
        return dict(canvas.card(editor.pipeline.node("load"), load_type, None, [])["params"])

    editor.set_param("load", "path", "/data/rows.jsonl", "")
    assert shown() == {"source": "file", "path": "rows.jsonl"}  # a file's path by its name; no built-in split
    editor.set_param("load", "source", "hub", "file")
    editor.set_param("load", "name", "stanfordnlp/imdb", "chat_support")
    assert shown() == {"source": "hub", "name": "stanfordnlp/imdb", "split": "train"}


def test_cards_show_status_progress_and_error():
    editor = small_editor()
    failed = canvas.NodeStatus("failed", seconds=0.2, error="parameter 'path': file 'x' does not exist")
    running = canvas.NodeStatus("running", progress=0.4)
    props = canvas.canvas_props(editor, discover(), {"load": failed, "split": running})
    cards = {node["id"]: node for node in props["nodes"]}
    assert cards["load"]["status"] == {
        "state": "failed",
        "progress": None,
        "message": "0.2 s",
        "error": "parameter 'path': file 'x' does not exist",
    }
    assert cards["split"]["status"]["progress"] == 0.4
    assert cards["bleu"]["status"] is None and "dataset" in cards["bleu"]["problem"]  # its input is not connected


def test_a_node_changed_since_the_run_and_everything_downstream_is_stale(tmp_path):
    from nodeloom.ui.staleness import current_keys, stale_nodes

    editor = small_editor()
    editor.set_param("load", "path", str(tmp_path / "rows.jsonl"), "")
    connect(editor, "split", "train", "clean", "dataset")
    keys = current_keys(editor.pipeline, discover())
    recorded = {node_id: keys[node_id] for node_id in ("load", "split", "clean")}  # what a run records
    assert all(recorded.values())
    assert stale_nodes(editor.pipeline, current_keys(editor.pipeline, discover()), recorded) == set()
    editor.set_param("split", "seed", 7, 0)
    assert stale_nodes(editor.pipeline, current_keys(editor.pipeline, discover()), recorded) == {"split", "clean"}
    editor.undo()
    (tmp_path / "rows.jsonl").write_text('{"text": "edited"}\n')  # a file it reads changed
    assert stale_nodes(editor.pipeline, current_keys(editor.pipeline, discover()), recorded) == set(recorded)


def test_metric_tiles_keep_numbers_short_enough_to_read():
    from nodeloom.ui.previews import tile_text

    shown = [tile_text(value) for value in (0.78838, 78.838, 2390.4, 285902.0, 64.0, 1e15)]
    assert shown == ["0.788", "78.8", "2,390", "285,902", "64", "1e+15"]


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


# --- work is never lost: the draft, and asking before discarding --------------------------------


def test_every_edit_is_autosaved_as_a_draft_that_a_new_session_takes_up(app, nodeloom_home):
    select_node(app, "bleu")
    widget(app.toggle, "lowercase").set_value(True).run()
    gesture(app, {"kind": "view", "x": -40, "y": 25.5, "zoom": 0.8})
    (draft,) = (nodeloom_home / "drafts").glob("*.json")
    assert json.loads(draft.read_text())["pipeline"]["nodes"][1]["params"] == {"lowercase": True}
    assert not (nodeloom_home / "nodeloom.db").exists() or not Store.open(nodeloom_home).list_pipelines()  # no version

    reloaded = AppTest.from_file(APP, default_timeout=60)  # a reload or a restart: a new session
    reloaded.run()
    assert editor_of(reloaded).pipeline.node("bleu").params == {"lowercase": True}
    assert canvas_props(reloaded)["view"] == {"x": -40.0, "y": 25.5, "zoom": 0.8}
    assert any("Restored your unsaved draft" in text for text in toasts(reloaded))
    assert any("Draft autosaved" in caption.value for caption in reloaded.sidebar.caption)
    widget(reloaded.sidebar.button, "Save").click().run()
    assert not any("Draft autosaved" in caption.value for caption in reloaded.sidebar.caption)
    assert [version.version for version in Store.open(nodeloom_home).versions("chatbot-stand-in")] == [1]


def test_opening_another_pipeline_over_unsaved_changes_asks_first(app, nodeloom_home):
    select_node(app, "bleu")
    widget(app.toggle, "lowercase").set_value(True).run()
    widget(app.sidebar.button, "New").click().run()
    assert editor_of(app).pipeline.name == "chatbot-stand-in"  # not yet
    app.button(key="keep-editing").click().run()
    assert editor_of(app).pipeline.node("bleu").params == {"lowercase": True} and editor_of(app).pending_open is None
    widget(app.sidebar.button, "New").click().run()
    app.button(key="discard-and-open").click().run()
    assert editor_of(app).pipeline.name == "untitled" and editor_of(app).pipeline.nodes == []
    drafts = list((nodeloom_home / "drafts").glob("*.json"))
    assert [json.loads(path.read_text())["name"] for path in drafts] == ["untitled"]  # the discarded one is gone
    widget(app.sidebar.button, "New").click().run()  # nothing unsaved: no question
    assert editor_of(app).pending_open is None


def test_streamlit_run_gets_the_same_toolbar_and_upload_limit_as_nodeloom_app():
    tomllib = pytest.importorskip("tomllib")
    from nodeloom.app import FIXED_OPTIONS
    from nodeloom.engine.limits import MAX_PIPELINE_BYTES

    config = tomllib.loads((Path(APP).parent / ".streamlit" / "config.toml").read_text())
    assert config["client"]["toolbarMode"] == "minimal"
    assert config["server"]["maxUploadSize"] * 2**20 == MAX_PIPELINE_BYTES
    assert FIXED_OPTIONS[FIXED_OPTIONS.index("--server.maxUploadSize") + 1] == str(config["server"]["maxUploadSize"])
