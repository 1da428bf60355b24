"""Tokenizer nodes: text.train_tokenizer and text.load_tokenizer, and loading pretrained tokenizers and models."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from nodeloom.engine import Input, NodeError, NodeParams, Output, RunContext, node
from nodeloom.engine.types import DATASET, TOKENIZER
from nodeloom.nodes.bundled import BUNDLED_PREFIX, hub_unreachable, resolve_name_or_path
from nodeloom.nodes.text.common import MAP_BATCH, require_text_column


def _tokenizer_summary(outputs: dict) -> dict:
    tokenizer = outputs["tokenizer"]
    return {
        "class": type(tokenizer).__name__,
        "model": type(tokenizer.backend_tokenizer.model).__name__,
        "vocab_size": len(tokenizer),
        "special_tokens": {name: str(value) for name, value in tokenizer.special_tokens_map.items()},
        "example": tokenizer.tokenize("Where is my order? It hasn't arrived yet.")[:32],
    }


def from_pretrained(loader: Any, name_or_path: str, where: str, **options: Any) -> Any:
    """`loader.from_pretrained` on a bundled name, local folder or Hub name, with one-line errors."""
    try:
        source = resolve_name_or_path(name_or_path)
    except (KeyError, FileNotFoundError) as exc:
        raise NodeError(f"{where}: {exc}") from exc
    local = Path(source).expanduser()
    if source.startswith(("/", "./", "../", "~")) and not local.exists():
        raise NodeError(
            f"{where}: folder '{name_or_path}' does not exist; "
            f"give a folder written by save_pretrained, a Hub name or {BUNDLED_PREFIX}minilm"
        )
    if local.exists() and not local.is_dir():
        raise NodeError(
            f"{where}: '{name_or_path}' is a file; give the folder that holds it (with its config and tokenizer files)"
        )
    try:
        return loader.from_pretrained(str(local) if local.is_dir() else source, **options)
    except Exception as exc:
        if not local.is_dir() and hub_unreachable(exc):
            raise NodeError(
                f"{where}: '{name_or_path}' is not a local folder "
                "and the Hugging Face Hub is unreachable (offline or no network); "
                f"use {BUNDLED_PREFIX}minilm or the path of a local folder"
            ) from exc
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise NodeError(f"{where}: could not load '{name_or_path}': {first_line}") from exc


def ensure_eos_and_pad(tokenizer: Any, ctx: RunContext, where: str) -> Any:
    """Give a pretrained tokenizer the eos and pad tokens every NodeLoom tokenizer has.

    BERT-style tokenizers end a sequence with [SEP], so that becomes eos; GPT-style ones have no
    pad token, so eos doubles as pad (batches are masked by attention_mask, not by the pad id).
    """
    if tokenizer.eos_token is None:
        if tokenizer.sep_token is None:
            raise NodeError(
                f"{where}: the tokenizer has neither an end-of-text (eos) nor a separator token; "
                "NodeLoom needs one to end examples"
            )
        tokenizer.eos_token = tokenizer.sep_token
        ctx.log(f"no eos token: using the separator token {tokenizer.sep_token} as eos")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
        ctx.log(f"no pad token: using the eos token {tokenizer.eos_token} as pad")
    return tokenizer


# ---------------------------------------------------------------------------------------------
# text.train_tokenizer


class TrainTokenizerParams(NodeParams):
    kind: Literal["bpe", "wordpiece", "unigram"] = Field(
        "bpe", description="bpe: byte-level BPE (GPT-2 style); wordpiece: BERT style; unigram: SentencePiece style"
    )
    vocab_size: int = Field(
        8000, ge=300, le=200_000, description="Largest vocabulary to learn (small data may give fewer)"
    )
    min_frequency: int = Field(
        2,
        ge=1,
        le=1_000_000_000,
        description="bpe and wordpiece: ignore merges seen fewer times than this (unigram has no such setting)",
    )
    text_columns: list[str] = Field(["text"], min_length=1, description="Text columns to learn from")
    lowercase: bool = Field(False, description="Lower-case text before tokenizing (as uncased BERT does)")
    special_tokens: list[str] = Field([], description="Extra special tokens that are never split, e.g. chat markers")
    model_max_length: int = Field(
        1024, ge=8, le=1_000_000, description="Longest sequence the tokenizer will claim to handle"
    )
    pretrained: str = Field(
        "",
        description=(
            "Skip training and load this pretrained tokenizer (Hub name or local folder, e.g. gpt2) "
            "to match a pretrained model"
        ),
    )


SPECIALS = {  # kind -> (eos, pad, unk, other special tokens)
    "bpe": ("<|endoftext|>", "<|pad|>", None, ()),
    "wordpiece": ("[SEP]", "[PAD]", "[UNK]", ("[CLS]", "[MASK]")),
    "unigram": ("</s>", "<pad>", "<unk>", ()),
}


def _build_tokenizer(params: TrainTokenizerParams) -> tuple[Any, Any]:
    """An untrained `tokenizers.Tokenizer` and its trainer for `params.kind`."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    eos, pad, unk, others = SPECIALS[params.kind]
    specials = [token for token in (pad, unk, *others, eos) if token] + [
        t for t in params.special_tokens if t not in (pad, unk, eos, *others)
    ]
    if params.kind == "bpe":
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
        trainer = trainers.BpeTrainer(
            vocab_size=params.vocab_size,
            min_frequency=params.min_frequency,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        if params.lowercase:
            tokenizer.normalizer = normalizers.Lowercase()
    elif params.kind == "wordpiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token=unk))
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=params.lowercase)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(
            vocab_size=params.vocab_size,
            min_frequency=params.min_frequency,
            special_tokens=specials,
            show_progress=False,
        )
    else:
        tokenizer = Tokenizer(models.Unigram())
        tokenizer.normalizer = normalizers.Sequence(
            [normalizers.NFKC(), *([normalizers.Lowercase()] if params.lowercase else [])]
        )
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(
            vocab_size=params.vocab_size, special_tokens=specials, unk_token=unk, show_progress=False
        )
    return tokenizer, trainer


