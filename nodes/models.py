"""Model nodes: pretrained models, models from a config, LoRA adapters.

Every node returns a new model object: a MODEL value on a port may also sit in the output
cache, so nothing here changes a model it was given.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from nodeloom.engine import Input, NodeError, NodeParams, Output, RunContext, node
from nodeloom.engine.types import DATASET, MODEL, TOKENIZER
from nodeloom.nodes.bundled import resolve_name_or_path
from nodeloom.nodes.data import column_values
from nodeloom.nodes.memory import MemoryNeed, check_fits, format_count, parameter_count, within_memory

# Bytes per weight for each dtype a model may be loaded in.
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def class_labels(dataset: Any, num_labels: int | None, node_name: str) -> tuple[int, dict[int, str] | None]:
    """How many classes a classifier needs, and their names when the data has them.

    An explicit `num_labels` wins; otherwise the dataset's `labels` (or `label`) column decides:
    its ClassLabel names when it has them, else the largest label id + 1.
    """
    if num_labels is not None:
        return num_labels, None
    if dataset is None:
        raise NodeError(
            f"{node_name}: task 'classification' needs parameter 'num_labels' "
            "or a connected 'dataset' with a label column"
        )
    column = next((name for name in ("labels", "label") if name in dataset.column_names), None)
    if column is None:
        raise NodeError(
            f"{node_name}: the connected dataset has no 'labels' or 'label' column to count classes from; "
            f"columns: {', '.join(dataset.column_names)}; set parameter 'num_labels' instead"
        )
    names = getattr(dataset.features[column], "names", None)
    if names:
        return len(names), dict(enumerate(names))
    values = set(column_values(dataset, column))
    if not values or not all(isinstance(value, int) and not isinstance(value, bool) and value >= 0 for value in values):
        raise NodeError(
            f"{node_name}: column '{column}' must hold class ids 0, 1, 2, ...; found {sorted(map(repr, values))[:5]}"
        )
    return max(values) + 1, None


def label_config(num_labels: int, id2label: dict[int, str] | None) -> dict[str, Any]:
    """Config keyword arguments for a classifier head."""
    config: dict[str, Any] = {"num_labels": num_labels}
    if id2label:
        config["id2label"] = id2label
        config["label2id"] = {name: index for index, name in id2label.items()}
    return config


def set_dropout(model: Any, rate: float) -> None:
    """Every dropout layer (and the config, so a saved model keeps it) at the same rate."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = rate
    config_names = (
        "resid_pdrop",
        "embd_pdrop",
        "attn_pdrop",
        "hidden_dropout_prob",
        "attention_probs_dropout_prob",
        "dropout",
    )
    for name in config_names:
        if hasattr(model.config, name):
            setattr(model.config, name, rate)


# ---------------------------------------------------------------------------------------------
# model.load_pretrained


class LoadPretrainedParams(NodeParams):
    name_or_path: str = Field(
        "bundled:minilm", min_length=1, description="Hub model name, local folder, or bundled:minilm (offline BERT)"
    )
    task: Literal["causal_lm", "classification"] = Field(
        "classification", description="causal_lm (generation) or classification"
    )
    num_labels: int | None = Field(
        None, ge=2, le=10_000, description="classification: number of classes (empty: taken from the connected dataset)"
    )
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "float32", description="Weight precision (train in float32; mixed precision is a trainer setting)"
    )
    trust_remote_code: bool = Field(
        False, description="Run Python code shipped with the model (only for sources you trust)"
    )
    revision: str = Field("main", min_length=1, description="Hub branch, tag or commit")


def _pretrained_files(params: LoadPretrainedParams) -> list[str]:
    try:
        source = resolve_name_or_path(params.name_or_path)
    except Exception:  # an unknown bundled name is reported by the node itself
        return []
    return [source] if Path(source).expanduser().is_dir() else []


