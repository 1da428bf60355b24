"""infer.generate and infer.classify on tiny models trained in the test (no Hub, no files)."""

from __future__ import annotations

import pytest

from nodeloom.engine import NodeError
from nodeloom.nodes.infer import GenerateParams, prompt_prefix, prompts_of
from tests.support.tiny_models import (
    QA_TEMPLATE,
    TINY_BERT_CLASSIFIER,
    causal_dataset,
    classification_dataset,
    context,
    qa_dataset,
    run_node,
)


@pytest.fixture(scope="module")
def chatbot(tmp_path_factory, tokenizer):
    """A tiny GPT-2 that has memorised the six Q&A pairs (templated, eos-terminated)."""
    ctx = context(tmp_path_factory.mktemp("chatbot"))
    model = run_node(
        "model.from_config", ctx, {"tokenizer": tokenizer}, n_layer=2, n_head=2, n_embd=64, n_positions=128, dropout=0.0
    )["model"]
    data = causal_dataset(tokenizer, block_size=64, repeats=8)
    return run_node(
        "train.trainer",
        ctx,
        {"model": model, "train": data, "optimizer": {"lr": 5e-3}},
        max_steps=160,
        batch_size=8,
        save_steps=0,
    )["model"]


def generate(ctx, chatbot, tokenizer, **params):
    params = {"prompt_template": QA_TEMPLATE, "max_new_tokens": 24} | params
    return run_node(
        "infer.generate", ctx, {"model": chatbot, "tokenizer": tokenizer, "dataset": qa_dataset()}, **params
    )["dataset"]


def test_generate_answers_only_and_stops_at_end_of_text(ctx, chatbot, tokenizer):
    out = generate(ctx, chatbot, tokenizer, max_new_tokens=40)
    assert set(out.column_names) == {"question", "answer", "topic", "prediction", "reference"}
    assert out["reference"] == out["answer"]
    assert not any(
        prediction.startswith(("Question", "How", "Where")) for prediction in out["prediction"]
    )  # no prompt echo
    # the memorised answers come back whole, and generation ended at eos instead of running on to 40 tokens
    pairs = list(zip(out["prediction"], out["reference"], strict=False))
    exact = [prediction == reference for prediction, reference in pairs]
    assert sum(exact) >= 3, pairs


def test_left_padded_batches_match_one_prompt_at_a_time(ctx, chatbot, tokenizer):
    batched = generate(ctx, chatbot, tokenizer, batch_size=6)["prediction"]
    single = generate(ctx, chatbot, tokenizer, batch_size=1)["prediction"]
    assert batched == single


def test_sampling_is_deterministic_for_a_seed(ctx, chatbot, tokenizer):
    sampling = {"strategy": "sampling", "temperature": 1.5, "top_k": 0, "top_p": 1.0}
    first = generate(ctx, chatbot, tokenizer, seed=1, **sampling)["prediction"]
    assert generate(ctx, chatbot, tokenizer, seed=1, **sampling)["prediction"] == first
    assert generate(ctx, chatbot, tokenizer, seed=2, **sampling)["prediction"] != first


def test_beam_search_and_repetition_penalty_run(ctx, chatbot, tokenizer):
    beams = generate(ctx, chatbot, tokenizer, strategy="beam", num_beams=3, repetition_penalty=1.2)
    assert len(beams["prediction"]) == 6 and all(isinstance(text, str) for text in beams["prediction"])


def test_prompt_template_is_cut_before_the_answer():
    assert prompt_prefix("Question: {question}\nAnswer: {answer}", "answer") == "Question: {question}\nAnswer:"
    assert prompt_prefix("Q: {question}\nA:", "answer") == "Q: {question}\nA:"
    assert prompts_of(qa_dataset(), GenerateParams())[0] == "How do I reset my password?"
    with pytest.raises(NodeError, match="column 'query' is not in the dataset"):
        prompts_of(qa_dataset(), GenerateParams(prompt_template="Q: {query}\nA:"))
    with pytest.raises(NodeError, match="column 'prompt' is not in the dataset"):
        prompts_of(qa_dataset(), GenerateParams(prompt_column="prompt"))


def test_generate_refuses_a_max_new_tokens_longer_than_the_context_or_a_classifier(ctx, chatbot, tokenizer):
    with pytest.raises(NodeError, match="max_new_tokens"):
        generate(ctx, chatbot, tokenizer, max_new_tokens=500)
    shape = TINY_BERT_CLASSIFIER | {"num_labels": 2}
    classifier = run_node("model.from_config", ctx, {"tokenizer": tokenizer}, **shape)["model"]
    with pytest.raises(NodeError, match="cannot generate text"):
        generate(ctx, classifier, tokenizer)


def test_classify_predicts_probabilities_and_references(ctx, tokenizer):
    data = classification_dataset(tokenizer, repeats=4)
    inputs = {"tokenizer": tokenizer, "dataset": data}
    model = run_node("model.from_config", ctx, inputs, **TINY_BERT_CLASSIFIER, dropout=0.0)["model"]
    trained = run_node(
        "train.trainer",
        ctx,
        {"model": model, "train": data, "optimizer": {"lr": 3e-3}},
        epochs=6,
        batch_size=8,
        save_steps=0,
    )
    out = run_node(
        "infer.classify", ctx, {"model": trained["model"], "dataset": classification_dataset(tokenizer)}, batch_size=3
    )["dataset"]
    assert {"prediction", "reference", "probabilities", "text", "label"} <= set(out.column_names)
    assert out["reference"] == out["label"]
    assert all(abs(sum(row) - 1) < 1e-5 and len(row) == 2 for row in out["probabilities"])
    assert all(
        prediction == max(range(2), key=row.__getitem__)
        for prediction, row in zip(out["prediction"], out["probabilities"], strict=False)
    )
    accuracy = sum(p == r for p, r in zip(out["prediction"], out["reference"], strict=False)) / out.num_rows
    assert accuracy == 1.0  # eight training sentences, learnt by heart


def test_classify_needs_a_classifier_and_token_ids(ctx, chatbot, tokenizer):
    with pytest.raises(NodeError, match="not a classifier"):
        run_node("infer.classify", ctx, {"model": chatbot, "dataset": classification_dataset(tokenizer)})
    with pytest.raises(NodeError, match="no 'input_ids' column"):
        run_node("infer.classify", ctx, {"model": chatbot, "dataset": qa_dataset()})
