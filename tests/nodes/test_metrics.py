"""Text and classification metric nodes against the reference libraries, hand counts and bad input."""

from __future__ import annotations

import importlib.util
import json
import math
import random

import datasets
import pytest
import sacrebleu
from rouge_score import rouge_scorer
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from nodeloom.engine import NodeError
from nodeloom.engine.context import CancelToken, RunContext
from nodeloom.engine.node import discover
from nodeloom.engine.runner import run_pipeline
from nodeloom.engine.validation import load_pipeline

# sacrebleu's README: two reference streams, three segments
README_HYPOTHESES = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
README_REFERENCES = [
    ["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
    ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."],
]

# varied rows: punctuation, numbers, unicode, an empty hypothesis, an empty reference, several references
VARIED_PREDICTIONS = [
    "The quick brown fox jumps over the lazy dog.",
    "",
    "Über den Wolken muss die Freiheit wohl grenzenlos sein!",
    "今日は良い天気です。",
    "It costs $3.50 -- or 3,50 € in Europe.",
    "the the the the",
    "A completely unrelated sentence.",
]
VARIED_REFERENCES = [
    ["A quick brown fox jumped over the lazy dog.", "The fast brown fox leaps over the lazy dog."],
    ["Nothing was said."],
    ["Über den Wolken muss die Freiheit grenzenlos sein."],
    ["今日はいい天気です。", "今日は天気が良いです。", "良い天気ですね。"],
    ["It costs $3.50, or 3,50 € in Europe."],
    ["the cat is on the mat", ""],
    ["Something else entirely, said the cat."],
]


def context() -> RunContext:
    return RunContext("test", "metric", "cpu", 0, None, CancelToken(), lambda event: None)  # type: ignore[arg-type]


def run_metric(type_id: str, dataset, **params) -> dict:
    node_type = discover().get(type_id)
    if isinstance(dataset, dict):
        dataset = datasets.Dataset.from_dict(dataset)
    return node_type.run(context(), {"dataset": dataset}, node_type.params.model_validate(params))["metrics"]


def pairs(predictions, references) -> dict:
    return {"prediction": list(predictions), "reference": list(references)}


def reference_streams(references: list[list[str]]) -> list[list[str | None]]:
    """sacrebleu's layout: one stream per reference position, None where a row has fewer references."""
    width = max(len(refs) for refs in references)
    return [[refs[i] if i < len(refs) else None for refs in references] for i in range(width)]


# ---------------------------------------------------------------------------------------------
# metric.sacrebleu


def test_sacrebleu_readme_example_scores_48_530827():
    rows = [[stream[row] for stream in README_REFERENCES] for row in range(3)]
    metrics = run_metric("metric.sacrebleu", pairs(README_HYPOTHESES, rows))
    assert metrics["score"] == pytest.approx(48.530827, abs=5e-7)
    assert (metrics["sys_len"], metrics["ref_len"]) == (17, 18)
    assert metrics["bp"] == pytest.approx(0.943, abs=5e-4)
    assert [round(p, 1) for p in metrics["precisions"]] == [82.4, 50.0, 45.5, 37.5]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"tokenize": "intl"},
        {"tokenize": "char"},
        {"tokenize": "zh"},
        {"tokenize": "none", "lowercase": True},
        {"smooth_method": "floor"},
        {"smooth_method": "add-k"},
        {"smooth_method": "none"},
    ],
)
def test_sacrebleu_equals_corpus_bleu_and_sentence_bleu(options):
    metrics = run_metric("metric.sacrebleu", pairs(VARIED_PREDICTIONS, VARIED_REFERENCES), **options)
    direct = sacrebleu.corpus_bleu(VARIED_PREDICTIONS, reference_streams(VARIED_REFERENCES), **options)
    assert metrics["score"] == pytest.approx(direct.score, rel=1e-12)
    assert metrics["precisions"] == pytest.approx(direct.precisions, rel=1e-12)
    assert (metrics["bp"], metrics["sys_len"], metrics["ref_len"]) == (direct.bp, direct.sys_len, direct.ref_len)
    per_row = [
        sacrebleu.sentence_bleu(prediction, refs, **options).score
        for prediction, refs in zip(VARIED_PREDICTIONS, VARIED_REFERENCES, strict=False)
    ]
    assert metrics["example_scores"] == pytest.approx(per_row, rel=1e-12)
    worst = metrics["worst_examples"][0]
    assert worst["score"] == min(per_row) and worst["prediction"] == VARIED_PREDICTIONS[worst["row"]]


