"""Tiny tokenizers, datasets and pipelines for the model, training and inference tests.

Everything is built in memory (no Hub, no files): a byte-level BPE tokenizer trained on a few
sentences, a packed causal-LM dataset and a padded-by-collator classification dataset, both
following the TOKENIZED_DATASET port contract. `run_graph` runs real node types behind
`fixture.*` source nodes that hand those objects to the graph.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from nodeloom.engine import NodeParams, Output, node
from nodeloom.engine.context import CancelToken, RunContext
from nodeloom.engine.node import REGISTRY, Registry, discover
from nodeloom.engine.runner import RunResult, run_pipeline
from nodeloom.engine.types import DATASET, MODEL, TOKENIZED_DATASET, TOKENIZER
from nodeloom.engine.validation import load_pipeline

EOS, PAD = "<|endoftext|>", "<pad>"
QA_PAIRS = [
    ("How do I reset my password?", "Open settings and choose reset password."),
    ("Where is my order?", "Check the orders page for tracking."),
    ("Can I get a refund?", "Yes, within thirty days of delivery."),
    ("How do I contact support?", "Write to the support team from the help page."),
    ("Do you ship abroad?", "Yes, we ship to most countries."),
    ("How long does delivery take?", "Delivery takes three to five days."),
]
REVIEWS = [
    ("great phone, works well", 1),
    ("excellent sound and battery", 1),
    ("I love this headset", 1),
    ("very good value, happy", 1),
    ("terrible, broke after a day", 0),
    ("bad battery and poor sound", 0),
    ("I hate this charger", 0),
    ("awful quality, do not buy", 0),
]
QA_TEMPLATE = "Question: {question}\nAnswer: {answer}"
# model.from_config parameters of a GPT-2 small enough to train in a test
TINY_GPT = {"n_layer": 2, "n_head": 2, "n_embd": 32, "n_positions": 64}
# ... and of a BERT sequence classifier of the same size
TINY_BERT_CLASSIFIER = {"architecture": "bert", "task": "classification", **TINY_GPT}


def tiny_tokenizer():
    """A byte-level BPE tokenizer (vocabulary ~300) with eos and pad tokens, as text.train_tokenizer gives."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=[EOS, PAD], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    corpus = [QA_TEMPLATE.format(question=q, answer=a) for q, a in QA_PAIRS] + [text for text, _ in REVIEWS]
    bpe.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=EOS, pad_token=PAD)


def tiny_bert(vocab_size: int):
    """A bare BERT encoder (no head) of TINY_GPT's size, for nodes that take any encoder model."""
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=TINY_GPT["n_embd"],
        num_hidden_layers=TINY_GPT["n_layer"],
        num_attention_heads=TINY_GPT["n_head"],
        intermediate_size=2 * TINY_GPT["n_embd"],
    )
    return BertModel(config)


def qa_dataset():
    """The chat_support shape: question / answer / topic columns."""
    import datasets

    return datasets.Dataset.from_dict(
        {"question": [q for q, _ in QA_PAIRS], "answer": [a for _, a in QA_PAIRS], "topic": ["account"] * len(QA_PAIRS)}
    )


def causal_dataset(tokenizer, block_size: int = 16, repeats: int = 4):
    """Templated Q&A text, tokenized, joined with eos and packed into blocks; labels copy input_ids."""
    import datasets

    ids: list[int] = []
    for _ in range(repeats):
        for question, answer in QA_PAIRS:
            ids += tokenizer(QA_TEMPLATE.format(question=question, answer=answer))["input_ids"] + [
                tokenizer.eos_token_id
            ]
    blocks = [ids[start : start + block_size] for start in range(0, len(ids) - block_size + 1, block_size)]
    return datasets.Dataset.from_dict(
        {"input_ids": blocks, "attention_mask": [[1] * block_size for _ in blocks], "labels": [list(b) for b in blocks]}
    )


def classification_dataset(tokenizer, repeats: int = 1):
    """Reviews with text/label kept and unpadded input_ids/attention_mask/labels, as text.tokenize gives."""
    import datasets

    rows = REVIEWS * repeats
    encoded = tokenizer([text for text, _ in rows])
    return datasets.Dataset.from_dict(
        {
            "text": [text for text, _ in rows],
            "label": [label for _, label in rows],
            "input_ids": encoded["input_ids"],
            "attention_mask": encoded["attention_mask"],
            "labels": [label for _, label in rows],
        }
    )


def context(tmp_path, seed: int = 0, events: list | None = None, cancel: CancelToken | None = None) -> RunContext:
    """A RunContext for calling a node's run function directly."""
    return RunContext(
        run_id="test",
        node_id="node",
        device="cpu",
        seed=seed,
        workdir=tmp_path / "work",
        cancel=cancel or CancelToken(),
        emit=(events.append if events is not None else lambda event: None),
    )


def run_node(type_id: str, ctx: RunContext, inputs: dict[str, Any], **params: Any) -> dict[str, Any]:
    """Validate params like the runner does, then run the node type."""
    node_type = discover().get(type_id)
    return node_type.run(ctx, inputs, node_type.params.model_validate(params))


# ---------------------------------------------------------------------------------------------
# running real node types inside a pipeline, fed by in-memory fixtures

FIXTURES: dict[str, Any] = {}  # name -> value, read by the fixture.* source nodes
FIXTURE_REGISTRY = Registry()


class FixtureParams(NodeParams):
    name: str = Field(..., description="Key into FIXTURES")


def _fixture_source(type_id: str, port_type) -> None:
    @node(
        type_id,
        title=type_id,
        category="fixture",
        outputs=[Output("value", port_type)],
        params=FixtureParams,
        registry=FIXTURE_REGISTRY,
    )
    def source(ctx, inputs, params):
        """Hand a test fixture to the graph."""
        return {"value": FIXTURES[params.name]}


for _type_id, _port_type in [
    ("fixture.model", MODEL),
    ("fixture.tokenizer", TOKENIZER),
    ("fixture.dataset", DATASET),
    ("fixture.tokens", TOKENIZED_DATASET),
]:
    _fixture_source(_type_id, _port_type)


def run_graph(
    nodes: list[dict], edges: list[dict], listeners=(), cancel: CancelToken | None = None, seed: int = 0
) -> RunResult:
    """Run a pipeline of real node types plus fixture sources, on the CPU."""
    discover()
    registry = Registry(types={**REGISTRY.types, **FIXTURE_REGISTRY.types})
    pipeline = load_pipeline(
        {
            "schema_version": 1,
            "name": "test",
            "settings": {"seed": seed, "device": "cpu"},
            "nodes": nodes,
            "edges": edges,
        },
        registry=registry,
    )
    return run_pipeline(pipeline, listeners=listeners, cancel=cancel, registry=registry)
