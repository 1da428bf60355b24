"""Text nodes: cleaning, tokenizers (trained or pretrained), tokenization and embeddings."""

from __future__ import annotations

import itertools
import re
import string
import unicodedata
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from nodeloom.engine import Input, NodeError, NodeParams, Output, RunContext, node
from nodeloom.engine.types import DATASET, EMBEDDINGS, MODEL, REPORT, TOKENIZED_DATASET, TOKENIZER
from nodeloom.nodes.bundled import BUNDLED_PREFIX, hub_unreachable, resolve_name_or_path
from nodeloom.nodes.data import column_values, dataset_preview, dataset_summary, require_columns

WHITESPACE = re.compile(r"\s+")
URL = re.compile(r"(?:https?://|ftp://|www\.)[^\s<>\"']+", re.IGNORECASE)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
MAP_BATCH = 1000  # rows per datasets.map batch
# Every map and select here keeps its result in memory (keep_in_memory=True) and never reads an
# old result back (load_from_cache_file=False): left to itself, datasets writes and reads cache
# files next to the input's Arrow files, which may be an entry of NodeLoom's output cache that
# must not change. The engine caches the outputs itself.
HISTOGRAM_BINS = 20
MAP_CODE_VERSION = "1"  # part of every map fingerprint: bump when a map function's output changes for the same input


def require_text_column(dataset: Any, column: str, where: str) -> None:
    """Stop unless `column` exists and holds text."""
    require_columns(dataset, [column], where)
    dtype = getattr(dataset.features[column], "dtype", None)
    if dtype not in ("string", "large_string"):
        raise NodeError(f"{where}: column '{column}' holds {dtype or type(dataset.features[column]).__name__} values, not text; choose a text column")


def text_column_values(dataset: Any, column: str, where: str) -> list[str]:
    """A text column as Python strings (None as ""), after checking it exists and holds text."""
    require_text_column(dataset, column, where)
    return [value or "" for value in column_values(dataset, column)]


def length_statistics(lengths: Any) -> dict[str, Any]:
    """Min, mean, percentiles, max and a histogram of a list of lengths (JSON numbers only)."""
    import numpy as np

    values = np.asarray(lengths, dtype=np.int64)
    if values.size == 0:
        return {"count": 0}
    percentiles = np.percentile(values, [50, 90, 95, 99])
    counts, edges = np.histogram(values, bins=min(HISTOGRAM_BINS, max(1, int(values.max() - values.min()) + 1)))
    return {
        "count": int(values.size),
        "min": int(values.min()),
        "mean": round(float(values.mean()), 2),
        "p50": float(percentiles[0]),
        "p90": float(percentiles[1]),
        "p95": float(percentiles[2]),
        "p99": float(percentiles[3]),
        "max": int(values.max()),
        "histogram": {"edges": [round(float(edge), 2) for edge in edges], "counts": [int(count) for count in counts]},
    }


# ---------------------------------------------------------------------------------------------
# text.clean


class CleanParams(NodeParams):
    columns: list[str] = Field(["text"], min_length=1, description="Text columns to clean")
    normalize_unicode: bool = Field(True, description="Apply Unicode NFKC normalization (full-width letters, ligatures, odd spaces)")
    strip_html: bool = Field(False, description="Remove HTML tags (and script/style contents), decode entities such as &amp;")
    remove_urls: bool = Field(False, description="Remove web addresses (http://…, https://…, www.…)")
    remove_emails: bool = Field(False, description="Remove e-mail addresses")
    lowercase: bool = Field(False, description="Lower-case the text")
    collapse_whitespace: bool = Field(True, description="Turn runs of spaces, tabs and newlines into one space and trim the ends")
    drop_empty: bool = Field(True, description="Drop rows whose cleaned text is empty")
    min_length: int = Field(0, ge=0, description="Drop rows shorter than this (in length_unit); 0: no minimum")
    max_length: int | None = Field(None, ge=1, description="Drop rows longer than this (in length_unit); empty: no maximum")
    length_unit: Literal["characters", "words"] = Field("characters", description="What min_length and max_length count")
    drop_duplicates: bool = Field(False, description="Keep only the first of rows whose cleaned columns are all equal")