def test_sacrebleu_counts_empty_hypotheses():
    predictions, references = ["", "the cat sat on the mat"], ["the cat sat on the mat"] * 2
    metrics = run_metric("metric.sacrebleu", pairs(predictions, references))
    assert metrics["score"] == pytest.approx(sacrebleu.corpus_bleu(predictions, [references]).score)
    assert metrics["ref_len"] == 12 and metrics["sys_len"] == 6
    assert metrics["score"] < sacrebleu.corpus_bleu(predictions[1:], [references[1:]]).score


# ---------------------------------------------------------------------------------------------
# metric.bleu (Hugging Face evaluate's definition)


def test_bleu_hand_counted_ngrams_with_shortest_reference_length():
    # row 0: 1-grams 5/6 (the x2, cat, on, mat), 2-grams 3/5, 3-grams 1/4 (on the mat), 4-grams 0/3
    # row 1: every n-gram of "a big dog ran" is in the second reference: 4/4, 3/3, 2/2, 1/1;
    #        its reference length is the shortest reference's, 2 (sacreBLEU would take the closest, 5)
    predictions = ["the cat sat on the mat", "a big dog ran"]
    references = [["the cat is on the mat"], ["dog ran", "a big dog ran fast"]]
    metrics = run_metric("metric.bleu", pairs(predictions, references))
    assert metrics["precisions"] == pytest.approx([9 / 10, 6 / 8, 3 / 6, 1 / 4])
    assert (metrics["translation_length"], metrics["reference_length"]) == (10, 8)
    assert metrics["length_ratio"] == pytest.approx(10 / 8) and metrics["brevity_penalty"] == 1.0
    assert metrics["bleu"] == pytest.approx((9 / 10 * 6 / 8 * 3 / 6 * 1 / 4) ** 0.25)
    assert metrics["example_scores"] == [0.0, 1.0]  # row 0 has no matching 4-gram and no smoothing
    assert [row["row"] for row in metrics["worst_examples"]] == [0, 1]

    smoothed = run_metric("metric.bleu", pairs(predictions[:1], references[:1]), smooth=True)
    assert smoothed["precisions"] == pytest.approx([6 / 7, 4 / 6, 2 / 5, 1 / 4])
    assert smoothed["bleu"] == pytest.approx((6 / 7 * 4 / 6 * 2 / 5 * 1 / 4) ** 0.25)


def test_bleu_13a_tokenization_brevity_penalty_and_max_order():
    # 13a splits off punctuation: "Hello world !" is 3 tokens against 2
    metrics = run_metric("metric.bleu", pairs(["Hello world"], ["Hello world!"]), max_order=2)
    assert (metrics["translation_length"], metrics["reference_length"]) == (2, 3)
    assert metrics["precisions"] == [1.0, 1.0]
    assert metrics["brevity_penalty"] == pytest.approx(math.exp(1 - 3 / 2))
    assert metrics["bleu"] == pytest.approx(math.exp(1 - 3 / 2))
    # "Hello , world" has no bigram "Hello world": max_order 2 then scores 0
    assert run_metric("metric.bleu", pairs(["Hello world"], ["Hello, world"]), max_order=2)["precisions"] == [1.0, 0.0]


