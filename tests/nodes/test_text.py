"""text.clean, text.train_tokenizer, text.load_tokenizer, text.tokenize and text.embed."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pytest
from transformers import AutoTokenizer

from nodeloom.engine import CancelToken, NodeError, RunContext
from nodeloom.engine.cache import default_cache
from nodeloom.engine.runner import run_pipeline
from nodeloom.engine.validation import load_pipeline
from nodeloom.nodes.bundled import bundled_model_path
from nodeloom.nodes.text import clean as text_clean
from nodeloom.nodes.text import embeddings, prompt, tokenization, tokenizers
from tests.support.tiny_models import tiny_bert


def context() -> RunContext:
    return RunContext("test", "node", "cpu", 0, Path("/tmp/nodeloom-test"), CancelToken(), lambda event: None)


def rows(**columns) -> datasets.Dataset:
    return datasets.Dataset.from_dict(columns)


def clean(dataset: datasets.Dataset, **params) -> dict:
    return text_clean.clean_text(context(), {"dataset": dataset}, text_clean.CleanParams(**params))


def operation(report: dict, name: str) -> int:
    entry = next(op for op in report["operations"] if op["operation"] == name)
    return entry.get("changed", entry.get("dropped"))


@pytest.fixture(scope="module")
def chat() -> datasets.Dataset:
    from nodeloom.nodes.data import LoadDatasetParams, load_dataset

    return load_dataset(context(), {}, LoadDatasetParams(source="builtin", name="chat_support", max_rows=120))[
        "dataset"
    ]


@pytest.fixture(scope="module")
def bpe(chat) -> object:
    return tokenizers.train_tokenizer(
        context(),
        {"dataset": chat},
        tokenizers.TrainTokenizerParams(kind="bpe", vocab_size=400, text_columns=["question", "answer"]),
    )["tokenizer"]


@pytest.fixture(scope="module")
def minilm_tokenizer() -> object:
    return tokenizers.load_tokenizer(context(), {}, tokenizers.LoadTokenizerParams())["tokenizer"]


# ---------------------------------------------------------------------------------------------
# text.clean


def test_clean_counts_what_each_operation_changed_and_dropped():
    dataset = rows(
        text=[
            "<p>Fish &amp; <b>Chips</b></p>",
            "Visit https://example.com/x now",
            "Write to help.desk@example.org today",
            "ＦＵＬＬ width",
            "  many   spaces  ",
            "<br>",
            "plain words",
            "plain words",
        ],
        label=list(range(8)),
    )
    result = clean(dataset, strip_html=True, remove_urls=True, remove_emails=True, lowercase=True, drop_duplicates=True)
    report = result["report"]
    assert result["dataset"]["text"] == [
        "fish & chips",
        "visit now",
        "write to today",
        "full width",
        "many spaces",
        "plain words",
    ]
    assert result["dataset"]["label"] == [0, 1, 2, 3, 4, 6]  # other columns stay aligned with their rows
    assert {op["operation"]: op.get("changed", op.get("dropped")) for op in report["operations"]} == {
        "normalize_unicode": 1,
        "strip_html": 2,
        "remove_urls": 1,
        "remove_emails": 1,
        "lowercase": 4,
        "collapse_whitespace": 5,
        "drop_empty": 1,
        "drop_duplicates": 1,
    }
    assert (report["rows_in"], report["rows_out"]) == (8, 6)


def test_clean_length_filters_in_words_and_characters():
    dataset = rows(text=["one", "one two three", "one two three four five six"])
    words = clean(dataset, min_length=2, max_length=4, length_unit="words")
    assert words["dataset"]["text"] == ["one two three"]
    assert operation(words["report"], "min_length") == 1 and operation(words["report"], "max_length") == 1
    characters = clean(dataset, max_length=13)
    assert characters["dataset"]["text"] == ["one", "one two three"]


def test_clean_checks_every_chosen_column_and_keeps_others_untouched():
    dataset = rows(question=["Hello  there", "   "], answer=["Fine", "Fine"], note=["  keep  me ", "x"])
    result = clean(dataset, columns=["question", "answer"], lowercase=True)
    assert result["dataset"].to_list() == [{"question": "hello there", "answer": "fine", "note": "  keep  me "}]


def test_clean_stops_naming_the_operation_that_emptied_the_dataset():
    with pytest.raises(
        NodeError, match="operation 'min_length' removed the last 2 rows.*min_length=50 characters; lower it"
    ):
        clean(rows(text=["short", "also short"]), min_length=50)
    with pytest.raises(NodeError, match="operation 'drop_empty' removed the last 2 rows"):
        clean(rows(text=["<p></p>", "https://only.example.com"]), strip_html=True, remove_urls=True)


def test_clean_bad_columns():
    with pytest.raises(NodeError, match="column 'body' is not in the dataset; its columns are: text, label"):
        clean(rows(text=["a"], label=[1]), columns=["body"])
    with pytest.raises(NodeError, match="column 'label' holds int64 values, not text"):
        clean(rows(text=["a"], label=[1]), columns=["label"])


# ---------------------------------------------------------------------------------------------
# text.train_tokenizer and text.load_tokenizer


@pytest.mark.parametrize(
    ("kind", "eos", "pad"),
    [("bpe", "<|endoftext|>", "<|pad|>"), ("wordpiece", "[SEP]", "[PAD]"), ("unigram", "</s>", "<pad>")],
)
def test_trained_tokenizers_have_eos_pad_and_survive_save_and_load(chat, tmp_path, kind, eos, pad):
    tokenizer = tokenizers.train_tokenizer(
        context(),
        {"dataset": chat},
        tokenizers.TrainTokenizerParams(
            kind=kind, vocab_size=500, text_columns=["question", "answer"], special_tokens=["<|user|>"]
        ),
    )["tokenizer"]
    assert (tokenizer.eos_token, tokenizer.pad_token) == (eos, pad) and tokenizer.pad_token_id != tokenizer.eos_token_id
    assert 100 < len(tokenizer) <= 501
    sample = "<|user|> Where is my order?"
    assert "<|user|>" in tokenizer.tokenize(sample)
    assert tokenizer.decode(tokenizer(sample, add_special_tokens=False)["input_ids"]).replace(
        " ", ""
    ) == sample.replace(" ", "")
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded(sample)["input_ids"] == tokenizer(sample)["input_ids"]
    assert (reloaded.eos_token, reloaded.pad_token) == (eos, pad)


def test_wordpiece_is_bert_style(chat):
    tokenizer = tokenizers.train_tokenizer(
        context(),
        {"dataset": chat},
        tokenizers.TrainTokenizerParams(kind="wordpiece", vocab_size=500, text_columns=["question"], lowercase=True),
    )["tokenizer"]
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("Where is my ORDER?")["input_ids"])
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "order" in tokens
    assert {"[UNK]", "[MASK]", "[PAD]"} <= set(tokenizer.get_vocab())


def test_train_tokenizer_bad_column(chat):
    with pytest.raises(
        NodeError, match="column 'text' is not in the dataset; its columns are: question, answer, topic"
    ):
        tokenizers.train_tokenizer(context(), {"dataset": chat}, tokenizers.TrainTokenizerParams())


def test_load_bundled_tokenizer_offline(minilm_tokenizer):
    assert minilm_tokenizer.is_fast and len(minilm_tokenizer) == 30522
    assert (minilm_tokenizer.eos_token, minilm_tokenizer.pad_token) == ("[SEP]", "[PAD]")


def test_load_tokenizer_errors(tmp_path):
    def load(name: str):
        return tokenizers.load_tokenizer(context(), {}, tokenizers.LoadTokenizerParams(name_or_path=name))

    with pytest.raises(
        NodeError,
        match=(
            "'gpt2' is not a local folder and the Hugging Face Hub is unreachable"
            ".*bundled:minilm or the path of a local folder"
        ),
    ):
        load("gpt2")
    with pytest.raises(NodeError, match="unknown bundled model 'bundled:gpt'; bundled models: bundled:minilm"):
        load("bundled:gpt")
    with pytest.raises(NodeError, match="folder '/nonexistent/tok' does not exist"):
        load("/nonexistent/tok")
    assert tokenizers.LoadTokenizerParams().trust_remote_code is False


def test_train_tokenizer_pretrained_switch_loads_instead_of_training(chat, bpe, tmp_path):
    bpe.save_pretrained(tmp_path / "saved")
    loaded = tokenizers.train_tokenizer(
        context(),
        {"dataset": chat},
        tokenizers.TrainTokenizerParams(pretrained=str(tmp_path / "saved"), vocab_size=5000),
    )["tokenizer"]
    assert len(loaded) == len(bpe) and loaded.eos_token == bpe.eos_token and loaded.pad_token == bpe.pad_token
    assert loaded("Where is my order?")["input_ids"] == bpe("Where is my order?")["input_ids"]
    with pytest.raises(
        NodeError, match=r"parameter 'pretrained': 'gpt2' is not a local folder and the Hugging Face Hub is unreachable"
    ):
        tokenizers.train_tokenizer(context(), {"dataset": chat}, tokenizers.TrainTokenizerParams(pretrained="gpt2"))


# ---------------------------------------------------------------------------------------------
# text.split_prompt


def split_prompt(dataset, **params) -> datasets.Dataset:
    return prompt.split_prompt(context(), {"dataset": dataset}, prompt.SplitPromptParams(**params))["dataset"]


def test_split_prompt_cuts_after_n_words_and_drops_passages_too_short():
    passages = rows(text=["one two three four five six", "one two", "  a   b\nc d  ", ""])
    result = split_prompt(passages, prompt_words=2)
    assert result.column_names == ["prompt", "continuation"]
    assert result.to_list() == [
        {"prompt": "one two", "continuation": "three four five six"},
        {"prompt": "a b", "continuation": "c d"},
    ]
    assert split_prompt(passages, prompt_words=2, continuation_words=1)["continuation"] == ["three", "c"]


def test_split_prompt_bad_inputs():
    with pytest.raises(
        NodeError, match="no passage in column 'text' has more than prompt_words=5 words; lower 'prompt_words'"
    ):
        split_prompt(rows(text=["too short"]), prompt_words=5)
    with pytest.raises(NodeError, match="parameter 'text_column': column 'body' is not in the dataset"):
        split_prompt(rows(text=["a b c"]), text_column="body")


# ---------------------------------------------------------------------------------------------
# text.tokenize


def tokenize(dataset, tokenizer, **params) -> dict:
    return tokenization.tokenize(
        context(), {"dataset": dataset, "tokenizer": tokenizer}, tokenization.TokenizeParams(**params)
    )


def test_causal_lm_fills_the_template_appends_eos_and_packs(chat, bpe):
    result = tokenize(chat, bpe, prompt_template="Question: {question}\nAnswer: {answer}", block_size=32)
    packed, report = result["dataset"], result["report"]
    assert packed.column_names == ["input_ids", "attention_mask", "labels"]
    assert all(len(ids) == 32 for ids in packed["input_ids"]) and packed["labels"] == packed["input_ids"]
    assert all(all(mask) for mask in packed["attention_mask"])
    # the stream is the examples, each followed by eos, in order
    expected = []
    for question, answer in zip(chat["question"], chat["answer"], strict=False):
        expected += bpe(f"Question: {question}\nAnswer: {answer}", add_special_tokens=False)["input_ids"] + [
            bpe.eos_token_id
        ]
    assert sum(packed["input_ids"], []) == expected[: len(expected) // 32 * 32]
    assert report["examples"] == 120 and report["tokens"] == len(expected)
    assert report["tokens_dropped"] == len(expected) % 32 and report["blocks"] == packed.num_rows
    stats = report["example_tokens"]
    assert stats["min"] <= stats["p50"] <= stats["p95"] <= stats["max"] and sum(stats["histogram"]["counts"]) == 120
    assert bpe.decode(packed[0]["input_ids"]).startswith("Question: ")


def test_causal_lm_uses_text_column_without_template(bpe):
    result = tokenize(rows(text=["Where is my order?"] * 20), bpe, block_size=8)
    per_example = len(bpe("Where is my order?")["input_ids"]) + 1
    assert result["report"]["tokens"] == 20 * per_example


def test_causal_lm_without_packing_keeps_one_example_per_row(chat, bpe):
    result = tokenize(chat, bpe, prompt_template="Question: {question}\nAnswer: {answer}", block_size=64, packing=False)
    unpacked, report = result["dataset"], result["report"]
    assert unpacked.num_rows == chat.num_rows == report["blocks"]
    first = bpe(f"Question: {chat[0]['question']}\nAnswer: {chat[0]['answer']}", add_special_tokens=False)[
        "input_ids"
    ] + [bpe.eos_token_id]
    assert unpacked[0]["input_ids"] == first[:64] and unpacked[0]["labels"] == unpacked[0]["input_ids"]
    assert all(len(ids) <= 64 for ids in unpacked["input_ids"]) and len(set(map(len, unpacked["input_ids"]))) > 1
    assert report["tokens_in_blocks"] + report["tokens_dropped"] == report["tokens"]
    assert report["tokens_in_blocks"] == sum(map(len, unpacked["input_ids"]))


def test_causal_lm_bad_inputs(chat, bpe):
    with pytest.raises(
        NodeError,
        match=(
            "parameter 'prompt_template': column 'reply' is not in the dataset; "
            "its columns are: question, answer, topic"
        ),
    ):
        tokenize(chat, bpe, prompt_template="Q: {question} A: {reply}")
    with pytest.raises(NodeError, match="parameter 'text_column': column 'text' is not in the dataset"):
        tokenize(chat, bpe)
    with pytest.raises(NodeError, match="prompt_template.*Single '}'"):
        tokenize(chat, bpe, prompt_template="Q: {question}}")
    with pytest.raises(NodeError, match="names no column"):
        tokenize(chat, bpe, prompt_template="no columns here")
    with pytest.raises(NodeError, match="less than one block of block_size=4096; lower 'block_size'"):
        tokenize(rows(text=["tiny"]), bpe, block_size=4096)


def test_classification_keeps_text_and_label_and_truncates(minilm_tokenizer):
    dataset = rows(text=["great film", "terrible food " * 40, "fine"], label=[1, 0, 1], source=["a", "b", "c"])
    result = tokenize(dataset, minilm_tokenizer, task="classification", max_length=16)
    tokenized, report = result["dataset"], result["report"]
    assert {"input_ids", "attention_mask", "labels", "text", "label"} <= set(tokenized.column_names)
    assert "source" not in tokenized.column_names
    assert tokenized["labels"] == [1, 0, 1] and tokenized["label"] == [1, 0, 1]
    assert [len(ids) for ids in tokenized["input_ids"]] == [4, 16, 3]
    assert report["at_max_length"] == 1 and report["examples"] == 3 and report["tokens"] == 23


def test_classification_turns_label_names_into_class_ids(minilm_tokenizer):
    dataset = rows(text=["a", "b", "c"], label=["spam", "ham", "spam"])
    tokenized = tokenize(dataset, minilm_tokenizer, task="classification")["dataset"]
    assert tokenized["labels"] == [1, 0, 1]
    assert tokenized.features["labels"].names == ["ham", "spam"]
    assert tokenized["label"] == ["spam", "ham", "spam"]


def test_classification_bad_inputs(minilm_tokenizer):
    with pytest.raises(
        NodeError, match="parameter 'label_column': column 'label' is not in the dataset; its columns are: text"
    ):
        tokenize(rows(text=["a"]), minilm_tokenizer, task="classification")
    with pytest.raises(NodeError, match="column 'label' has rows without a label"):
        tokenize(rows(text=["a", "b"], label=[1, None]), minilm_tokenizer, task="classification")
    with pytest.raises(NodeError, match="column 'label' has rows without a label"):
        tokenize(rows(text=["a", "b"], label=[1, -1]), minilm_tokenizer, task="classification")
    with pytest.raises(NodeError, match="column 'label' holds .*float.*not class ids or names"):
        tokenize(rows(text=["a", "b"], label=[0.5, 1.5]), minilm_tokenizer, task="classification")


# ---------------------------------------------------------------------------------------------
# text.embed

SENTENCES = [
    "How do I get a refund for my order?",
    "When will my money be returned after I send the item back?",
    "The pasta was delicious and the waiter was friendly.",
    "Great food and lovely staff at this restaurant.",
]


def test_sentence_embeddings_are_meaningful_with_the_bundled_minilm():
    dataset = rows(text=SENTENCES, label=[0, 0, 1, 1])
    embedded = embeddings.embed(context(), {"dataset": dataset}, embeddings.EmbedParams(batch_size=3))["embeddings"]
    assert embedded.column_names == ["text", "label", "embedding", "x", "y"]
    vectors = np.array(embedded["embedding"])
    assert vectors.shape == (4, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] and similarity[2, 3] > similarity[1, 3]  # refunds vs restaurants
    points = np.array([embedded["x"], embedded["y"]]).T
    assert np.linalg.norm(points[0] - points[1]) < np.linalg.norm(points[0] - points[2])
    summary = embeddings._embed_summary({"embeddings": embedded})
    assert summary["dimensions"] == 384 and len(summary["points"]) == 4


def test_word_vectors_with_a_connected_model(minilm_tokenizer):
    tiny = tiny_bert(len(minilm_tokenizer))
    dataset = rows(text=["the order the order", "money money the"])
    embedded = embeddings.embed(
        context(),
        {"dataset": dataset, "model": tiny, "tokenizer": minilm_tokenizer},
        embeddings.EmbedParams(mode="word", max_words=3),
    )["embeddings"]
    assert embedded["word"] == ["the", "order", "money"] and embedded["count"] == [3, 2, 2]
    expected = tiny.get_input_embeddings().weight[minilm_tokenizer.convert_tokens_to_ids("order")].detach().numpy()
    assert np.allclose(embedded["embedding"][1], expected / np.linalg.norm(expected), atol=1e-5)
    assert tiny.training, "the connected model is left as it was"
    sentences = embeddings.embed(
        context(), {"dataset": dataset, "model": tiny, "tokenizer": minilm_tokenizer}, embeddings.EmbedParams()
    )["embeddings"]
    assert len(sentences["embedding"][0]) == 32


def test_embed_bad_inputs(minilm_tokenizer):
    with pytest.raises(NodeError, match="connect both a model and its tokenizer, or neither"):
        embeddings.embed(
            context(), {"dataset": rows(text=["a"]), "tokenizer": minilm_tokenizer}, embeddings.EmbedParams()
        )
    with pytest.raises(NodeError, match="column 'sentence' is not in the dataset; its columns are: text"):
        embeddings.embed(context(), {"dataset": rows(text=["a"])}, embeddings.EmbedParams(text_column="sentence"))
    with pytest.raises(
        NodeError,
        match="parameter 'model': 'org/missing' is not a local folder and the Hugging Face Hub is unreachable",
    ):
        embeddings.embed(context(), {"dataset": rows(text=["a"])}, embeddings.EmbedParams(model="org/missing"))


def test_bundled_path_is_the_minilm_folder():
    folder = Path(bundled_model_path("minilm"))
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    with pytest.raises(KeyError, match="bundled models: bundled:minilm"):
        bundled_model_path("nothing")


# ---------------------------------------------------------------------------------------------
# through the engine: cache and reload


def text_pipeline() -> dict:
    return {
        "schema_version": 1,
        "name": "text preprocessing",
        "nodes": [
            {
                "id": "load",
                "type": "data.load_dataset",
                "params": {"source": "builtin", "name": "chat_support", "max_rows": 60},
            },
            {
                "id": "clean",
                "type": "text.clean",
                "params": {"columns": ["question", "answer"], "drop_duplicates": True},
            },
            {
                "id": "vocab",
                "type": "text.train_tokenizer",
                "params": {"vocab_size": 400, "text_columns": ["question", "answer"]},
            },
            {
                "id": "tokens",
                "type": "text.tokenize",
                "params": {"prompt_template": "Question: {question}\nAnswer: {answer}", "block_size": 64},
            },
            {"id": "bert", "type": "text.load_tokenizer", "params": {}},
            {"id": "vectors", "type": "text.embed", "params": {"text_column": "question", "batch_size": 16}},
        ],
        "edges": [
            {"source": "load", "target": "clean", "source_port": "dataset", "target_port": "dataset"},
            {"source": "clean", "target": "vocab", "source_port": "dataset", "target_port": "dataset"},
            {"source": "clean", "target": "tokens", "source_port": "dataset", "target_port": "dataset"},
            {"source": "vocab", "target": "tokens", "source_port": "tokenizer", "target_port": "tokenizer"},
            {"source": "clean", "target": "vectors", "source_port": "dataset", "target_port": "dataset"},
        ],
    }


def test_text_outputs_are_cached_and_reload_from_disk_in_a_new_run():
    first = run_pipeline(load_pipeline(text_pipeline()), device="cpu")
    assert first.status == "succeeded", {node_id: result.error for node_id, result in first.nodes.items()}
    blocks = first.outputs("tokens")["dataset"]["input_ids"]
    summary = first.nodes["tokens"].summary
    assert summary["report"]["examples"] == 60 and summary["rows"] == len(blocks)
    assert first.nodes["clean"].summary["report"]["rows_in"] == 60
    assert first.nodes["vocab"].summary["vocab_size"] == 400
    assert first.nodes["vectors"].summary["dimensions"] == 384
    json.dumps({node_id: result.summary for node_id, result in first.nodes.items()})  # previews are plain JSON

    second = run_pipeline(load_pipeline(text_pipeline()), device="cpu")
    assert all(result.cached for result in second.nodes.values())
    default_cache().clear_memory()
    third = run_pipeline(load_pipeline(text_pipeline()), device="cpu")
    assert all(result.cached for result in third.nodes.values())
    assert third.outputs("tokens")["dataset"]["input_ids"] == blocks  # Arrow, read back from disk
    tokenizer = third.outputs("vocab")["tokenizer"]  # save_pretrained folder, read back
    assert (tokenizer.eos_token, tokenizer.pad_token, len(tokenizer)) == ("<|endoftext|>", "<|pad|>", 400)
    assert third.outputs("bert")["tokenizer"].eos_token == "[SEP]"
    assert third.outputs("clean")["report"]["rows_out"] == first.outputs("clean")["report"]["rows_out"]
    assert len(third.outputs("vectors")["embeddings"][0]["embedding"]) == 384


def test_nodes_never_write_into_the_cache_entries_they_read(nodeloom_home):
    run_pipeline(load_pipeline(text_pipeline()), device="cpu", targets=["tokens"])
    changed = text_pipeline()
    for node_index, param, value in ((3, "block_size", 32), (1, "lowercase", True)):  # tokenize, then clean
        default_cache().clear_memory()  # the changed node reads its input from a cached entry on disk
        changed["nodes"][node_index]["params"][param] = value
        assert run_pipeline(load_pipeline(changed), device="cpu", targets=["tokens"]).status == "succeeded"
        assert not list((nodeloom_home / "cache").rglob("cache-*.arrow")), "datasets wrote a cache file into an entry"
