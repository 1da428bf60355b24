"""metric.perplexity on a tiny GPT-2 against a direct, row-by-row computation."""

from __future__ import annotations

import math
import random

import datasets
import pytest
import torch

from nodeloom.engine import NodeError
from nodeloom.engine.context import CancelToken, RunContext
from nodeloom.engine.node import discover

VOCAB = 100


@pytest.fixture(scope="module")
def tiny_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=VOCAB, n_positions=64, pad_token_id=0)
    return GPT2LMHeadModel(config).eval()


def token_rows(lengths, seed=0, masked_prefix=0):
    """Rows of random ids; the first `masked_prefix` labels of each row are -100 (not scored)."""
    rnd = random.Random(seed)
    ids = [[rnd.randrange(1, VOCAB) for _ in range(length)] for length in lengths]
    labels = [[-100] * masked_prefix + row[masked_prefix:] for row in ids]
    return datasets.Dataset.from_dict(
        {"input_ids": ids, "attention_mask": [[1] * len(row) for row in ids], "labels": labels}
    )


def run_perplexity(model, dataset, events=None, **params):
    node_type = discover().get("metric.perplexity")
    emit = events.append if events is not None else (lambda event: None)
    ctx = RunContext("test", "ppl", "cpu", 0, None, CancelToken(), emit)  # type: ignore[arg-type]
    return node_type.run(ctx, {"model": model, "dataset": dataset}, node_type.params.model_validate(params))["metrics"]


def direct_losses(model, dataset):
    """(mean loss, scored tokens) per row: the model's own loss, one unpadded row at a time."""
    results = []
    for row in dataset:
        labels = torch.tensor([row["labels"]])
        with torch.no_grad():
            loss = model(input_ids=torch.tensor([row["input_ids"]]), labels=labels).loss.item()
        results.append((loss, int((labels[:, 1:] != -100).sum())))
    return results


@pytest.mark.parametrize("batch_size,masked_prefix", [(1, 0), (3, 0), (4, 3)])
def test_perplexity_is_token_weighted_mean_loss_of_the_model(tiny_gpt2, batch_size, masked_prefix):
    dataset = token_rows([12, 5, 30, 8, 17, 9, 21], masked_prefix=masked_prefix)
    events = []
    metrics = run_perplexity(tiny_gpt2, dataset, events, batch_size=batch_size)
    per_row = direct_losses(tiny_gpt2, dataset)
    tokens = sum(count for _, count in per_row)
    mean_loss = sum(loss * count for loss, count in per_row) / tokens
    assert metrics["tokens"] == tokens
    assert metrics["mean_loss"] == pytest.approx(mean_loss, rel=1e-5)
    assert metrics["perplexity"] == pytest.approx(math.exp(mean_loss), rel=1e-5)
    assert metrics["example_scores"] == pytest.approx([math.exp(loss) for loss, _ in per_row], rel=1e-5)
    worst = metrics["worst_examples"][0]
    assert worst["perplexity"] == max(metrics["example_scores"]) and worst["tokens"] == per_row[worst["row"]][1]
    assert [event.kind for event in events].count("progress") == math.ceil(dataset.num_rows / batch_size)
    # a plain mean over rows would weigh the 5-token row like the 30-token one
    assert metrics["mean_loss"] != pytest.approx(sum(loss for loss, _ in per_row) / len(per_row), rel=1e-6)


def test_perplexity_bad_input_is_explained(tiny_gpt2):
    short = datasets.Dataset.from_dict({"input_ids": [[5], [7]], "attention_mask": [[1], [1]], "labels": [[5], [7]]})
    with pytest.raises(NodeError, match="no token to score"):
        run_perplexity(tiny_gpt2, short)
    uneven = datasets.Dataset.from_dict(
        {"input_ids": [[1, 2, 3], [4, 5, 6]], "attention_mask": [[1, 1, 1], [1, 1, 1]], "labels": [[1, 2, 3], [4, 5]]}
    )
    with pytest.raises(NodeError, match="column 'labels', row 1 has 2 values but 'input_ids' has 3"):
        run_perplexity(tiny_gpt2, uneven)
    text_only = datasets.Dataset.from_dict({"text": ["hello"]})
    with pytest.raises(NodeError, match="column 'input_ids' is not in the dataset; its columns are: text"):
        run_perplexity(tiny_gpt2, text_only)


def test_perplexity_refuses_a_classifier():
    from transformers import GPT2Config, GPT2ForSequenceClassification

    classifier = GPT2ForSequenceClassification(
        GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=VOCAB, pad_token_id=0)
    )
    with pytest.raises(NodeError, match="GPT2ForSequenceClassification, not a causal language model"):
        run_perplexity(classifier, token_rows([4]))


def test_perplexity_in_a_pipeline(tiny_gpt2):
    from tests.support.tiny_models import FIXTURES, run_graph

    dataset = token_rows([10, 20, 6])
    FIXTURES.update({"gpt2": tiny_gpt2, "blocks": dataset})
    result = run_graph(
        [
            {"id": "model", "type": "fixture.model", "params": {"name": "gpt2"}},
            {"id": "data", "type": "fixture.tokens", "params": {"name": "blocks"}},
            {"id": "ppl", "type": "metric.perplexity", "params": {"batch_size": 2}},
        ],
        [{"source": "model", "target": "ppl"}, {"source": "data", "target": "ppl"}],
    )
    assert result.status == "succeeded", {n: r.error for n, r in result.nodes.items()}
    per_row = direct_losses(tiny_gpt2, dataset)
    mean_loss = sum(loss * count for loss, count in per_row) / sum(count for _, count in per_row)
    assert result.metrics["ppl"]["perplexity"] == pytest.approx(math.exp(mean_loss), rel=1e-5)
    assert result.metrics["ppl"]["tokens"] == 33