def test_bleu_evaluate_docstring_example_and_empty_predictions():
    example = pairs(
        ["hello there general kenobi", "foo bar foobar"],
        [["hello there general kenobi", "hello there!"], ["foo bar foobar"]],
    )
    assert run_metric("metric.bleu", example)["bleu"] == 1.0

    # the empty prediction counts: half the reference length is missing
    half = run_metric("metric.bleu", pairs(["", "the cat sat on the mat"], ["the cat sat on the mat"] * 2))
    assert (half["translation_length"], half["reference_length"]) == (6, 12)
    assert half["bleu"] == pytest.approx(math.exp(1 - 2)) and half["precisions"] == [1.0] * 4
    assert half["worst_examples"][0] == {
        "row": 0,
        "prediction": "",
        "reference": "the cat sat on the mat",
        "score": 0.0,
    }

    nothing = run_metric("metric.bleu", pairs(["", ""], ["a b", "c"]))
    assert (nothing["bleu"], nothing["brevity_penalty"], nothing["length_ratio"], nothing["translation_length"]) == (
        0.0,
        0.0,
        0.0,
        0,
    )


def test_bleu_unicode_and_sacrebleu_agree_when_there_is_one_reference_of_equal_length():
    # with one reference per row and no smoothing the two definitions coincide (up to the 0-1 scale)
    predictions = ["Über den Wolken ist es schön.", "Das ist gut."]
    references = ["Über den Wolken ist es sehr schön.", "Das ist gut."]
    metrics = run_metric("metric.bleu", pairs(predictions, references))
    direct = sacrebleu.corpus_bleu(predictions, [references], smooth_method="none")
    assert metrics["bleu"] == pytest.approx(direct.score / 100, rel=1e-12)
    assert metrics["translation_length"] == direct.sys_len == 11  # 13a splits off the final periods


# ---------------------------------------------------------------------------------------------
# metric.rouge


def rouge_direct(predictions, references, types, **options):
    scorer = rouge_scorer.RougeScorer(types, **options)
    rows = [scorer.score_multi(refs, prediction) for prediction, refs in zip(predictions, references, strict=False)]
    return {t: sum(row[t].fmeasure for row in rows) / len(rows) for t in types}, [
        row[types[0]].fmeasure for row in rows
    ]


@pytest.mark.parametrize("use_stemmer", [False, True])
def test_rouge_equals_rouge_score_with_best_of_several_references(use_stemmer):
    types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    predictions = [*VARIED_PREDICTIONS, "the cats are running.\nThey jumped high."]
    references = [*VARIED_REFERENCES, ["A cat runs.\nIt jumps high.", "cats running"]]
    metrics = run_metric("metric.rouge", pairs(predictions, references), use_stemmer=use_stemmer)
    expected, per_row = rouge_direct(predictions, references, types, use_stemmer=use_stemmer)
    for rouge_type in types:
        assert metrics[rouge_type] == pytest.approx(expected[rouge_type], rel=1e-12)
    assert metrics["example_scores"] == pytest.approx(per_row, rel=1e-12)
    assert metrics["worst_examples"][0]["score"] == min(per_row)


def test_rouge_types_chosen_and_whitespace_tokenizer_for_other_scripts():
    data = pairs(["今日 は 良い 天気"], ["今日 は 悪い 天気"])
    default = run_metric("metric.rouge", data, rouge_types=["rougeL", "rouge1"])
    assert set(default) == {"rougeL", "rouge1", "example_scores", "worst_examples"}
    assert default["rouge1"] == 0.0  # rouge_score's own tokenizer keeps only a-z and 0-9
    spaced = run_metric("metric.rouge", data, rouge_types=["rouge1"], tokenizer="whitespace")
    assert spaced["rouge1"] == pytest.approx(3 / 4)


# ---------------------------------------------------------------------------------------------
# metric.exact_match


def test_exact_match_normalization_options():
    data = pairs(
        ["Paris", " paris ", "Paris!", "New   York", "¿Dónde?", "London", ""],
        [["Paris"], ["Paris"], ["Paris"], ["new york"], ["Dónde"], ["Rome", "london"], [""]],
    )
    plain = run_metric("metric.exact_match", data)
    assert plain["example_scores"] == [1, 0, 0, 0, 0, 0, 1]
    assert plain["exact_match"] == pytest.approx(2 / 7) and (plain["matches"], plain["total"]) == (2, 7)
    everything = run_metric(
        "metric.exact_match", data, lowercase=True, strip_punctuation=True, collapse_whitespace=True
    )
    assert everything["example_scores"] == [1] * 7
    assert run_metric("metric.exact_match", data, collapse_whitespace=True)["example_scores"] == [1, 0, 0, 0, 0, 0, 1]
    assert run_metric("metric.exact_match", data, lowercase=True, collapse_whitespace=True)["example_scores"] == [
        1,
        1,
        0,
        1,
        0,
        1,
        1,
    ]
    assert [row["row"] for row in plain["worst_examples"]] == [1, 2, 3, 4, 5]  # the misses only


