"""Inference nodes: generation and classification.

Both add the `prediction` (and, where the data has one, `reference`) columns that the metric
nodes read, keeping every original column.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import Field

from nodeloom.engine import Input, NodeError, NodeParams, Output, RunContext, node
from nodeloom.engine.node import param_rules
from nodeloom.engine.types import DATASET, MODEL, TOKENIZED_DATASET, TOKENIZER
from nodeloom.nodes.data import column_values, require_columns
from nodeloom.nodes.text.common import text_column_values
from nodeloom.nodes.text.prompt import template_columns
from nodeloom.nodes.train import MODEL_COLUMNS, pad_examples


def with_column(dataset: Any, name: str, values: list[Any]) -> Any:
    """The dataset with column `name` set to values (replacing a column of that name)."""
    if name in dataset.column_names:
        dataset = dataset.remove_columns(name)
    return dataset.add_column(name, values)


def batches(count: int, size: int) -> list[range]:
    return [range(start, min(start + size, count)) for start in range(0, count, size)]


# ---------------------------------------------------------------------------------------------
# infer.generate


SAMPLING = param_rules(applies_when={"strategy": ["sampling"]})


class GenerateParams(NodeParams):
    prompt_column: str = Field("question", min_length=1, description="Column holding the prompts")
    reference_column: str = Field(
        "answer", description="Column with the expected answers, copied to `reference` (empty: none)"
    )
    prompt_template: str = Field(
        "",
        description="Template used in training, e.g. 'Question: {question}\\nAnswer: {answer}'; "
        "it is cut where {reference_column} starts (empty: the prompt column as is)",
    )
    strategy: Literal["greedy", "sampling", "beam"] = Field("greedy", description="How the next tokens are chosen")
    max_new_tokens: int = Field(
        64, ge=1, le=8192, description="Longest answer, in tokens", json_schema_extra=param_rules(unit="tokens")
    )
    temperature: float = Field(
        1.0, gt=0, le=10, description="sampling: below 1 sharper, above 1 more random", json_schema_extra=SAMPLING
    )
    top_k: int = Field(
        50,
        ge=0,
        description="sampling: keep only the k likeliest tokens (0: all)",
        json_schema_extra=SAMPLING | param_rules(unit="tokens"),
    )
    top_p: float = Field(
        1.0,
        gt=0,
        le=1,
        description="sampling: keep the smallest set of tokens with this total probability",
        json_schema_extra=SAMPLING,
    )
    num_beams: int = Field(
        4,
        ge=2,
        le=64,
        description="beam: beams kept",
        json_schema_extra=param_rules(applies_when={"strategy": ["beam"]}),
    )
    repetition_penalty: float = Field(1.0, gt=0, le=10, description="Above 1 discourages repeating tokens")
    batch_size: int = Field(
        16, ge=1, le=4096, description="Prompts per batch", json_schema_extra=param_rules(unit="prompts")
    )
    seed: int | None = Field(None, description="Seed for sampling (empty: the pipeline's)", json_schema_extra=SAMPLING)


def prompt_prefix(template: str, reference_column: str) -> str:
    """The part of a training template that comes before the answer.

    Trailing spaces go too: byte-level tokenizers attach a space to the following word, so a
    prompt ending in "Answer: " would end in a token the model never saw before an answer.
    """
    placeholder = "{" + reference_column + "}"
    if reference_column and placeholder in template:
        template = template[: template.index(placeholder)]
    return template.rstrip(" ")


def prompts_of(dataset: Any, params: GenerateParams) -> list[str]:
    """One prompt per row: the prompt column, or the row rendered through the template prefix."""
    if not params.prompt_template:
        return text_column_values(dataset, params.prompt_column, "infer.generate: parameter 'prompt_column'")
    where = "infer.generate: parameter 'prompt_template'"
    prefix = prompt_prefix(params.prompt_template, params.reference_column)
    columns = template_columns(prefix, where)  # the same template rules as text.tokenize
    require_columns(dataset, columns, where)
    rows = zip(*(column_values(dataset, column) for column in columns), strict=False)
    prompts = []
    for row in rows:
        # a missing value renders as empty text rather than the word "None"
        fields = {column: "" if value is None else value for column, value in zip(columns, row, strict=False)}
        prompts.append(prefix.format_map(fields))
    return prompts


def generation_config(params: GenerateParams, tokenizer: Any):
    """A GenerationConfig for the chosen strategy that stops at the tokenizer's end-of-text."""
    from transformers import GenerationConfig

    strategy: dict[str, Any] = {"do_sample": False, "num_beams": 1}
    if params.strategy == "sampling":
        strategy = {"do_sample": True, "temperature": params.temperature, "top_k": params.top_k, "top_p": params.top_p}
    elif params.strategy == "beam":
        strategy = {"do_sample": False, "num_beams": params.num_beams, "early_stopping": True}
    return GenerationConfig(
        max_new_tokens=params.max_new_tokens,
        repetition_penalty=params.repetition_penalty,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **strategy,
    )


def longest_prompt(model: Any, max_new_tokens: int) -> int | None:
    """How many prompt tokens fit beside the answer in the model's context (None: no limit known)."""
    config = model.config
    context = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
    if context is None:
        return None
    if context <= max_new_tokens:
        raise NodeError(
            f"infer.generate: parameter 'max_new_tokens' ({max_new_tokens}) leaves no room for a prompt "
            f"in the model's {context}-token context"
        )
    return context - max_new_tokens