@node(
    "text.train_tokenizer",
    title="Train tokenizer",
    category="text",
    inputs=[Input("dataset", DATASET, description="Text to learn the vocabulary from")],
    outputs=[Output("tokenizer", TOKENIZER, "A transformers fast tokenizer with eos and pad tokens")],
    params=TrainTokenizerParams,
    key_params=("kind", "vocab_size"),
    summarize=_tokenizer_summary,
)
def train_tokenizer(ctx: RunContext, inputs: dict, params: TrainTokenizerParams) -> dict:
    """Train a new tokenizer on the dataset's text: byte-level BPE, WordPiece or Unigram.

    bpe (GPT-2 style) ends examples with <|endoftext|> and pads with <|pad|>; wordpiece (BERT
    style) adds [CLS] … [SEP] around each text and has [PAD], [UNK] and [MASK]; unigram uses
    </s>, <pad> and <unk>.

    With `pretrained` set (e.g. `gpt2`) it loads that tokenizer instead, for pipelines switched
    to a pretrained model by `--set`.
    """
    from tokenizers import processors
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    if params.pretrained:
        # a pretrained model only understands its own vocabulary: training a new one would break it
        tokenizer = from_pretrained(AutoTokenizer, params.pretrained, "text.train_tokenizer: parameter 'pretrained'")
        ensure_eos_and_pad(tokenizer, ctx, "text.train_tokenizer")
        ctx.log(
            f"loaded {type(tokenizer).__name__} with {len(tokenizer)} tokens from {params.pretrained} "
            "instead of training one"
        )
        return {"tokenizer": tokenizer}
    dataset = inputs["dataset"]
    for column in params.text_columns:
        require_text_column(dataset, column, "text.train_tokenizer: parameter 'text_columns'")
    if dataset.num_rows == 0:
        raise NodeError("text.train_tokenizer: the dataset has no rows to learn from")
    tokenizer, trainer = _build_tokenizer(params)

    def texts():
        for start, batch in enumerate(dataset.select_columns(params.text_columns).iter(batch_size=MAP_BATCH)):
            ctx.check_cancelled()
            ctx.progress(min(1.0, start * MAP_BATCH / dataset.num_rows), "reading text")
            yield [value for column in params.text_columns for value in batch[column] if value]

    tokenizer.train_from_iterator(texts(), trainer=trainer, length=dataset.num_rows)
    eos, pad, unk, _others = SPECIALS[params.kind]
    if params.kind == "wordpiece":
        cls, sep = "[CLS]", "[SEP]"
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{cls} $A {sep}",
            pair=f"{cls} $A {sep} $B:1 {sep}:1",
            special_tokens=[(cls, tokenizer.token_to_id(cls)), (sep, tokenizer.token_to_id(sep))],
        )
    names = {"eos_token": eos, "pad_token": pad}
    if params.kind == "bpe":
        names |= {"bos_token": eos, "unk_token": eos}  # as GPT-2: byte-level BPE never meets an unknown token
    else:
        names |= {"unk_token": unk}
    if params.kind == "wordpiece":
        names |= {"cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"}
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_max_length=params.model_max_length, **names)
    if params.special_tokens:
        wrapped.add_special_tokens({"additional_special_tokens": list(params.special_tokens)})
    if len(wrapped) < params.vocab_size:
        ctx.log(
            f"learned {len(wrapped)} tokens, fewer than vocab_size={params.vocab_size}: the text has no more to learn",
            "warning",
        )
    ctx.log(f"trained a {params.kind} tokenizer with {len(wrapped)} tokens on {dataset.num_rows} rows")
    return {"tokenizer": wrapped}