# ---------------------------------------------------------------------------------------------
# metric.accuracy and metric.precision_recall_f1


def random_labels(seed: int, classes, count: int = 200):
    rnd = random.Random(seed)
    return [rnd.choice(classes) for _ in range(count)], [rnd.choice(classes) for _ in range(count)]


def test_accuracy_equals_scikit_learn_and_lists_misclassified_rows():
    predictions, references = random_labels(0, [0, 1, 2])
    metrics = run_metric("metric.accuracy", pairs(predictions, references))
    assert metrics["accuracy"] == accuracy_score(references, predictions)
    assert metrics["correct"] == sum(p == r for p, r in zip(predictions, references, strict=False))
    assert metrics["total"] == 200
    wrong = [row for row in range(200) if predictions[row] != references[row]][:10]
    assert [row["row"] for row in metrics["worst_examples"]] == wrong
    assert run_metric("metric.accuracy", pairs(["cat", "dog"], ["cat", "cat"]))["accuracy"] == 0.5
    numpy_formatted = datasets.Dataset.from_dict(pairs(predictions, references)).with_format("numpy")
    assert run_metric("metric.accuracy", numpy_formatted)["accuracy"] == metrics["accuracy"]


@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
def test_precision_recall_f1_equal_scikit_learn(average):
    predictions, references = random_labels(1, ["bird", "cat", "dog", "fish"])
    metrics = run_metric("metric.precision_recall_f1", pairs(predictions, references), average=average)
    precision, recall, f1, _ = precision_recall_fscore_support(
        references, predictions, average=average, zero_division=0.0
    )
    assert (metrics["precision"], metrics["recall"], metrics["f1"]) == pytest.approx((precision, recall, f1), rel=1e-12)
    table = precision_recall_fscore_support(
        references, predictions, average=None, labels=["bird", "cat", "dog", "fish"]
    )
    assert [row["label"] for row in metrics["per_class"]] == ["bird", "cat", "dog", "fish"]
    assert [row["f1"] for row in metrics["per_class"]] == pytest.approx(list(table[2]))
    assert [row["support"] for row in metrics["per_class"]] == list(table[3])


def test_binary_positive_label_by_id_or_class_name():
    predictions, references = random_labels(2, [0, 1])
    features = datasets.Features(
        {"prediction": datasets.Value("int64"), "reference": datasets.ClassLabel(names=["negative", "positive"])}
    )
    dataset = datasets.Dataset.from_dict(pairs(predictions, references), features=features)
    for pos_label, expected_label in (("1", 1), ("0", 0), ("positive", 1)):
        metrics = run_metric("metric.precision_recall_f1", dataset, average="binary", pos_label=pos_label)
        direct = precision_recall_fscore_support(references, predictions, average="binary", pos_label=expected_label)
        assert (metrics["precision"], metrics["recall"], metrics["f1"]) == pytest.approx(direct[:3])
    assert [row["label"] for row in metrics["per_class"]] == ["negative", "positive"]


def test_binary_average_on_three_classes_is_explained():
    with pytest.raises(NodeError, match="parameter 'average' is 'binary'.*multiclass"):
        run_metric("metric.precision_recall_f1", pairs([0, 1, 2], [0, 1, 2]), average="binary")
    with pytest.raises(NodeError, match="'pos_label': 'yes' is not a number"):
        run_metric("metric.precision_recall_f1", pairs([0, 1], [0, 1]), average="binary", pos_label="yes")


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    "type_id", ["metric.sacrebleu", "metric.bleu", "metric.rouge", "metric.exact_match", "metric.accuracy"]
)
def test_missing_column_lists_the_columns_there_are(type_id):
    with pytest.raises(
        NodeError, match=rf"{type_id}: column 'prediction' is not in the dataset; its columns are: output, reference"
    ):
        run_metric(type_id, {"output": ["a"], "reference": ["a"]})