def load_error_message(where: str, name_or_path: str, source: str, exc: Exception) -> str:
    """One line that says why a model could not be loaded and what would fix it."""
    import os

    if Path(source).expanduser().is_dir():
        return (
            f"{where}: could not load '{name_or_path}' from its folder: {str(exc).splitlines()[0]} "
            "(NodeLoom loads safetensors weights only; re-save the model with safe_serialization=True)"
        )
    if os.environ.get("HF_HUB_OFFLINE") not in (None, "", "0"):
        return (
            f"{where}: '{name_or_path}' is not a local folder and the Hugging Face Hub is offline "
            "(HF_HUB_OFFLINE is set) with no cached copy; give a local folder, download the model while online first, "
            "or use bundled:minilm"
        )
    return f"{where}: could not load '{name_or_path}' (no such local folder; from the Hub: {str(exc).splitlines()[0]})"


def pretrained_model(
    where: str,
    name_or_path: str,
    task: str,
    labels: dict[str, Any],
    *,
    dtype: str = "float32",
    revision: str = "main",
    trust_remote_code: bool = False,
) -> Any:
    """A pretrained transformers model with a head for `task`, from safetensors weights only."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    try:
        source = resolve_name_or_path(name_or_path)
    except (KeyError, FileNotFoundError) as exc:
        raise NodeError(f"{where}: {exc.args[0]}") from exc
    model_class = AutoModelForCausalLM if task == "causal_lm" else AutoModelForSequenceClassification
    check_pretrained_fits(where, name_or_path, source, model_class, labels, dtype, revision, trust_remote_code)

    def load() -> Any:
        return model_class.from_pretrained(
            source,
            revision=revision,
            dtype=getattr(torch, dtype),
            use_safetensors=True,
            trust_remote_code=trust_remote_code,
            **labels,
        )

    try:
        model = within_memory(where, f"loading '{name_or_path}'", "cpu", "use a smaller model or dtype bfloat16", load)
    except (OSError, ValueError) as exc:
        raise NodeError(load_error_message(where, name_or_path, source, exc)) from exc
    if model.config.pad_token_id is None and model.config.eos_token_id is not None:
        # decoder models such as GPT-2 have no pad token; batches (and sequence classification) need one
        model.config.pad_token_id = model.config.eos_token_id
    return model


def check_pretrained_fits(
    where: str,
    name_or_path: str,
    source: str,
    model_class: Any,
    labels: dict[str, Any],
    dtype: str,
    revision: str,
    trust_remote_code: bool,
) -> None:
    """Refuse a pretrained model whose weights cannot fit in the machine's memory, before loading any of them.

    The size comes from the model's config alone; a config that cannot be read is left to from_pretrained,
    which reports it with the reason.
    """
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(source, revision=revision, trust_remote_code=trust_remote_code, **labels)
        count = parameter_count(model_class, config, trust_remote_code=trust_remote_code)
    except (OSError, ValueError):
        return
    need = MemoryNeed(weights=count * DTYPE_BYTES[dtype])
    advice = "use a smaller model, dtype bfloat16, or a machine with more memory"
    check_fits(where, f"'{name_or_path}' ({format_count(count)} parameters in {dtype})", need, "cpu", advice)


@node(
    "model.load_pretrained",
    title="Pretrained model",
    category="model",
    inputs=[
        Input("dataset", DATASET, required=False, description="classification: labelled data to count the classes from")
    ],
    outputs=[Output("model", MODEL, "The pretrained model with a head for the task")],
    params=LoadPretrainedParams,
    key_params=("name_or_path", "task"),
    external_files=_pretrained_files,
)
def load_pretrained(ctx: RunContext, inputs: dict, params: LoadPretrainedParams) -> dict:
    """Load a pretrained transformers model (Hub name, local folder or bundled:minilm), safetensors only."""
    labels: dict[str, Any] = {}
    if params.task == "classification":
        labels = label_config(*class_labels(inputs.get("dataset"), params.num_labels, "model.load_pretrained"))
    model = pretrained_model(
        "model.load_pretrained: parameter 'name_or_path'",
        params.name_or_path,
        params.task,
        labels,
        dtype=params.dtype,
        revision=params.revision,
        trust_remote_code=params.trust_remote_code,
    )
    ctx.log(f"loaded {type(model).__name__} with {model.num_parameters():,} parameters from {params.name_or_path}")
    return {"model": model}


# ---------------------------------------------------------------------------------------------
# model.from_config


class FromConfigParams(NodeParams):
    architecture: Literal["gpt2", "bert"] = Field(
        "gpt2", description="gpt2 (decoder, generation) or bert (encoder, classification)"
    )
    task: Literal["causal_lm", "classification"] = Field(
        "causal_lm", description="causal_lm (gpt2 only) or classification"
    )
    num_labels: int | None = Field(
        None, ge=2, le=10_000, description="classification: number of classes (empty: taken from the connected dataset)"
    )
    n_layer: int = Field(4, ge=1, le=96, description="Transformer blocks (BERT: num_hidden_layers)")
    n_head: int = Field(4, ge=1, le=128, description="Attention heads per block (BERT: num_attention_heads)")
    n_embd: int = Field(256, ge=8, le=16_384, description="Hidden size; a multiple of n_head (BERT: hidden_size)")
    n_positions: int = Field(
        512, ge=8, le=131_072, description="Longest sequence the model can read (BERT: max_position_embeddings)"
    )
    dropout: float = Field(0.1, ge=0, lt=1, description="Dropout on embeddings, attention and residual paths")
    vocab_size: int | None = Field(
        None, ge=8, le=1_000_000, description="Vocabulary size when no tokenizer is connected"
    )
    pretrained: str = Field(
        "",
        description="Start from this pretrained model (Hub name or local folder, e.g. gpt2) instead of random weights; "
        "the size settings above are then ignored, and the tokenizer must be the model's own",
    )

    @model_validator(mode="after")
    def _check_shape(self) -> FromConfigParams:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        if self.architecture == "bert" and self.task == "causal_lm":
            raise ValueError(
                "architecture 'bert' is an encoder: use task 'classification', or architecture 'gpt2' for causal_lm"
            )
        return self


def build_config(params: FromConfigParams, tokenizer: Any, labels: dict[str, Any]):
    """A transformers config for the requested shape; vocabulary and special tokens from the tokenizer."""
    from transformers import BertConfig, GPT2Config

    vocab_size = len(tokenizer) if tokenizer is not None else params.vocab_size
    if vocab_size is None:
        raise NodeError(
            "model.from_config: connect a tokenizer (or set parameter 'vocab_size') so the model knows its vocabulary"
        )
    special = {}
    if tokenizer is not None:
        special = {
            "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "bos_token_id": tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id,
        }
    if params.architecture == "gpt2":
        return GPT2Config(
            vocab_size=vocab_size,
            n_layer=params.n_layer,
            n_head=params.n_head,
            n_embd=params.n_embd,
            n_positions=params.n_positions,
            resid_pdrop=params.dropout,
            embd_pdrop=params.dropout,
            attn_pdrop=params.dropout,
            **special,
            **labels,
        )
    return BertConfig(
        vocab_size=vocab_size,
        num_hidden_layers=params.n_layer,
        num_attention_heads=params.n_head,
        hidden_size=params.n_embd,
        intermediate_size=4 * params.n_embd,
        max_position_embeddings=params.n_positions,
        hidden_dropout_prob=params.dropout,
        attention_probs_dropout_prob=params.dropout,
        **special,
        **labels,
    )


@node(
    "model.from_config",
    title="New model",
    category="model",
    inputs=[
        Input("tokenizer", TOKENIZER, required=False, description="Gives the vocabulary size and special token ids"),
        Input(
            "dataset", DATASET, required=False, description="classification: labelled data to count the classes from"
        ),
    ],
    outputs=[Output("model", MODEL, "A randomly initialised model")],
    params=FromConfigParams,
    key_params=("architecture", "n_layer", "n_embd"),
)
def from_config(ctx: RunContext, inputs: dict, params: FromConfigParams) -> dict:
    """A fresh, randomly initialised GPT-2 or BERT of the size you choose (training from scratch).

    With `pretrained` set (e.g. `gpt2`) it loads that model's weights instead, so a `--set`
    turns a from-scratch pipeline into a fine-tuning one; pair it with the model's own tokenizer
    (text.train_tokenizer's `pretrained`, or text.load_tokenizer).
    """
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, set_seed

    labels = {}
    if params.task == "classification":
        labels = label_config(*class_labels(inputs.get("dataset"), params.num_labels, "model.from_config"))
    tokenizer = inputs.get("tokenizer")
    if params.pretrained:
        model = pretrained_model("model.from_config: parameter 'pretrained'", params.pretrained, params.task, labels)
        if tokenizer is not None and len(tokenizer) > model.config.vocab_size:
            raise NodeError(
                f"model.from_config: the connected tokenizer has {len(tokenizer):,} tokens but pretrained model "
                f"'{params.pretrained}' knows only {model.config.vocab_size:,}; connect the model's own tokenizer "
                f"(set the tokenizer node's 'pretrained' or 'name_or_path' to '{params.pretrained}')"
            )
        set_dropout(model, params.dropout)
        ctx.log(f"loaded {type(model).__name__} with {model.num_parameters():,} parameters from {params.pretrained}")
        return {"model": model}
    config = build_config(params, tokenizer, labels)
    model_class = AutoModelForCausalLM if params.task == "causal_lm" else AutoModelForSequenceClassification
    count = parameter_count(model_class, config)
    advice = "lower n_layer, n_embd or vocab_size (a smaller tokenizer), or run on a machine with more memory"
    what = f"a {params.architecture} model of {format_count(count)} parameters"
    check_fits("model.from_config", what, MemoryNeed(weights=count * 4), "cpu", advice)  # built in float32 on the CPU
    set_seed(ctx.seed)  # the initial weights are part of the cached output: make them reproducible
    model = within_memory(
        "model.from_config", f"building {what}", "cpu", advice, lambda: model_class.from_config(config)
    )
    ctx.log(f"created {type(model).__name__} with {model.num_parameters():,} parameters")
    return {"model": model}


# ---------------------------------------------------------------------------------------------
# model.lora


class LoraParams(NodeParams):
    r: int = Field(8, ge=1, le=1024, description="Rank of the low-rank update")
    alpha: float = Field(16, gt=0, description="Scaling of the update (alpha / r)")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the adapter's input")
    target_modules: list[str] = Field(
        [],
        description="Module names to adapt, e.g. c_attn or query, value (empty: peft's default for the architecture)",
    )


@node(
    "model.lora",
    title="LoRA adapter",
    category="model",
    inputs=[Input("model", MODEL)],
    outputs=[Output("model", MODEL, "The model wrapped with a trainable LoRA adapter (base weights frozen)")],
    params=LoraParams,
    key_params=("r", "alpha"),
)
def lora(ctx: RunContext, inputs: dict, params: LoraParams) -> dict:
    """Wrap a model with a LoRA adapter (peft) so training updates only small low-rank matrices."""
    from peft import LoraConfig, TaskType, get_peft_model

    model = inputs["model"]
    weights = sum(parameter.numel() * parameter.element_size() for parameter in model.parameters())
    advice = "use a smaller model, or a machine with more memory"
    check_fits("model.lora", "a copy of the model to adapt", MemoryNeed(weights=weights), "cpu", advice)
    # peft injects layers in place, and the input may be a cached value: adapt a copy
    base = within_memory("model.lora", "copying the model", "cpu", advice, lambda: copy.deepcopy(model))
    is_classifier = base.__class__.__name__.endswith("ForSequenceClassification")
    config = LoraConfig(
        r=params.r,
        lora_alpha=params.alpha,
        lora_dropout=params.dropout,
        target_modules=params.target_modules or None,
        fan_in_fan_out=base.config.model_type == "gpt2",  # GPT-2's Conv1D layers store weights transposed
        task_type=TaskType.SEQ_CLS if is_classifier else TaskType.CAUSAL_LM,
    )
    try:
        model = get_peft_model(base, config)
    except ValueError as exc:
        raise NodeError(f"model.lora: parameter 'target_modules': {str(exc).splitlines()[0]}") from exc
    trainable, total = model.get_nb_trainable_parameters()
    ctx.log(f"LoRA adapter: {trainable:,} trainable of {total:,} parameters ({100 * trainable / total:.2f}%)")
    return {"model": model}
