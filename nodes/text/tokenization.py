"""text.tokenize: text to token ids, packed into blocks (causal_lm) or one row per text (classification)."""

from __future__ import annotations

import itertools
from typing import Any, Literal

from pydantic import Field

from nodeloom.engine import Input, NodeError, NodeParams, Output, RunContext, node
from nodeloom.engine.types import DATASET, REPORT, TOKENIZED_DATASET, TOKENIZER
from nodeloom.nodes.data import column_values, dataset_preview, require_columns
from nodeloom.nodes.text.common import (
    MAP_BATCH,
    length_statistics,
    map_fingerprint,
    require_text_column,
    tokenizer_identity,
)
from nodeloom.nodes.text.prompt import template_columns


class TokenizeParams(NodeParams):
    task: Literal["causal_lm", "classification"] = Field(
        "causal_lm",
        description="causal_lm: packed blocks for language modelling; classification: one row per text, with labels",
    )
    text_column: str = Field(
        "text", min_length=1, description="Column with the text (causal_lm: used when prompt_template is empty)"
    )
    prompt_template: str = Field(
        "",
        description=(
            "causal_lm: joins columns into one text, e.g. 'Question: {question}\\nAnswer: {answer}' "
            "(empty: use text_column)"
        ),
        json_schema_extra={"applies_when": {"task": ["causal_lm"]}},
    )
    block_size: int = Field(
        128,
        ge=4,
        le=65_536,
        description="causal_lm: tokens per packed block (unpacked: longest example kept)",
        json_schema_extra={"applies_when": {"task": ["causal_lm"]}, "unit": "tokens"},
    )
    packing: bool = Field(
        True,
        description=(
            "causal_lm: concatenate examples into full blocks (fastest); "
            "off: one row per example, cut at block_size, so a short Q/A pair is never split across blocks"
        ),
        json_schema_extra={"applies_when": {"task": ["causal_lm"]}},
    )
    label_column: str = Field(
        "label",
        min_length=1,
        description="classification: column with the class (ids, or names that get ids in sorted order)",
        json_schema_extra={"applies_when": {"task": ["classification"]}},
    )
    max_length: int = Field(
        128,
        ge=2,
        le=65_536,
        description="classification: truncate longer texts to this many tokens",
        json_schema_extra={"applies_when": {"task": ["classification"]}, "unit": "tokens"},
    )


def _causal_lm(ctx: RunContext, dataset: Any, tokenizer: Any, params: TokenizeParams) -> tuple[Any, dict]:
    import numpy as np

    where = (
        "text.tokenize: parameter 'prompt_template'"
        if params.prompt_template
        else "text.tokenize: parameter 'text_column'"
    )
    columns = template_columns(params.prompt_template, where) if params.prompt_template else [params.text_column]
    require_columns(dataset, columns, where)
    block, eos = params.block_size, tokenizer.eos_token_id
    # Filled in while datasets.map runs the function below (it always runs: see MAP_BATCH).
    lengths: list[int] = []
    dropped: list[int] = []

    def render(batch: dict) -> list[str]:
        if not params.prompt_template:
            return [value or "" for value in batch[params.text_column]]
        rows = zip(*(batch[column] for column in columns), strict=False)
        # a missing value renders as empty text rather than the word "None"
        return [
            params.prompt_template.format_map({c: "" if v is None else v for c, v in zip(columns, row, strict=False)})
            for row in rows
        ]

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
        tokenize_and_pack,
        batched=True,
        batch_size=MAP_BATCH,
        remove_columns=dataset.column_names,
        keep_in_memory=True,
        load_from_cache_file=False,
        new_fingerprint=map_fingerprint(dataset, params, tokenizer_identity(tokenizer)),
        desc="text.tokenize",
    )
    total = sum(lengths)
    if packed.num_rows == 0:
        raise NodeError(
            f"text.tokenize: the {len(lengths)} examples hold only {total} tokens, "
            f"less than one block of block_size={block}; lower 'block_size' or load more rows"
        )
    report = {
        "task": "causal_lm",
        "examples": len(lengths),
        "tokens": total,
        "blocks": packed.num_rows,
        "block_size": block,
        "packing": params.packing,
        "tokens_in_blocks": total - sum(dropped),
        "tokens_dropped": sum(dropped),
        "eos_token": tokenizer.eos_token,
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
    elif not isinstance(feature, datasets.ClassLabel) and not str(getattr(feature, "dtype", "")).startswith(
        ("int", "uint", "bool")
    ):
        raise NodeError(
            f"text.tokenize: parameter 'label_column': column '{params.label_column}' holds {feature}, "
            "not class ids or names"
        )
    if None in labels or (label_ids is None and min(labels) < 0):  # ClassLabel marks a missing label as -1
        raise NodeError(
            f"text.tokenize: column '{params.label_column}' has rows without a label; drop those rows first"
        )

    def encode(batch: dict) -> dict:
        ctx.check_cancelled()
        encoded = tokenizer(
            [value or "" for value in batch[params.text_column]], truncation=True, max_length=params.max_length
        )
        batch_labels = batch[params.label_column]
        encoded["labels"] = (
            [label_ids[label] for label in batch_labels] if label_ids else [int(label) for label in batch_labels]
        )
        return dict(encoded)

    extra = [column for column in dataset.column_names if column not in (params.text_column, params.label_column)]
    tokenized = dataset.map(
        encode,
        batched=True,
        batch_size=MAP_BATCH,
        remove_columns=extra,
        keep_in_memory=True,
        load_from_cache_file=False,
        new_fingerprint=map_fingerprint(dataset, params, tokenizer_identity(tokenizer)),
        desc="text.tokenize",
    )
    if names:
        tokenized = tokenized.cast_column("labels", datasets.ClassLabel(names=names))
    lengths = pc.list_value_length(tokenized.data.column("input_ids")).to_numpy()
    report = {
        "task": "classification",
        "examples": tokenized.num_rows,
        "tokens": int(lengths.sum()),
        "max_length": params.max_length,
        "at_max_length": int((lengths >= params.max_length).sum()),
        "classes": names or sorted(set(labels)),
        "kept_columns": [params.text_column, params.label_column],
        "example_tokens": length_statistics(lengths),
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
        raise NodeError(
            "text.tokenize: the tokenizer needs an eos and a pad token; "
            "load it with text.load_tokenizer or text.train_tokenizer"
        )
    if dataset.num_rows == 0:
        raise NodeError("text.tokenize: the dataset has no rows")
    run = _causal_lm if params.task == "causal_lm" else _classification
    tokenized, report = run(ctx, dataset, tokenizer, params)
    stats = report["example_tokens"]
    ctx.log(
        f"{report['examples']} examples, {report['tokens']} tokens "
        f"(median {stats['p50']:g}, p95 {stats['p95']:g}, max {stats['max']} per example)"
    )
    return {"dataset": tokenized, "report": report}