class _HTMLText(HTMLParser):
    """Collects the text of an HTML fragment; block tags become spaces so words don't run together."""

    SKIPPED = {"script", "style", "head", "title"}
    BLOCKS = {"p", "br", "div", "li", "ul", "ol", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table", "section", "article"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self.SKIPPED:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def strip_html(text: str) -> str:
    if "<" not in text and "&" not in text:
        return text
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


# The rewriting operations in the order they apply; each is (parameter name, function).
REWRITES = (
    ("normalize_unicode", lambda text: unicodedata.normalize("NFKC", text)),
    ("strip_html", strip_html),
    ("remove_urls", lambda text: URL.sub("", text)),
    ("remove_emails", lambda text: EMAIL.sub("", text)),
    ("lowercase", str.lower),
    ("collapse_whitespace", lambda text: WHITESPACE.sub(" ", text).strip()),
)
CHANGES_COLUMN = "__nodeloom_changed_operations"  # a per-row bit mask of the rewrites that changed it


def map_fingerprint(dataset: Any, params: NodeParams, *material: str) -> str:
    """The fingerprint of a `datasets.map` result, from what decides it: input, parameters, `material`.

    datasets would otherwise hash the map function with dill, closure included: over a second
    for a tokenizer, and impossible for the run context (then it picks a random fingerprint).
    """
    import hashlib

    text = "|".join((MAP_CODE_VERSION, dataset._fingerprint, type(params).__name__, params.model_dump_json(), *material))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def tokenizer_identity(tokenizer: Any) -> str:
    """Everything about a fast tokenizer that changes its ids: its tokenizer.json and eos token."""
    return f"{tokenizer.backend_tokenizer.to_str()}|{tokenizer.eos_token_id}"


def _clean_summary(outputs: dict) -> dict:
    return dataset_preview(outputs["dataset"]) | {"report": outputs["report"]}


@node(
    "text.clean",
    title="Clean text",
    category="text",
    inputs=[Input("dataset", DATASET)],
    outputs=[Output("dataset", DATASET, "The cleaned rows"), Output("report", REPORT, "Rows each operation changed or dropped")],
    params=CleanParams,
    version=2,
    key_params=("columns", "lowercase"),
    summarize=_clean_summary,
)
def clean_text(ctx: RunContext, inputs: dict, params: CleanParams) -> dict:
    """Normalise and filter text columns, reporting how many rows each operation changed or dropped.

    Rewrites, in order: NFKC normalization, HTML stripping, URL and e-mail removal, lower-casing,
    whitespace collapsing. Then filters, in order: empty rows, min/max length (characters or
    words; every cleaned column must pass), duplicates.
    """
    import numpy as np
    import pandas as pd

    dataset = inputs["dataset"]
    for column in params.columns:
        require_text_column(dataset, column, "text.clean: parameter 'columns'")
    rewrites = [(bit, name, rewrite) for bit, (name, rewrite) in enumerate(REWRITES) if getattr(params, name)]

    def clean_batch(batch: dict) -> dict:
        ctx.check_cancelled()
        changed = [0] * len(batch[params.columns[0]])
        cleaned: dict[str, list] = {}
        for column in params.columns:
            values = []
            for row, value in enumerate(batch[column]):
                text = value or ""
                for bit, _name, rewrite in rewrites:
                    rewritten = rewrite(text)
                    if rewritten != text:
                        changed[row] |= 1 << bit
                        text = rewritten
                values.append(text)
            cleaned[column] = values
        return cleaned | {CHANGES_COLUMN: changed}

    mapped = dataset.map(
        clean_batch, batched=True, batch_size=MAP_BATCH, keep_in_memory=True, load_from_cache_file=False,
        new_fingerprint=map_fingerprint(dataset, params), desc="text.clean",
    )
    masks = np.asarray(column_values(mapped, CHANGES_COLUMN), dtype=np.int64)
    cleaned = mapped.remove_columns(CHANGES_COLUMN)
    operations: list[dict[str, Any]] = [
        {"operation": name, "changed": int(np.count_nonzero(masks & (1 << bit)))} for bit, name, _rewrite in rewrites
    ]

    texts = {column: column_values(cleaned, column) for column in params.columns}
    keep = np.ones(cleaned.num_rows, dtype=bool)

    def measure(text: str) -> int:
        return len(text.split()) if params.length_unit == "words" else len(text)

    filters: list[tuple[str, Any]] = []
    if params.drop_empty:
        filters.append(("drop_empty", lambda row: all(texts[c][row].strip() for c in params.columns)))
    if params.min_length:
        filters.append(("min_length", lambda row: all(measure(texts[c][row]) >= params.min_length for c in params.columns)))
    if params.max_length is not None:
        filters.append(("max_length", lambda row: all(measure(texts[c][row]) <= params.max_length for c in params.columns)))
    for name, passes in filters:
        before = int(keep.sum())
        for row in np.flatnonzero(keep):
            keep[row] = passes(row)
        operations.append({"operation": name, "dropped": before - int(keep.sum())})
        _stop_if_emptied(before, keep, name, params)
    if params.drop_duplicates:
        before = int(keep.sum())
        frame = pd.DataFrame(texts)
        keep &= ~(frame[keep].duplicated().reindex(frame.index, fill_value=False).to_numpy())
        operations.append({"operation": "drop_duplicates", "dropped": before - int(keep.sum())})
    if not keep.all():
        cleaned = cleaned.select(np.flatnonzero(keep), keep_in_memory=True)
    report = {"rows_in": dataset.num_rows, "rows_out": cleaned.num_rows, "columns": list(params.columns), "operations": operations}
    ctx.log(f"{dataset.num_rows} rows in, {cleaned.num_rows} out; " + ", ".join(f"{op['operation']} {op.get('changed', op.get('dropped'))}" for op in operations))
    return {"dataset": cleaned, "report": report}


def _stop_if_emptied(before: int, keep: Any, operation: str, params: CleanParams) -> None:
    if before and not keep.any():
        setting = {
            "drop_empty": "every row's cleaned text was empty; check 'columns' or turn off operations that remove text",
            "min_length": f"no row reaches min_length={params.min_length} {params.length_unit}; lower it",
            "max_length": f"every row exceeds max_length={params.max_length} {params.length_unit}; raise it",
        }[operation]
        raise NodeError(f"text.clean: operation '{operation}' removed the last {before} rows and left the dataset empty: {setting}")


# ---------------------------------------------------------------------------------------------
# text.split_prompt


class SplitPromptParams(NodeParams):
    text_column: str = Field("text", min_length=1, description="Column with the passages to split")
    prompt_words: int = Field(12, ge=1, le=10_000, description="Words at the start of each passage that become the prompt")
    continuation_words: int | None = Field(
        None, ge=1, le=100_000, description="Longest continuation kept, in words (empty: the rest of the passage)"
    )


@node(
    "text.split_prompt",
    title="Split prompt / continuation",
    category="text",
    inputs=[Input("dataset", DATASET, description="Passages of text")],
    outputs=[Output("dataset", DATASET, "Columns prompt and continuation, one row per passage long enough to split")],
    params=SplitPromptParams,
    key_params=("prompt_words",),
    summarize=dataset_summary,
)
def split_prompt(ctx: RunContext, inputs: dict, params: SplitPromptParams) -> dict:
    """Cut each passage after its first `prompt_words` words: the start is the `prompt`, the rest the `continuation`.

    This is how generation is judged on held-out text: the model gets the prompt and what it
    writes is compared with the real continuation (connect infer.generate with prompt_column
    `prompt` and reference_column `continuation`, then metric.rouge). Passages with no words
    after the prompt are dropped; whitespace inside each part becomes single spaces.
    """
    from datasets import Dataset

    where = "text.split_prompt: parameter 'text_column'"
    prompts, continuations = [], []
    for text in text_column_values(inputs["dataset"], params.text_column, where):
        words = text.split()
        rest = words[params.prompt_words :][: params.continuation_words]
        if rest:
            prompts.append(" ".join(words[: params.prompt_words]))
            continuations.append(" ".join(rest))
    if not prompts:
        raise NodeError(
            f"text.split_prompt: no passage in column '{params.text_column}' has more than prompt_words={params.prompt_words} words; "
            "lower 'prompt_words'"
        )
    dropped = inputs["dataset"].num_rows - len(prompts)
    ctx.log(f"{len(prompts)} prompts of {params.prompt_words} words" + (f"; {dropped} passages too short to split were dropped" if dropped else ""))
    return {"dataset": Dataset.from_dict({"prompt": prompts, "continuation": continuations})}


# ---------------------------------------------------------------------------------------------
# Tokenizers: shared summary and loading


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
        raise NodeError(f"{where}: folder '{name_or_path}' does not exist; give a folder written by save_pretrained, a Hub name or {BUNDLED_PREFIX}minilm")
    if local.exists() and not local.is_dir():
        raise NodeError(f"{where}: '{name_or_path}' is a file; give the folder that holds it (with its config and tokenizer files)")
    try:
        return loader.from_pretrained(str(local) if local.is_dir() else source, **options)
    except Exception as exc:
        if not local.is_dir() and hub_unreachable(exc):
            raise NodeError(
                f"{where}: '{name_or_path}' is not a local folder and the Hugging Face Hub is unreachable (offline or no network); "
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
            raise NodeError(f"{where}: the tokenizer has neither an end-of-text (eos) nor a separator token; NodeLoom needs one to end examples")
        tokenizer.eos_token = tokenizer.sep_token
        ctx.log(f"no eos token: using the separator token {tokenizer.sep_token} as eos")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
        ctx.log(f"no pad token: using the eos token {tokenizer.eos_token} as pad")
    return tokenizer


# ---------------------------------------------------------------------------------------------
# text.train_tokenizer


class TrainTokenizerParams(NodeParams):
    kind: Literal["bpe", "wordpiece", "unigram"] = Field("bpe", description="bpe: byte-level BPE (GPT-2 style); wordpiece: BERT style; unigram: SentencePiece style")
    vocab_size: int = Field(8000, ge=300, le=200_000, description="Largest vocabulary to learn (small data may give fewer)")
    min_frequency: int = Field(2, ge=1, description="bpe and wordpiece: ignore merges seen fewer times than this (unigram has no such setting)")
    text_columns: list[str] = Field(["text"], min_length=1, description="Text columns to learn from")
    lowercase: bool = Field(False, description="Lower-case text before tokenizing (as uncased BERT does)")
    special_tokens: list[str] = Field([], description="Extra special tokens that are never split, e.g. chat markers")
    model_max_length: int = Field(1024, ge=8, le=1_000_000, description="Longest sequence the tokenizer will claim to handle")
    pretrained: str = Field(
        "",
        description="Skip training and load this pretrained tokenizer (Hub name or local folder, e.g. gpt2) to match a pretrained model",
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
    specials = [token for token in (pad, unk, *others, eos) if token] + [t for t in params.special_tokens if t not in (pad, unk, eos, *others)]
    if params.kind == "bpe":
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
        trainer = trainers.BpeTrainer(
            vocab_size=params.vocab_size, min_frequency=params.min_frequency, special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
        )
        if params.lowercase:
            tokenizer.normalizer = normalizers.Lowercase()
    elif params.kind == "wordpiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token=unk))
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=params.lowercase)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(
            vocab_size=params.vocab_size, min_frequency=params.min_frequency, special_tokens=specials, show_progress=False,
        )
    else:
        tokenizer = Tokenizer(models.Unigram())
        tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), *([normalizers.Lowercase()] if params.lowercase else [])])
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=params.vocab_size, special_tokens=specials, unk_token=unk, show_progress=False)
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
        ctx.log(f"loaded {type(tokenizer).__name__} with {len(tokenizer)} tokens from {params.pretrained} instead of training one")
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
            single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} $B:1 {sep}:1",
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
        ctx.log(f"learned {len(wrapped)} tokens, fewer than vocab_size={params.vocab_size}: the text has no more to learn", "warning")
    ctx.log(f"trained a {params.kind} tokenizer with {len(wrapped)} tokens on {dataset.num_rows} rows")
    return {"tokenizer": wrapped}