@pytest.mark.parametrize("type_id", ["metric.sacrebleu", "metric.bleu", "metric.rouge", "metric.exact_match"])
def test_text_metrics_name_the_column_and_first_bad_row(type_id):
    with pytest.raises(NodeError, match=r"column 'prediction', row 2: expected text, got an empty value \(null\)"):
        run_metric(type_id, pairs(["a", "b", None, None], ["a", "b", "c", "d"]))
    with pytest.raises(
        NodeError, match=r"column 'reference', row 1: expected a string or a non-empty list of strings, got a list"
    ):
        run_metric(type_id, pairs(["a", "b"], [["a"], []]))
    with pytest.raises(NodeError, match=r"column 'answer', row 0: expected a string .* got a int \(7\)"):
        run_metric(type_id, {"prediction": ["a"], "answer": [7]}, reference_column="answer")
    with pytest.raises(NodeError, match="the dataset has no rows to score"):
        run_metric(type_id, pairs([], []))


def test_label_metrics_reject_mixed_or_non_label_values():
    with pytest.raises(
        NodeError, match="column 'reference', row 0 holds text but column 'prediction' starts with integer labels"
    ):
        run_metric("metric.accuracy", pairs([1, 0], ["1", "0"]))
    with pytest.raises(NodeError, match=r"column 'prediction', row 0: expected a class label .* got a float \(0.0\)"):
        run_metric("metric.precision_recall_f1", pairs([0.0, 1.0], [0, 1]))
    with pytest.raises(NodeError, match=r"column 'reference', row 1: .* an empty value \(null\)"):
        run_metric("metric.accuracy", pairs([1, 0], [1, None]))


# ---------------------------------------------------------------------------------------------
# in a pipeline


def test_metric_nodes_report_through_run_pipeline(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [
        {"prediction": "the cat sat on the mat", "reference": ["the cat is on the mat"]},
        {"prediction": "a big dog ran", "reference": ["dog ran", "a big dog ran fast"]},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    pipeline = load_pipeline(
        {
            "schema_version": 1,
            "name": "metrics",
            "settings": {"device": "cpu"},
            "nodes": [
                {"id": "load", "type": "data.load_dataset", "params": {"source": "file", "path": str(path)}},
                {"id": "bleu", "type": "metric.bleu"},
                {"id": "rouge", "type": "metric.rouge", "params": {"rouge_types": ["rougeL"]}},
            ],
            "edges": [{"source": "load", "target": "bleu"}, {"source": "load", "target": "rouge"}],
        }
    )
    result = run_pipeline(pipeline)
    assert result.status == "succeeded", {n: r.error for n, r in result.nodes.items()}
    assert result.metrics["bleu"]["bleu"] == pytest.approx((9 / 10 * 6 / 8 * 3 / 6 * 1 / 4) ** 0.25)
    assert result.metrics["bleu"]["translation_length"] == 10
    assert "worst_examples" not in result.metrics["bleu"]  # lists stay in the node's output, not the run's numbers
    expected, _ = rouge_direct([r["prediction"] for r in rows], [r["reference"] for r in rows], ["rougeL"])
    assert result.metrics["rouge"] == {"rougeL": pytest.approx(expected["rougeL"])}
    assert result.outputs("bleu")["metrics"]["worst_examples"][0]["row"] == 0


def test_sacrebleu_tokenizer_without_its_extra_packages_is_explained():
    if importlib.util.find_spec("MeCab") is not None:
        pytest.skip("MeCab is installed: the ja-mecab tokenizer works")
    with pytest.raises(
        NodeError, match=r"parameter 'tokenize': tokenizer 'ja-mecab' is not usable here \(.*\); choose 13a"
    ) as caught:
        run_metric("metric.sacrebleu", pairs(["a"], ["a"]), tokenize="ja-mecab")
    assert "\n" not in str(caught.value)
