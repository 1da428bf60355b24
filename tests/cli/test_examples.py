"""The example pipelines in pipelines/ validate, and run end to end offline with real outcomes.

Each run trains for real on CPU (about 1.5 minutes for the chatbot, 1 for text generation,
half a minute for sentiment), so the thresholds below sit well under what a run measures
(chatbot: sacreBLEU about 27, ROUGE-L 0.33, 14 of 64 answers exact; sentiment accuracy 0.92; text
generation ROUGE-L 0.44): they catch a pipeline that stopped learning, not noise. The chatbot's test questions
come from question templates held out of training whole; when they were random phrasings of training
templates (a quarter of them near copies of training questions, as data.quality measures), the same
pipeline scored sacreBLEU 79 and ROUGE-L 0.82: that was memory.

The chatbot trains once a session, here, in the session's `chatbot_home` (tests/conftest.py orders this test
before the browser module), and the browser test that presents it takes this run's outputs from the cache.
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys

import pytest

from tests.support import REPO

EXAMPLES = sorted((REPO / "pipelines").glob("*.json"))
EXPECTED = {"gpt2_chatbot", "bert_sentiment", "text_generation", "word_vectors"}


def run_example(name: str, overrides: list[str] = ()):
    """Run pipelines/NAME.json in this process, recorded in the store as `nodeloom run --set ...` records it (the
    app shows a cached node's curves from the run that computed it), and return the result."""
    from nodeloom.engine.recorder import run_recorded
    from nodeloom.engine.store import Store
    from nodeloom.engine.validation import apply_overrides, load_pipeline, read_pipeline_json

    example = read_pipeline_json((REPO / "pipelines" / f"{name}.json").read_text())
    data, problems = apply_overrides(example, list(overrides))
    assert not problems, problems
    pipeline = load_pipeline(json.dumps(data))
    result = run_recorded(Store.open(), pipeline, None, pipeline_data=example, overrides=overrides)
    failed = {node_id: node.error for node_id, node in result.nodes.items() if node.status != "succeeded"}
    assert result.status == "succeeded", failed
    return result


def assert_finite(metrics: dict, *names: str) -> None:
    for name in names:
        assert math.isfinite(metrics[name]), f"{name} = {metrics[name]}"


def test_every_example_is_there_and_nodeloom_validate_accepts_it():
    assert {path.stem for path in EXAMPLES} >= EXPECTED
    completed = subprocess.run(
        [sys.executable, "-m", "nodeloom", "validate", *map(str, EXAMPLES)], capture_output=True, text=True, cwd=REPO
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.count("valid") == len(EXAMPLES)
    for path in EXAMPLES:
        data = json.loads(path.read_text())
        assert data["name"] == path.stem and len(data["description"]) > 80, (
            f"{path.name} needs a name and a real description"
        )


@pytest.mark.slow
def test_gpt2_chatbot_learns_to_answer_on_topic(chatbot_home, monkeypatch):
    from rouge_score import rouge_scorer

    monkeypatch.setenv("NODELOOM_HOME", str(chatbot_home))
    result = run_example("gpt2_chatbot")
    evaluations = [entry["eval_loss"] for entry in result.outputs("train")["history"]["eval"]]
    assert len(evaluations) >= 3 and evaluations[-1] < 0.5 * evaluations[0], evaluations
    metrics = result.metrics
    assert_finite(metrics["bleu"], "bleu")
    assert_finite(metrics["rouge"], "rouge1", "rouge2", "rougeL")
    assert_finite(metrics["perplexity"], "perplexity")
    assert metrics["sacrebleu"]["score"] > 15 and metrics["rouge"]["rougeL"] > 0.2, metrics
    assert metrics["perplexity"]["perplexity"] < 5
    assert metrics["quality"]["overlap_with_reference"] < 0.05, metrics["quality"]  # held-out wording, not memory

    # On topic: the training answer closest to each generated answer belongs to the question's topic.
    training = result.outputs("split")["train"].to_list()
    answers_by_topic = {(row["answer"], row["topic"]) for row in training}
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    predictions = result.outputs("generate")["dataset"].to_list()
    on_topic = 0
    for row in predictions:
        closest = max(answers_by_topic, key=lambda pair: scorer.score(pair[0], row["prediction"])["rougeL"].fmeasure)
        on_topic += closest[1] == row["topic"]
    # measured: 22 of 64 on topic (a random training answer: about 10), 14 exactly the intent's answer (about 2)
    assert on_topic / len(predictions) > 0.25, f"{on_topic} of {len(predictions)} answers on topic"
    exact = sum(row["prediction"].strip() == row["answer"] for row in predictions)
    assert exact >= 8, f"{exact} of {len(predictions)} answers exactly right"


@pytest.mark.slow
def test_bert_sentiment_is_well_above_chance():
    result = run_example("bert_sentiment")
    accuracy = result.metrics["accuracy"]
    assert accuracy["total"] == 100 and accuracy["accuracy"] > 0.8, accuracy
    assert result.metrics["f1"]["f1"] > 0.8, result.metrics["f1"]
    assert "eval_perplexity" not in result.metrics["train"]  # a classifier's loss is not a perplexity


@pytest.mark.slow
def test_bert_sentiment_reads_any_csv_with_text_and_label_columns(tmp_path):
    reviews = [
        json.loads(line)
        for line in (REPO / "nodes" / "sample_data" / "reviews_sentiment.train.jsonl").read_text().splitlines()
    ]
    path = tmp_path / "my_reviews.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "text", "label"])
        writer.writeheader()
        writer.writerows(
            {"id": index, "text": row["text"], "label": row["label"]} for index, row in enumerate(reviews[:120])
        )
    result = run_example("bert_sentiment", ["reviews.source=file", f"reviews.path={path}", "train.max_steps=2"])
    assert result.outputs("reviews")["dataset"].num_rows == 120
    assert result.metrics["accuracy"]["total"] == 24  # the 20% test split of 120 rows


@pytest.mark.slow
def test_text_generation_continues_held_out_passages():
    result = run_example("text_generation")
    evaluations = [entry["eval_loss"] for entry in result.outputs("train")["history"]["eval"]]
    assert evaluations[-1] < 0.5 * evaluations[0], evaluations
    rows = result.outputs("generate")["dataset"].to_list()
    assert rows and all(row["prediction"].strip() and row["prompt"] for row in rows)
    assert len({row["prediction"] for row in rows}) > len(rows) // 2  # sampled, not one canned text
    assert_finite(result.metrics["rouge"], "rouge1", "rougeL")
    assert result.metrics["rouge"]["rougeL"] > 0.25, result.metrics["rouge"]


def test_word_vectors_projects_sentences_and_words():
    result = run_example("word_vectors")
    sentences, words = result.outputs("sentences")["embeddings"], result.outputs("words")["embeddings"]
    assert sentences.num_rows == result.outputs("clean")["dataset"].num_rows
    assert 0 < words.num_rows <= 300
    for table in (sentences, words):
        assert {"embedding", "x", "y"} <= set(table.column_names)
        assert len(table[0]["embedding"]) == 384  # MiniLM's hidden size


def test_the_pretrained_switch_fails_offline_with_a_clear_message():
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "nodeloom",
            "run",
            "pipelines/gpt2_chatbot.json",
            "--until",
            "gpt2",
            "--set",
            "tokenizer.pretrained=gpt2",
            "--set",
            "gpt2.pretrained=gpt2",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    assert "tokenizer" in completed.stderr and "'gpt2'" in completed.stderr and "Hub" in completed.stderr, (
        completed.stderr
    )


def test_the_readme_node_catalog_is_the_registry_s():
    completed = subprocess.run(
        [sys.executable, "-m", "nodeloom", "nodes", "--markdown"], capture_output=True, text=True, cwd=REPO, check=True
    )
    readme = (REPO / "README.md").read_text()
    catalog = readme.split("<!-- node-catalog:start -->\n")[1].split("\n<!-- node-catalog:end -->")[0]
    assert catalog == completed.stdout.strip(), (
        "README's node catalog is stale: paste `nodeloom nodes --markdown` between its markers"
    )


def test_every_file_the_readme_links_to_exists():
    import re

    readme = (REPO / "README.md").read_text()
    links = set(re.findall(r"\]\(((?:docs|pipelines|benchmarks)/[^)#]+)\)", readme))
    assert links and not [link for link in links if not (REPO / link).exists()]
