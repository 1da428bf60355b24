"""Presentation mode: the headline rules (which metrics lead, in which words and units, their change from the
previous run), the sections and how a followed run moves through them, the pipeline setting that names the
headlines, and the page itself through streamlit.testing's AppTest after two real runs. The browser test is
test_browser_presentation.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from nodeloom import pipelines as examples_package
from nodeloom.engine.events import RunStatus
from nodeloom.engine.pipeline import headline_parts
from nodeloom.engine.store import RunInfo, Series, Store
from nodeloom.engine.validation import load_pipeline
from nodeloom.ui import headlines, library, slides
from nodeloom.ui.headlines import Style, delta_text, value_text
from nodeloom.ui.previews import curve_figures
from tests.support import REPO
from tests.support.pipelines import bleu_pipeline

CHATBOT_TYPES = {
    "train": "train.trainer",
    "generate": "infer.generate",
    "sacrebleu": "metric.sacrebleu",
    "rouge": "metric.rouge",
    "perplexity": "metric.perplexity",
    "quality": "data.quality",
}


def run_info(run_id: str, metrics: dict) -> RunInfo:
    return RunInfo(
        id=run_id, pipeline="p", version=None, version_id=None, status="succeeded", created="2026-01-01T00:00:00",
        started=None, finished=None, seconds=None, device=None, requested_device=None, overrides=[], targets=[],
        use_cache=True, error=None, pid=None, host=None, rerun_of=None, metrics=metrics,
    )  # fmt: skip


# --- the headline setting ------------------------------------------------------------------------


def test_a_headline_entry_splits_after_the_longest_node_id_it_starts_with():
    assert headline_parts("sacrebleu.score", ["sacrebleu", "rouge"]) == ("sacrebleu", "score")
    assert headline_parts("eval.v2.accuracy", ["eval", "eval.v2"]) == ("eval.v2", "accuracy")
    assert headline_parts("gone.score", ["sacrebleu"]) == ("gone", "score")


@pytest.mark.parametrize(
    ("headline", "problem"),
    [
        (["bleuu.score"], "'bleuu.score' names no node 'bleuu'; did you mean 'bleu'?"),
        (["load.rows"], "'load.rows': node 'load' (data.load_dataset) records no metrics"),
        (["score"], "'score' is not NODE.METRIC; write e.g. \"sacrebleu.score\""),
        ("bleu.score", "must be a list"),
    ],
)
def test_a_headline_naming_no_metric_node_is_one_problem_in_one_line(headline, problem):
    data = bleu_pipeline("p") | {"settings": {"presentation": {"headline": headline}}}
    problems = [found.message for found in load_pipeline(data, strict=False).problems]
    assert problems == [f"setting 'presentation.headline': {problem}"]


def test_a_valid_headline_is_kept_and_written_back():
    data = bleu_pipeline("p") | {"settings": {"presentation": {"headline": ["bleu.score"]}}}
    pipeline = load_pipeline(data)
    assert pipeline.settings.presentation.headline == ["bleu.score"]
    assert pipeline.to_dict()["settings"] == {"presentation": {"headline": ["bleu.score"]}}
    assert load_pipeline(bleu_pipeline("p")).to_dict()["settings"] == {}  # no setting written where none was


def test_every_example_names_headlines_its_nodes_record():
    for path in sorted(examples_package.FOLDER.glob("*.json")):
        pipeline = load_pipeline(path)
        types = {spec.id: spec.type for spec in pipeline.nodes}
        for entry in pipeline.settings.presentation.headline:
            node_id, metric = headline_parts(entry, list(types))
            assert headlines.STYLES.get((types[node_id], metric)), f"{path.name}: {entry} has no friendly name"


def test_a_headline_setting_that_failed_its_check_leads_with_nothing_of_its_own():
    for written in (["bleu.score", 3], "bleu.score", {"x": 1}):
        data = bleu_pipeline("p") | {"settings": {"presentation": {"headline": written}}}
        assert headlines.headline_setting(load_pipeline(data, strict=False).pipeline.settings) == []
    data = bleu_pipeline("p") | {"settings": {"presentation": ["bleu.score"]}}
    assert headlines.headline_setting(load_pipeline(data, strict=False).pipeline.settings) == []
    assert headlines.headline_setting(load_pipeline(bleu_pipeline("p")).settings) == []


# --- which numbers lead, and how they read ------------------------------------------------------


def test_the_pipelines_own_headlines_lead_in_its_order():
    metrics = {"sacrebleu": {"score": 26.9, "bp": 1.0}, "rouge": {"rougeL": 0.41, "rouge1": 0.5}}
    chosen, problems = headlines.chosen_metrics(["rouge.rougeL", "sacrebleu.score"], CHATBOT_TYPES, metrics)
    assert chosen == [("rouge", "rougeL"), ("sacrebleu", "score")] and problems == []


def test_without_a_setting_each_metric_nodes_main_score_leads():
    metrics = {
        "train": {"eval_loss": 1.2},
        "sacrebleu": {"bp": 1.0, "score": 26.9},
        "rouge": {"rouge1": 0.5, "rougeL": 0.41},
        "perplexity": {"perplexity": 12.0},
        "quality": {"rows": 80},
    }
    chosen, problems = headlines.chosen_metrics([], CHATBOT_TYPES, metrics)
    assert chosen == [("sacrebleu", "score"), ("rouge", "rougeL"), ("perplexity", "perplexity")] and problems == []
    custom, _ = headlines.chosen_metrics([], {"squad": "metric.evaluate"}, {"squad": {"f1": 80.0, "exact": 70.0}})
    assert custom == [("squad", "f1")]  # a metric node with no known main score: its first number


def test_a_headline_metric_the_node_did_not_record_is_named_with_what_it_did():
    metrics = {"rouge": {"rouge1": 0.5, "rougeL": 0.41}}
    chosen, problems = headlines.chosen_metrics(["rouge.rougeLL", "sacrebleu.score"], CHATBOT_TYPES, metrics)
    assert chosen == [("sacrebleu", "score")]  # not run yet: shown as a dash, no problem
    assert problems == [
        "setting 'presentation.headline': node 'rouge' recorded no 'rougeLL' in this run; it recorded rouge1, rougeL"
    ]


def test_values_read_with_friendly_names_and_units():
    assert (headlines.style_of("metric.sacrebleu", "score").label, value_text(Style("x", decimals=1), 26.94)) == (
        "sacreBLEU",
        "26.9",
    )
    accuracy = headlines.style_of("metric.accuracy", "accuracy")
    assert (accuracy.label, value_text(accuracy, 0.92), value_text(accuracy, 0.925)) == ("accuracy", "92 %", "92.5 %")
    unknown = headlines.style_of("metric.evaluate", "exact_match_rate")
    assert (unknown.label, value_text(unknown, 1234.0), value_text(unknown, 0.41234)) == (
        "exact match rate",
        "1,234",
        "0.412",
    )
    assert headlines.style_of(None, "val_loss").lower_is_better
    assert headlines.style_of("metric.evaluate", "perplexity").lower_is_better


def test_changes_are_written_in_the_values_unit_with_their_sign():
    assert delta_text(Style("sacreBLEU", decimals=1), 26.94, 25.71) == "+1.2"
    assert delta_text(Style("accuracy", percent=True), 0.90, 0.925) == "-2.5 pts"
    assert delta_text(Style("sacreBLEU", decimals=1), 26.94, 26.91) == "±0"  # a change the value does not show
    assert delta_text(Style("loss"), 0.01234, 0.01334) == "-0.0010"  # to the digits the value shows: 0.0123


def test_headlines_carry_their_change_from_the_previous_run_coloured_by_which_way_is_better():
    types = {"sacrebleu": "metric.sacrebleu", "perplexity": "metric.perplexity", "rouge": "metric.rouge"}
    chosen = [("sacrebleu", "score"), ("perplexity", "perplexity"), ("rouge", "rougeL")]
    now = {"sacrebleu": {"score": 30.0}, "perplexity": {"perplexity": 9.5}}
    before = run_info("before", {"sacrebleu": {"score": 26.9}, "perplexity": {"perplexity": 12.0}})
    bleu, perplexity, rouge = headlines.headlines(chosen, types, now, before)
    assert (bleu.label, bleu.value, bleu.delta, bleu.delta_color) == ("sacreBLEU", "30.0", "+3.1", "normal")
    assert "26.9 in the previous run (before)" in bleu.note
    assert (perplexity.value, perplexity.delta, perplexity.delta_color) == ("9.50", "-2.50", "inverse")
    assert (rouge.value, rouge.delta) == ("—", None)  # not recorded (yet): a dash, no change
    first = headlines.headlines(chosen[:1], types, now, None)[0]
    assert first.delta is None


def test_the_previous_run_is_the_one_listed_after_this_one():
    finished = [run_info(run_id, {}) for run_id in ("c", "b", "a")]  # newest first, as the store lists them
    assert headlines.previous_run(finished, "c").id == "b"
    assert headlines.previous_run(finished, "a") is None
    assert headlines.previous_run(finished, "running").id == "c"  # still going: the newest finished one
    assert headlines.previous_run([], "c") is None


def test_the_other_metrics_are_listed_in_friendly_words():
    metrics = {"sacrebleu": {"score": 26.9, "bp": 1.0}, "quality": {"rows": 80}}
    rows = headlines.other_metrics([("sacrebleu", "score")], CHATBOT_TYPES, metrics)
    assert rows == [
        {"node": "sacrebleu", "metric": "bp", "value": "1"},
        {"node": "quality", "metric": "rows", "value": "80"},
    ]


# --- sections, and a followed run ---------------------------------------------------------------


def example_types(name: str) -> list[str]:
    return [node["type"] for node in json.loads((examples_package.FOLDER / f"{name}.json").read_text())["nodes"]]


def test_each_example_gets_the_sections_it_has_something_for():
    metric_types = {"metric.sacrebleu", "metric.bleu", "metric.rouge", "metric.perplexity", "metric.accuracy",
                    "metric.precision_recall_f1", "data.quality", "train.trainer"}  # fmt: skip
    every = [slides.PIPELINE, slides.TRAINING, slides.RESULTS, slides.SAMPLES, slides.TRY_IT]
    assert slides.sections_for(example_types("gpt2_chatbot"), metric_types) == every
    assert slides.sections_for(example_types("bert_sentiment"), metric_types) == every
    assert slides.sections_for(example_types("word_vectors"), metric_types) == [slides.PIPELINE, slides.SAMPLES]
    assert slides.sections_for(["data.load_dataset", "metric.sacrebleu"], metric_types) == [
        slides.PIPELINE,
        slides.RESULTS,
    ]


def test_moving_stays_within_the_first_and_the_last_section():
    sections = [slides.PIPELINE, slides.RESULTS, slides.SAMPLES]
    assert slides.moved(sections, slides.PIPELINE, 1) == slides.RESULTS
    assert slides.moved(sections, slides.SAMPLES, 1) == slides.SAMPLES
    assert slides.moved(sections, slides.PIPELINE, -1) == slides.PIPELINE
    assert slides.moved(sections, slides.TRAINING, 1) == slides.PIPELINE  # a section this pipeline lacks


def test_a_followed_run_moves_to_training_while_it_trains_and_to_results_when_done():
    every = [slides.PIPELINE, slides.TRAINING, slides.RESULTS, slides.SAMPLES, slides.TRY_IT]
    preparing = [("data.load_dataset", RunStatus.RUNNING), ("train.trainer", RunStatus.QUEUED)]
    training = [("data.load_dataset", RunStatus.SUCCEEDED), ("train.trainer", RunStatus.RUNNING)]
    scoring = [("train.trainer", RunStatus.SUCCEEDED), ("metric.rouge", RunStatus.RUNNING)]
    assert slides.followed_section(every, RunStatus.RUNNING, preparing) == slides.PIPELINE
    assert slides.followed_section(every, RunStatus.RUNNING, training) == slides.TRAINING
    assert slides.followed_section(every, RunStatus.RUNNING, scoring) == slides.TRAINING
    assert slides.followed_section(every, RunStatus.SUCCEEDED, scoring) == slides.RESULTS
    assert slides.followed_section(every, RunStatus.FAILED, scoring) == slides.PIPELINE
    assert slides.followed_section([slides.PIPELINE, slides.SAMPLES], RunStatus.SUCCEEDED, []) == slides.SAMPLES


def test_samples_show_what_the_model_was_given_what_it_answered_and_what_was_expected():
    generated = ["question", "answer", "prediction", "reference"]
    assert slides.sample_columns(generated) == ["question", "prediction", "reference"]
    classified = ["text", "input_ids", "attention_mask", "labels", "prediction", "probabilities", "reference"]
    assert slides.sample_columns(classified) == ["text", "prediction", "probabilities", "reference"]


def test_loss_and_eval_loss_share_one_chart_and_the_learning_rate_has_its_own():
    series = {
        "loss": Series([5, 10, 15], [3.0, 2.5, 2.2]),
        "eval_loss": Series([10], [2.6]),
        "learning_rate": Series([5, 10, 15], [1e-3, 8e-4, 5e-4]),
        "grad_norm": Series([5], [1.0]),  # one point is no curve
    }
    figures = curve_figures(series)
    assert list(figures) == ["loss", "learning_rate"]
    assert [trace.name for trace in figures["loss"].data] == ["loss", "eval loss"]
    assert list(figures["loss"].data[1].y) == [2.6]


# --- the page, after two real runs ---------------------------------------------------------------


@pytest.fixture
def two_bleu_runs(tmp_path, monkeypatch) -> Path:
    """The example folder holds one sacreBLEU pipeline, run twice by the CLI on pairs that score differently."""
    from nodeloom.cli import main

    pairs = tmp_path / "pairs.jsonl"
    pipeline = bleu_pipeline("bleu-present", str(pairs)) | {"settings": {"presentation": {"headline": ["bleu.score"]}}}
    folder = tmp_path / "examples"
    folder.mkdir()
    (folder / library.FIRST_EXAMPLE).write_text(json.dumps(pipeline))
    monkeypatch.setattr(examples_package, "FOLDER", folder)
    for prediction in ("a dog ran in the park", "the cat sat on the mat"):
        pairs.write_text(json.dumps({"prediction": prediction, "reference": "the cat sat on the mat"}) + "\n")
        assert main(["run", "--no-version", "-q", str(folder / library.FIRST_EXAMPLE)]) == 0
    return pairs


def test_the_results_section_shows_the_headline_with_its_change_from_the_previous_run(two_bleu_runs):
    latest, previous = (run.metrics["bleu"]["score"] for run in Store.open().list_runs("bleu-present"))
    assert latest > previous  # the second run's pairs match exactly
    test = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    test.session_state["presentation"] = True
    test.run()
    assert not test.exception, [error.value for error in test.exception]
    labels = [button.label for button in test.button]
    assert "Run all" not in " ".join(labels) and ":material/play_arrow: Run and present" in labels
    next_button = next(button for button in test.button if button.key == "presentation-next")
    next_button.click().run()
    assert not test.exception, [error.value for error in test.exception]
    [metric] = test.metric
    assert (metric.label, metric.value, metric.delta) == ("sacreBLEU", f"{latest:.1f}", f"+{latest - previous:.1f}")


# --- try it: the classifier's text box ------------------------------------------------------------


def test_the_classifier_box_gives_every_class_its_probability_truncating_as_the_pipeline_did():
    import torch
    from transformers import GPT2Config, GPT2ForSequenceClassification

    from nodeloom.ui.classifier_box import max_length, probabilities
    from tests.support.tiny_models import tiny_tokenizer

    tokenizer = tiny_tokenizer()
    names = {0: "LABEL_0", 1: "positive", 2: "LABEL_2"}  # transformers' placeholders, and one real name
    config = GPT2Config(
        vocab_size=len(tokenizer), n_layer=1, n_head=2, n_embd=16, n_positions=16, num_labels=3,
        pad_token_id=tokenizer.pad_token_id, id2label=names, label2id={name: index for index, name in names.items()},
    )  # fmt: skip
    torch.manual_seed(0)
    model = GPT2ForSequenceClassification(config).eval()
    found = probabilities(model, tokenizer, "great phone, works well " * 20, 16)  # longer than the model's 16 positions
    assert sorted(name for name, _ in found) == ["0", "2", "positive"]
    chances = [chance for _, chance in found]
    assert chances == sorted(chances, reverse=True) and abs(sum(chances) - 1) < 1e-5
    assert max_length(load_pipeline(examples_package.FOLDER / "bert_sentiment.json")) == 64


def test_while_the_chatbot_trains_its_training_section_shows_loss_with_eval_loss_and_the_learning_rate():
    """A run recorded as the worker records one, stopped mid-training: the chatbot example opens first."""
    from nodeloom.engine.store import RunWriter

    data = json.loads((examples_package.FOLDER / f"{library.FIRST_EXAMPLE}").read_text())
    store = Store.open()
    writer = RunWriter(store, store.create_run(None, run_id="training", pipeline=data))
    writer.run_started("cpu", [(node["id"], node["type"]) for node in data["nodes"]])
    writer.node_started("train")
    writer.node_progress("train", 0.2, "step 15/75")
    for step, loss, rate in ((5, 3.0, 1e-3), (10, 2.5, 8e-4), (15, 2.2, 5e-4)):
        writer.metric("train", "loss", loss, step)
        writer.metric("train", "learning_rate", rate, step)
    writer.metric("train", "eval_loss", 2.6, 10)
    writer.flush()

    test = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    test.session_state["presentation"] = True
    test.run()
    next(button for button in test.button if button.key == "presentation-next").click().run()
    assert not test.exception, [error.value for error in test.exception]
    charts = [json.loads(chart.proto.spec) for chart in test.get("plotly_chart")]
    assert [[trace.get("name") for trace in chart["data"]] for chart in charts] == [["loss", "eval loss"], [None]]
    assert [chart["layout"]["title"]["text"] for chart in charts] == ["loss", "learning rate"]
    assert any("running **train** 20%" in text.value for text in test.markdown)  # on the status line