# ---------------------------------------------------------------------------------------------
# text.load_tokenizer


class LoadTokenizerParams(NodeParams):
    name_or_path: str = Field("bundled:minilm", min_length=1, description="bundled:minilm (offline BERT tokenizer), a local folder or a Hub name")
    revision: str = Field("main", min_length=1, description="Hub branch, tag or commit")
    trust_remote_code: bool = Field(False, description="Run Python code shipped with the tokenizer (only for sources you trust)")


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "vocab.json", "merges.txt", "added_tokens.json", "spiece.model", "tokenizer.model")


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
    tokenizer = from_pretrained(AutoTokenizer, params.name_or_path, where, revision=params.revision, trust_remote_code=params.trust_remote_code)
    if not tokenizer.is_fast:
        raise NodeError(f"{where}: '{params.name_or_path}' has only a slow (Python) tokenizer; NodeLoom needs a fast one (a tokenizer.json)")
    ensure_eos_and_pad(tokenizer, ctx, "text.load_tokenizer")
    ctx.log(f"loaded {type(tokenizer).__name__} with {len(tokenizer)} tokens from {params.name_or_path}")
    return {"tokenizer": tokenizer}


# ---------------------------------------------------------------------------------------------
# text.tokenize


class TokenizeParams(NodeParams):
    task: Literal["causal_lm", "classification"] = Field("causal_lm", description="causal_lm: packed blocks for language modelling; classification: one row per text, with labels")
    text_column: str = Field("text", min_length=1, description="Column with the text (causal_lm: used when prompt_template is empty)")
    prompt_template: str = Field("", description="causal_lm: joins columns into one text, e.g. 'Question: {question}\\nAnswer: {answer}' (empty: use text_column)")
    block_size: int = Field(128, ge=4, le=65_536, description="causal_lm: tokens per packed block (unpacked: longest example kept)")
    packing: bool = Field(
        True,
        description="causal_lm: concatenate examples into full blocks (fastest); off: one row per example, cut at block_size, "
        "so a short Q/A pair is never split across blocks",
    )
    label_column: str = Field("label", min_length=1, description="classification: column with the class (ids, or names that get ids in sorted order)")
    max_length: int = Field(128, ge=2, le=65_536, description="classification: truncate longer texts to this many tokens")