# ---------------------------------------------------------------------------------------------
# text.load_tokenizer


class LoadTokenizerParams(NodeParams):
    name_or_path: str = Field(
        "bundled:minilm",
        min_length=1,
        description="bundled:minilm (offline BERT tokenizer), a local folder or a Hub name",
    )
    revision: str = Field("main", min_length=1, description="Hub branch, tag or commit")
    trust_remote_code: bool = Field(
        False, description="Run Python code shipped with the tokenizer (only for sources you trust)"
    )


TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "spiece.model",
    "tokenizer.model",
)


def _tokenizer_files(params: LoadTokenizerParams) -> list[str]:
    try:
        folder = Path(resolve_name_or_path(params.name_or_path)).expanduser()
    except (KeyError, FileNotFoundError):  # reported by the node itself
        return []
    return [str(folder / name) for name in TOKENIZER_FILES if (folder / name).is_file()] if folder.is_dir() else []


@node(
    "text.load_tokenizer",
    title="Load tokenizer",
    category="text",
    outputs=[Output("tokenizer", TOKENIZER, "A transformers fast tokenizer with eos and pad tokens")],
    params=LoadTokenizerParams,
    key_params=("name_or_path",),
    external_files=_tokenizer_files,
    summarize=_tokenizer_summary,
)
def load_tokenizer(ctx: RunContext, inputs: dict, params: LoadTokenizerParams) -> dict:
    """Load a pretrained fast tokenizer: bundled:minilm (works offline), a local folder or a Hub name."""
    from transformers import AutoTokenizer

    where = "text.load_tokenizer: parameter 'name_or_path'"
    tokenizer = from_pretrained(
        AutoTokenizer, params.name_or_path, where, revision=params.revision, trust_remote_code=params.trust_remote_code
    )
    if not tokenizer.is_fast:
        raise NodeError(
            f"{where}: '{params.name_or_path}' has only a slow (Python) tokenizer; "
            "NodeLoom needs a fast one (a tokenizer.json)"
        )
    ensure_eos_and_pad(tokenizer, ctx, "text.load_tokenizer")
    ctx.log(f"loaded {type(tokenizer).__name__} with {len(tokenizer)} tokens from {params.name_or_path}")
    return {"tokenizer": tokenizer}
