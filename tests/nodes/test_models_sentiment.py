"""Integration: the bundled MiniLM, fine-tuned through the nodes, learns real review sentiment.

Data: ../shared/data/amazon_cells_labelled.txt (1,000 sentences, `sentence<TAB>label`). A
seeded 80/20 split; the model never sees the held-out 20% before it is scored.
"""

from __future__ import annotations

import time

import pytest

from tests.support.tiny_models import FIXTURES, run_graph


def read_reviews(path):
    import datasets

    texts, labels = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        text, _, label = line.rpartition("\t")
        if text:
            texts.append(text.strip())
            labels.append(int(label))
    return datasets.Dataset.from_dict({"text": texts, "label": labels})


def tokenized(dataset, tokenizer):
    encode = lambda batch: tokenizer(batch["text"], truncation=True, max_length=64) | {"labels": batch["label"]}  # noqa: E731
    return dataset.map(encode, batched=True)


@pytest.mark.slow
def test_minilm_fine_tuned_on_amazon_reviews_reaches_85_percent(shared_data):
    from transformers import AutoTokenizer

    from nodeloom.nodes.bundled import bundled_model_path

    reviews = read_reviews(shared_data / "amazon_cells_labelled.txt")
    assert reviews.num_rows == 1000
    split = reviews.train_test_split(test_size=0.2, seed=0)
    tokenizer = AutoTokenizer.from_pretrained(bundled_model_path("minilm"))
    FIXTURES.update(train=tokenized(split["train"], tokenizer), test=tokenized(split["test"], tokenizer))

    started = time.perf_counter()
    result = run_graph(
        nodes=[
            {"id": "train_data", "type": "fixture.tokens", "params": {"name": "train"}},
            {"id": "test_data", "type": "fixture.tokens", "params": {"name": "test"}},
            {
                "id": "minilm",
                "type": "model.load_pretrained",
                "params": {"name_or_path": "bundled:minilm", "task": "classification", "num_labels": 2},
            },
            {"id": "adamw", "type": "optim.optimizer", "params": {"name": "adamw", "lr": 1e-4, "weight_decay": 0.01}},
            {"id": "schedule", "type": "optim.lr_schedule", "params": {"name": "linear", "warmup_ratio": 0.1}},
            {
                "id": "train",
                "type": "train.trainer",
                "params": {"epochs": 3, "batch_size": 16, "save_steps": 0, "logging_steps": 10},
            },
            {"id": "classify", "type": "infer.classify", "params": {"batch_size": 64}},
        ],
        edges=[
            {"source": "minilm", "target": "train"},
            {"source": "train_data", "target": "train", "target_port": "train"},
            {"source": "adamw", "target": "train"},
            {"source": "schedule", "target": "train"},
            {"source": "train", "target": "classify", "source_port": "model"},
            {"source": "test_data", "target": "classify", "target_port": "dataset"},
        ],
    )
    seconds = time.perf_counter() - started
    assert result.status == "succeeded", {node: r.error for node, r in result.nodes.items() if r.error}
    scored = result.outputs("classify")["dataset"]
    accuracy = sum(p == r for p, r in zip(scored["prediction"], scored["reference"], strict=False)) / scored.num_rows
    print(
        f"\nMiniLM sentiment: held-out accuracy {accuracy:.3f} on {scored.num_rows} reviews, pipeline {seconds:.0f} s"
    )
    assert scored.num_rows == 200
    assert accuracy >= 0.85