def template_columns(template: str, where: str) -> list[str]:
    """The column names a prompt template uses, in order; bad templates stop with a clear message."""
    try:
        fields = [name for _text, name, _spec, _conversion in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise NodeError(f"{where}: {exc}; write columns as {{column}} and a literal brace as {{{{ or }}}}") from exc
    if not fields:
        raise NodeError(f"{where}: the template names no column; write columns as {{column}}, e.g. 'Question: {{question}}\\nAnswer: {{answer}}'")
    if any(not name or any(ch in name for ch in ".[") for name in fields):  # positional, attribute or index fields
        raise NodeError(f"{where}: use plain column names in braces, e.g. {{question}}; found {fields}")
    return list(dict.fromkeys(fields))


def _causal_lm(ctx: RunContext, dataset: Any, tokenizer: Any, params: TokenizeParams) -> tuple[Any, dict]:
    import numpy as np

    where = "text.tokenize: parameter 'prompt_template'" if params.prompt_template else "text.tokenize: parameter 'text_column'"
    columns = template_columns(params.prompt_template, where) if params.prompt_template else [params.text_column]
    require_columns(dataset, columns, where)
    block, eos = params.block_size, tokenizer.eos_token_id
    # Filled in while datasets.map runs the function below (it always runs: see MAP_BATCH).
    lengths: list[int] = []
    dropped: list[int] = []

    def render(batch: dict) -> list[str]:
        if not params.prompt_template:
            return [value or "" for value in batch[params.text_column]]
        rows = zip(*(batch[column] for column in columns))
        return [params.prompt_template.format_map(dict(zip(columns, ("" if v is None else v for v in row)))) for row in rows]

    def tokenize_and_pack(batch: dict) -> dict:
        ctx.check_cancelled()
        ids = tokenizer(render(batch), add_special_tokens=False)["input_ids"]
        lengths.extend(len(example) + 1 for example in ids)
        if not params.packing:
            rows = [(example + [eos])[:block] for example in ids]
            dropped.append(sum(len(example) + 1 for example in ids) - sum(map(len, rows)))
            return {"input_ids": rows, "attention_mask": [[1] * len(row) for row in rows], "labels": rows}
        stream = np.fromiter(itertools.chain.from_iterable(example + [eos] for example in ids), dtype=np.int64)
        usable = len(stream) // block * block
        dropped.append(len(stream) - usable)
        # numpy blocks reach Arrow without a Python list per block
        blocks = stream[:usable].reshape(-1, block)
        return {"input_ids": blocks, "attention_mask": np.ones_like(blocks, dtype=np.int8), "labels": blocks}

    packed = dataset.map(
        tokenize_and_pack, batched=True, batch_size=MAP_BATCH, remove_columns=dataset.column_names,
        keep_in_memory=True, load_from_cache_file=False, new_fingerprint=map_fingerprint(dataset, params, tokenizer_identity(tokenizer)), desc="text.tokenize",
    )
    total = sum(lengths)
    if packed.num_rows == 0:
        raise NodeError(f"text.tokenize: the {len(lengths)} examples hold only {total} tokens, less than one block of block_size={block}; lower 'block_size' or load more rows")
    report = {
        "task": "causal_lm", "examples": len(lengths), "tokens": total, "blocks": packed.num_rows, "block_size": block,
        "packing": params.packing, "tokens_in_blocks": total - sum(dropped), "tokens_dropped": sum(dropped), "eos_token": tokenizer.eos_token,
        "example_tokens": length_statistics(lengths),
    }
    return packed, report


def _classification(ctx: RunContext, dataset: Any, tokenizer: Any, params: TokenizeParams) -> tuple[Any, dict]:
    import datasets
    import pyarrow.compute as pc

    require_text_column(dataset, params.text_column, "text.tokenize: parameter 'text_column'")
    require_columns(dataset, [params.label_column], "text.tokenize: parameter 'label_column'")
    feature = dataset.features[params.label_column]
    labels = column_values(dataset, params.label_column)
    names: list[str] | None = getattr(feature, "names", None)
    label_ids: dict[Any, int] | None = None
    if getattr(feature, "dtype", None) in ("string", "large_string"):
        names = sorted({str(value) for value in labels if value is not None})
        label_ids = {name: index for index, name in enumerate(names)}
    elif not isinstance(feature, datasets.ClassLabel) and not str(getattr(feature, "dtype", "")).startswith(("int", "uint", "bool")):
        raise NodeError(f"text.tokenize: parameter 'label_column': column '{params.label_column}' holds {feature}, not class ids or names")
    if None in labels or (label_ids is None and min(labels) < 0):  # ClassLabel marks a missing label as -1
        raise NodeError(f"text.tokenize: column '{params.label_column}' has rows without a label; drop those rows first")

    def encode(batch: dict) -> dict:
        ctx.check_cancelled()
        encoded = tokenizer([value or "" for value in batch[params.text_column]], truncation=True, max_length=params.max_length)
        batch_labels = batch[params.label_column]
        encoded["labels"] = [label_ids[label] for label in batch_labels] if label_ids else [int(label) for label in batch_labels]
        return dict(encoded)

    extra = [column for column in dataset.column_names if column not in (params.text_column, params.label_column)]
    tokenized = dataset.map(
        encode, batched=True, batch_size=MAP_BATCH, remove_columns=extra, keep_in_memory=True, load_from_cache_file=False,
        new_fingerprint=map_fingerprint(dataset, params, tokenizer_identity(tokenizer)), desc="text.tokenize",
    )
    if names:
        tokenized = tokenized.cast_column("labels", datasets.ClassLabel(names=names))
    lengths = pc.list_value_length(tokenized.data.column("input_ids")).to_numpy()
    report = {
        "task": "classification", "examples": tokenized.num_rows, "tokens": int(lengths.sum()), "max_length": params.max_length,
        "at_max_length": int((lengths >= params.max_length).sum()), "classes": names or sorted(set(labels)),
        "kept_columns": [params.text_column, params.label_column], "example_tokens": length_statistics(lengths),
    }
    return tokenized, report


def _tokenize_summary(outputs: dict) -> dict:
    return dataset_preview(outputs["dataset"], rows=2) | {"report": outputs["report"]}


@node(
    "text.tokenize",
    title="Tokenize",
    category="text",
    inputs=[Input("dataset", DATASET), Input("tokenizer", TOKENIZER)],
    outputs=[
        Output("dataset", TOKENIZED_DATASET, "input_ids, attention_mask and labels"),
        Output("report", REPORT, "Examples, tokens and the length distribution"),
    ],
    params=TokenizeParams,
    key_params=("task", "block_size"),
    version=2,
    summarize=_tokenize_summary,
)
def tokenize(ctx: RunContext, inputs: dict, params: TokenizeParams) -> dict:
    """Turn text into token ids for a task, with datasets.map(batched=True).

    causal_lm: each example (text_column, or prompt_template filled from columns) gets the eos
    token appended; examples are concatenated and cut into blocks of block_size tokens
    (labels = input_ids; the last partial block of each 1,000 examples is dropped). With
    packing off each example is a row of its own, cut at block_size (pad per batch when training).
    classification: one row per text, truncated to max_length, unpadded (pad per batch when
    training); `labels` holds class ids; the text and label columns are kept.
    """
    dataset, tokenizer = inputs["dataset"], inputs["tokenizer"]
    if tokenizer.eos_token_id is None or tokenizer.pad_token_id is None:
        raise NodeError("text.tokenize: the tokenizer needs an eos and a pad token; load it with text.load_tokenizer or text.train_tokenizer")
    if dataset.num_rows == 0:
        raise NodeError("text.tokenize: the dataset has no rows")
    run = _causal_lm if params.task == "causal_lm" else _classification
    tokenized, report = run(ctx, dataset, tokenizer, params)
    stats = report["example_tokens"]
    ctx.log(f"{report['examples']} examples, {report['tokens']} tokens (median {stats['p50']:g}, p95 {stats['p95']:g}, max {stats['max']} per example)")
    return {"dataset": tokenized, "report": report}


# ---------------------------------------------------------------------------------------------
# text.embed


class EmbedParams(NodeParams):
    mode: Literal["sentence", "word"] = Field("sentence", description="sentence: one mean-pooled vector per row; word: the static input vector of each frequent token")
    model: str = Field("bundled:minilm", min_length=1, description="Model to embed with when no model is connected: bundled:minilm, a local folder or a Hub name")
    text_column: str = Field("text", min_length=1, description="Column with the text")
    batch_size: int = Field(32, ge=1, le=4096, description="sentence: texts per forward pass")
    max_length: int = Field(256, ge=2, le=65_536, description="sentence: truncate texts to this many tokens")
    normalize: bool = Field(True, description="Scale vectors to length 1 (cosine similarity becomes a dot product)")
    max_words: int = Field(500, ge=2, le=100_000, description="word: keep the most frequent tokens, up to this many")


def _embedding_model(ctx: RunContext, inputs: dict, params: EmbedParams) -> tuple[Any, Any]:
    """The connected MODEL and TOKENIZER, or the model named by the `model` parameter."""
    from transformers import AutoModel, AutoTokenizer

    if ("model" in inputs) != ("tokenizer" in inputs):
        raise NodeError("text.embed: connect both a model and its tokenizer, or neither (then parameter 'model' is used)")
    if "model" in inputs:
        return inputs["model"], inputs["tokenizer"]
    where = "text.embed: parameter 'model'"
    tokenizer = from_pretrained(AutoTokenizer, params.model, where)
    model = from_pretrained(AutoModel, params.model, where, use_safetensors=True, trust_remote_code=False)
    return model, ensure_eos_and_pad(tokenizer, ctx, "text.embed")


def _sentence_vectors(ctx: RunContext, model: Any, tokenizer: Any, texts: list[str], params: EmbedParams) -> Any:
    import numpy as np
    import torch

    vectors = []
    for start in range(0, len(texts), params.batch_size):
        ctx.check_cancelled()
        batch = tokenizer(texts[start : start + params.batch_size], padding=True, truncation=True, max_length=params.max_length, return_tensors="pt")
        mask = batch["attention_mask"].to(ctx.device)
        output = model(input_ids=batch["input_ids"].to(ctx.device), attention_mask=mask, output_hidden_states=True)
        hidden = output.hidden_states[-1]
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)  # mean over real tokens only
        if params.normalize:
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        vectors.append(pooled.float().cpu().numpy())
        done = min(len(texts), start + params.batch_size)
        ctx.progress(done / len(texts), f"embedded {done}/{len(texts)} texts")
    return np.concatenate(vectors)