@node(
    "infer.generate",
    title="Generate",
    category="infer",
    inputs=[
        Input("model", MODEL, description="A causal language model"),
        Input("tokenizer", TOKENIZER),
        Input("dataset", DATASET, description="Rows with a prompt column"),
    ],
    outputs=[Output("dataset", DATASET, "The rows with `prediction` (answer text only) and `reference` columns")],
    params=GenerateParams,
    wants_accelerator=True,
    key_params=("strategy", "max_new_tokens"),
    memory_params=("batch_size", "max_new_tokens", "num_beams"),
)
def generate(ctx: RunContext, inputs: dict, params: GenerateParams) -> dict:
    """Generate an answer for every prompt (greedy, sampling or beam search), batched with left padding."""
    import torch
    from transformers import set_seed

    model, dataset = inputs["model"], inputs["dataset"]
    if not model.can_generate():
        raise NodeError(
            f"infer.generate: input 'model' is a {type(model).__name__}, which cannot generate text; "
            "use a causal_lm model (GPT-2)"
        )
    tokenizer = copy.deepcopy(inputs["tokenizer"])  # the input may be a cached value: change a copy
    tokenizer.padding_side = tokenizer.truncation_side = "left"  # answers continue the prompt's right end
    if tokenizer.pad_token_id is None:
        raise NodeError("infer.generate: the tokenizer has no pad token; set pad_token when training it")
    prompts = prompts_of(dataset, params)
    config = generation_config(params, tokenizer)
    max_prompt_tokens = longest_prompt(model, params.max_new_tokens)
    set_seed(ctx.seed if params.seed is None else params.seed)
    model.to(ctx.device).eval()

    predictions: list[str] = []
    for rows in batches(len(prompts), params.batch_size):
        ctx.check_cancelled()
        encoded = tokenizer(
            [prompts[row] for row in rows],
            return_tensors="pt",
            padding=True,
            truncation=max_prompt_tokens is not None,
            max_length=max_prompt_tokens,
            add_special_tokens=False,  # as text.tokenize encodes training text
        ).to(ctx.device)
        encoded.pop("token_type_ids", None)
        with torch.inference_mode():
            output = model.generate(**encoded, generation_config=config)
        answers = tokenizer.batch_decode(output[:, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
        predictions += [answer.strip() for answer in answers]
        ctx.progress(len(predictions) / len(prompts), f"{len(predictions)}/{len(prompts)} prompts")

    dataset = with_column(dataset, "prediction", predictions)
    if (
        params.reference_column
        and params.reference_column in dataset.column_names
        and params.reference_column != "reference"
    ):
        dataset = with_column(dataset, "reference", column_values(dataset, params.reference_column))
    return {"dataset": dataset}


# ---------------------------------------------------------------------------------------------
# infer.classify


class ClassifyParams(NodeParams):
    batch_size: int = Field(32, ge=1, le=65_536, description="Examples per batch")


@node(
    "infer.classify",
    title="Classify",
    category="infer",
    inputs=[
        Input("model", MODEL, description="A sequence-classification model"),
        Input(
            "dataset", TOKENIZED_DATASET, description="Tokenized rows (input_ids, attention_mask; labels when known)"
        ),
    ],
    outputs=[Output("dataset", DATASET, "The rows with `prediction`, `probabilities` and (from labels) `reference`")],
    params=ClassifyParams,
    wants_accelerator=True,
    key_params=("batch_size",),
    memory_params=("batch_size",),
)
def classify(ctx: RunContext, inputs: dict, params: ClassifyParams) -> dict:
    """Predict a class for every row, with the class probabilities."""
    import torch

    model, dataset = inputs["model"], inputs["dataset"]
    if "input_ids" not in dataset.column_names:
        raise NodeError(
            "infer.classify: input 'dataset' has no 'input_ids' column; "
            f"connect text.tokenize (columns: {', '.join(dataset.column_names)})"
        )
    if not type(model).__name__.endswith("ForSequenceClassification"):  # peft's wrapper is named alike
        raise NodeError(
            f"infer.classify: input 'model' is a {type(model).__name__}, not a classifier; "
            "load it with task 'classification'"
        )
    features = dataset.select_columns([c for c in MODEL_COLUMNS if c in dataset.column_names and c != "labels"])
    pad_token_id = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    model.to(ctx.device).eval()

    predictions: list[int] = []
    probabilities: list[list[float]] = []
    for rows in batches(features.num_rows, params.batch_size):
        ctx.check_cancelled()
        batch = pad_examples(list(features.select(rows)), pad_token_id)
        with torch.inference_mode():
            logits = model(**{name: tensor.to(ctx.device) for name, tensor in batch.items()}).logits
        chances = torch.softmax(logits.float(), dim=-1)
        predictions += chances.argmax(dim=-1).tolist()
        probabilities += chances.tolist()
        ctx.progress(len(predictions) / features.num_rows, f"{len(predictions)}/{features.num_rows} rows")

    dataset = with_column(with_column(dataset, "prediction", predictions), "probabilities", probabilities)
    if "labels" in dataset.column_names:
        dataset = with_column(dataset, "reference", column_values(dataset, "labels"))
    return {"dataset": dataset}