def _word_vectors(model: Any, tokenizer: Any, texts: list[str], params: EmbedParams) -> tuple[list[str], list[int], Any]:
    import torch

    counts: Counter[int] = Counter()
    for start in range(0, len(texts), MAP_BATCH):
        for ids in tokenizer(texts[start : start + MAP_BATCH], add_special_tokens=False)["input_ids"]:
            counts.update(ids)
    special = set(tokenizer.all_special_ids)
    words, frequencies, ids = [], [], []
    for token_id, count in counts.most_common():
        word = tokenizer.decode([token_id]).strip()
        if token_id not in special and any(ch.isalpha() for ch in word):
            words.append(word)
            frequencies.append(count)
            ids.append(token_id)
            if len(ids) == params.max_words:
                break
    if not ids:
        raise NodeError(f"text.embed: column '{params.text_column}' holds no words to embed")
    vectors = model.get_input_embeddings().weight[torch.tensor(ids, device=model.get_input_embeddings().weight.device)]
    if params.normalize:
        vectors = torch.nn.functional.normalize(vectors, dim=-1)
    return words, frequencies, vectors.detach().float().cpu().numpy()


def projection_2d(vectors: Any) -> Any:
    """A 2-D PCA projection for the scatter preview (zeros when there are too few rows to fit one)."""
    import numpy as np
    from sklearn.decomposition import PCA

    if len(vectors) < 2 or vectors.shape[1] < 2:
        return np.zeros((len(vectors), 2), dtype=np.float32)
    return PCA(n_components=2, random_state=0).fit_transform(vectors).astype(np.float32)


def _embed_summary(outputs: dict) -> dict:
    dataset = outputs["embeddings"]
    label = "word" if "word" in dataset.column_names else next((c for c in dataset.column_names if c not in ("embedding", "x", "y")), None)
    sample = dataset.select(range(min(300, dataset.num_rows)))
    points = [{"x": round(x, 4), "y": round(y, 4)} | ({"label": _short_label(text)} if label else {}) for x, y, text in zip(column_values(sample, "x"), column_values(sample, "y"), column_values(sample, label) if label else itertools.repeat(None))]
    return {"rows": dataset.num_rows, "columns": list(dataset.column_names), "dimensions": len(dataset[0]["embedding"]) if dataset.num_rows else 0, "points": points}


def _short_label(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:60] + "…"


@node(
    "text.embed",
    title="Embed text",
    category="text",
    inputs=[
        Input("dataset", DATASET),
        Input("model", MODEL, required=False, description="A model to embed with (connect its tokenizer too); default: parameter 'model'"),
        Input("tokenizer", TOKENIZER, required=False, description="The connected model's tokenizer"),
    ],
    outputs=[Output("embeddings", EMBEDDINGS, "Rows with an `embedding` vector and `x`, `y` for a scatter plot")],
    params=EmbedParams,
    wants_accelerator=True,
    key_params=("mode", "model"),
    summarize=_embed_summary,
)
def embed(ctx: RunContext, inputs: dict, params: EmbedParams) -> dict:
    """Vectors for text: mean-pooled sentence embeddings, or static word vectors, plus a 2-D PCA projection.

    sentence: one row per input row, the input columns kept, with `embedding` (the mean of the
    model's last hidden states over real tokens), `x` and `y`. word: one row per frequent token
    (`word`, `count`, `embedding`, `x`, `y`), the vectors being the model's input embeddings.
    The bundled MiniLM (bundled:minilm) works offline.
    """
    import datasets
    import torch

    dataset = inputs["dataset"]
    texts = text_column_values(dataset, params.text_column, "text.embed: parameter 'text_column'")
    if not texts:
        raise NodeError("text.embed: the dataset has no rows")
    model, tokenizer = _embedding_model(ctx, inputs, params)
    first_parameter = next(model.parameters())
    original_device, was_training = first_parameter.device, model.training
    model.to(ctx.device).eval()
    try:
        with torch.inference_mode():
            if params.mode == "sentence":
                vectors = _sentence_vectors(ctx, model, tokenizer, texts, params)
                table = dataset.remove_columns([c for c in ("embedding", "x", "y") if c in dataset.column_names])
            else:
                words, counts, vectors = _word_vectors(model, tokenizer, texts, params)
                table = datasets.Dataset.from_dict({"word": words, "count": counts})
    finally:  # a connected model may also sit in the output cache: leave it as it was
        model.to(original_device).train(was_training)
    projected = projection_2d(vectors)
    table = table.add_column("embedding", list(vectors)).add_column("x", projected[:, 0].tolist()).add_column("y", projected[:, 1].tolist())
    ctx.log(f"{table.num_rows} {params.mode} vectors of {vectors.shape[1]} dimensions")
    return {"embeddings": table}
