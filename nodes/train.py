"""Training node: transformers' Trainer, set up from the optimizer, schedule and regularization specs.

The node builds `TrainingArguments` and a torch optimizer from the specs, hands everything to
`Trainer` (which owns the loop, mixed precision, DDP, checkpoints and resuming) and listens
through a `TrainerCallback` to stream progress and to stop when the run is cancelled.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import math
import shutil
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from nodeloom.engine import Input, NodeError, NodeParams, Output, RunContext, node
from nodeloom.engine.params import ParamsConflict
from nodeloom.engine.types import (
    HISTORY,
    METRICS,
    MODEL,
    OPTIMIZER_SPEC,
    REGULARIZATION_SPEC,
    SCHEDULE_SPEC,
    TOKENIZED_DATASET,
)
from nodeloom.nodes import sharding
from nodeloom.nodes.checkpoints import STATE_FILE, publish, resumable_checkpoint, staging_folder
from nodeloom.nodes.memory import check_fits, training_need, within_memory
from nodeloom.nodes.models import set_dropout
from nodeloom.nodes.optim import OptimizerParams, RegularizationParams, ScheduleParams

# Columns a model's forward pass takes from a tokenized dataset; anything else (text, label) stays behind.
MODEL_COLUMNS = ("input_ids", "attention_mask", "token_type_ids", "labels")
# What a shorter sequence is padded with, per column (-100 is ignored by the cross-entropy loss).
PAD_VALUES = {"attention_mask": 0, "token_type_ids": 0, "labels": -100}
# Our schedule names -> transformers' (plain "constant" would ignore warmup).
SCHEDULER_NAMES = {
    "constant": "constant_with_warmup",
    "linear": "linear",
    "cosine": "cosine",
    "cosine_with_restarts": "cosine_with_restarts",
    "polynomial": "polynomial",
}
# Attention implementations that never hold the whole score matrix (on CUDA; CPU falls back to it with dropout).
FUSED_ATTENTION = ("sdpa", "flash_attention_2", "flash_attention_3")
TRAINING_ADVICE = (
    "lower batch_size (raise gradient_accumulation_steps to keep the same effective batch), use shorter sequences "
    "(text.tokenize's block_size or max_length), a smaller model, or a device with more memory"
)

# Bounds on step counts: ten million steps is months of training, and the bound keeps typos finite.
MOST_STEPS = 10_000_000


class TrainerParams(NodeParams):
    epochs: float = Field(
        1.0, gt=0, le=10_000, description="Passes over the training data (ignored when max_steps > 0)"
    )
    max_steps: int = Field(
        0,
        ge=0,
        le=MOST_STEPS,
        description="Stop after this many optimizer steps (0: train for `epochs`)",
        json_schema_extra={"unit": "steps"},
    )
    batch_size: int = Field(
        8, ge=1, le=65_536, description="Examples per step on each device", json_schema_extra={"unit": "examples"}
    )
    gradient_accumulation_steps: int = Field(
        1, ge=1, le=4096, description="Batches summed into one optimizer step", json_schema_extra={"unit": "batches"}
    )
    eval_steps: int = Field(
        0,
        ge=0,
        le=MOST_STEPS,
        description="Evaluate on the validation data every N steps (0: at each epoch's end)",
        json_schema_extra={"unit": "steps"},
    )
    eval_batch_size: int | None = Field(
        None,
        ge=1,
        le=65_536,
        description="Examples per evaluation batch (empty: batch_size)",
        json_schema_extra={"unit": "examples"},
    )
    logging_steps: int = Field(
        1,
        ge=1,
        le=MOST_STEPS,
        description="Report loss, learning rate and tokens/s every N steps",
        json_schema_extra={"unit": "steps"},
    )
    save_steps: int = Field(
        500,
        ge=0,
        le=MOST_STEPS,
        description="Write a checkpoint every N steps (0: none)",
        json_schema_extra={"unit": "steps"},
    )
    save_total_limit: int = Field(2, ge=1, le=10_000, description="Keep at most this many checkpoints")
    resume_from: str = Field("", description="A checkpoint folder (checkpoint-N) of an earlier run to continue from")
    mixed_precision: Literal["auto", "bf16", "fp16", "no"] = Field(
        "auto", description="auto: bf16 where the device supports it, else float32"
    )
    seed: int | None = Field(
        None, ge=0, le=2**32 - 1, description="Seed for initialisation, shuffling and dropout (empty: the pipeline's)"
    )
    report_to: Literal["none", "tensorboard", "mlflow", "wandb"] = Field(
        "none",
        description="Experiment tracking through the Trainer's integration: tensorboard writes into the "
        "node's working folder; mlflow and wandb follow their own settings (MLFLOW_TRACKING_URI, WANDB_PROJECT…)",
    )
    run_name: str = Field(
        "",
        max_length=256,
        description="The run's name in the tracker (empty: nodeloom-RUN-NODE)",
        json_schema_extra={"applies_when": {"report_to": ["tensorboard", "mlflow", "wandb"]}},
    )
    # Both sharding parameters are part of the cache key, as every parameter is: they change how training is split,
    # but FSDP's mixed-precision policy and reduce-scatter and a DeepSpeed config's own precision, optimizer and
    # clipping sections give different weights, so a sharded result must not stand in for an unsharded one.
    fsdp: Literal["off", "full_shard", "shard_grad_op"] = Field(
        "off",
        description="Shard the model across GPUs with PyTorch FSDP through the Trainer: full_shard splits weights, "
        "gradients and optimizer state (least memory), shard_grad_op keeps each layer's weights gathered from forward "
        "to backward (faster). Needs CUDA GPUs and nodeloom run --processes N (or torchrun); on CPU the Trainer "
        "cannot shard, so the run is refused",
    )
    deepspeed_config: str = Field(
        "",
        description='A DeepSpeed JSON config file (ZeRO stage, offload; "auto" values are filled from the node\'s '
        "settings); its optimizer and scheduler sections, if any, replace the node's. Needs pip install deepspeed, "
        "CUDA GPUs and nodeloom run --processes N (or torchrun)",
    )

    @model_validator(mode="after")
    def _one_sharding(self) -> TrainerParams:
        if self.fsdp != "off" and self.deepspeed_config:
            raise ParamsConflict(
                "fsdp and deepspeed_config cannot both be set: the Trainer shards with one of them; "
                "set fsdp to off or clear deepspeed_config",
                "fsdp",
                "deepspeed_config",
            )
        return self


def _read_files(params: TrainerParams) -> list[str]:
    """The files the node reads: fingerprinted into its cache key, and checked by validation before the run."""
    return [path for path in (params.resume_from, params.deepspeed_config) if path]


# What each tracker needs installed: the module transformers' integration imports, and how to get it.
TRACKER_PACKAGES = {
    "tensorboard": ("tensorboard", "pip install 'nodeloom[tracking]'"),
    "mlflow": ("mlflow", "pip install mlflow"),
    "wandb": ("wandb", "pip install wandb"),
}


def check_tracker(report_to: str) -> None:
    """A tracker whose package is missing is the user's to install: one line saying how, before training starts."""
    if report_to == "none":
        return
    module, install = TRACKER_PACKAGES[report_to]
    if importlib.util.find_spec(module) is None:
        raise NodeError(
            f"train.trainer: parameter 'report_to': {report_to} is not installed; {install}, or set report_to to none"
        )


def point_tensorboard_at(hf_trainer: Any, folder: Path) -> None:
    """TensorBoard logs into `folder` (the node's own) instead of under the checkpoints: transformers 5 has no
    logging_dir argument; its TensorBoardCallback takes the folder it is given before training begins."""
    from transformers.integrations import TensorBoardCallback

    for callback in hf_trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback):
            callback.logging_dir = str(folder)


# ---------------------------------------------------------------------------------------------
# pure helpers


def pad_examples(examples: list[dict[str, Any]], pad_token_id: int) -> dict[str, Any]:
    """Collate examples into tensors, right-padding token columns to the longest example."""
    import torch

    longest = max(len(example["input_ids"]) for example in examples)
    batch = {}
    for column in examples[0]:
        values = [example[column] for example in examples]
        if isinstance(values[0], (list, tuple)):
            fill = PAD_VALUES.get(column, pad_token_id)
            values = [list(value) + [fill] * (longest - len(value)) for value in values]
        batch[column] = torch.tensor(values)
    return batch


def model_inputs(dataset: Any, port: str) -> Any:
    """The dataset reduced to the columns a model reads, after checking the port contract."""
    if dataset is None:
        return None
    missing = [column for column in ("input_ids", "labels") if column not in dataset.column_names]
    if missing:
        raise NodeError(
            f"train.trainer: input '{port}' has no '{missing[0]}' column; connect the output of text.tokenize "
            f"(columns found: {', '.join(dataset.column_names)})"
        )
    if dataset.num_rows == 0:
        raise NodeError(f"train.trainer: input '{port}' has no rows")
    return dataset.select_columns([column for column in MODEL_COLUMNS if column in dataset.column_names])


def optimizer_class_and_kwargs(spec: OptimizerParams, device_type: str) -> tuple[type, dict[str, Any]]:
    """The torch optimizer class and its arguments; Trainer adds the parameter groups."""
    import torch

    fused = spec.fused and device_type in ("cuda", "cpu", "mps")  # torch has fused Adam/AdamW/SGD kernels there
    if spec.name in ("adam", "adamw"):
        optimizer_class = torch.optim.AdamW if spec.name == "adamw" else torch.optim.Adam
        return optimizer_class, {"lr": spec.lr, "betas": (spec.beta1, spec.beta2), "eps": spec.eps, "fused": fused}
    if spec.name == "sgd":
        return torch.optim.SGD, {"lr": spec.lr, "momentum": spec.momentum, "nesterov": spec.nesterov, "fused": fused}
    from transformers.optimization import Adafactor

    # a fixed learning rate, so that the schedule node stays in charge of it
    return Adafactor, {"lr": spec.lr, "scale_parameter": False, "relative_step": False, "warmup_init": False}


def precision_flags(choice: str, device_type: str) -> dict[str, bool]:
    """TrainingArguments' bf16/fp16 flags for a mixed-precision choice on a device."""
    import torch

    if choice == "auto":
        bf16 = device_type == "cuda" and torch.cuda.is_bf16_supported()
        return {"bf16": bf16, "fp16": False}
    if choice == "fp16" and device_type != "cuda":
        raise NodeError(
            f"train.trainer: parameter 'mixed_precision': fp16 needs a CUDA device, this run is on {device_type}; "
            "use auto or bf16"
        )
    return {"bf16": choice == "bf16", "fp16": choice == "fp16"}


def schedule_arguments(schedule: ScheduleParams) -> dict[str, Any]:
    """TrainingArguments fields for a schedule spec (Trainer calls transformers' get_scheduler with them)."""
    kwargs: dict[str, Any] = {}
    if schedule.name == "cosine_with_restarts":
        kwargs = {"num_cycles": schedule.num_cycles}
    elif schedule.name == "polynomial":
        kwargs = {"power": schedule.power, "lr_end": schedule.lr_end}
    return {
        "lr_scheduler_type": SCHEDULER_NAMES[schedule.name],
        "lr_scheduler_kwargs": kwargs,
        # transformers reads a warmup below 1 as a fraction of the training steps
        "warmup_steps": schedule.warmup_steps or schedule.warmup_ratio,
    }


def device_kind(device: str) -> str:
    """ "cuda" for "cuda:1" and the like."""
    return device.partition(":")[0]


def longest_sequence(dataset: Any) -> int:
    """Tokens in the longest example: pad_examples pads a batch to its longest, so no batch is wider."""
    import pyarrow.compute as pc

    longest = 0
    for batch in dataset.with_format("arrow").iter(batch_size=10_000):  # in slices: the column may not fit in memory
        longest = max(longest, pc.max(pc.list_value_length(batch["input_ids"])).as_py() or 0)
    return longest


def check_training_fits(
    model: Any,
    train_data: Any,
    params: TrainerParams,
    optimizer: OptimizerParams,
    precision: dict[str, bool],
    device: str,
) -> None:
    """Refuse a run whose model copy, gradients, optimizer state and activations cannot fit on the device (each
    process's share of them under FSDP)."""
    if params.deepspeed_config:
        return  # its config may offload any part to CPU or NVMe: no estimate from here is a lower bound
    sequence_length = longest_sequence(train_data)
    fused = device_kind(device) == "cuda" and model.config._attn_implementation in FUSED_ATTENTION
    optimizer_name = "sgd_momentum" if optimizer.name == "sgd" and optimizer.momentum else optimizer.name
    activation_bytes = 2 if any(precision.values()) else 4
    need = training_need(model, optimizer_name, params.batch_size, sequence_length, activation_bytes, fused)
    need = sharding.per_process_need(need, params.fsdp, sharding.world_size())
    what = f"training with batch_size {params.batch_size} of up to {sequence_length} tokens"
    check_fits("train.trainer", what, need, device, TRAINING_ADVICE)


def rotate_checkpoints(hf_trainer: Any, checkpoints: str) -> None:
    """Delete the oldest checkpoints beyond save_total_limit, keeping the newest and the best, as the Trainer
    does after each save (a function since transformers 5, a Trainer method before)."""
    rotate = getattr(hf_trainer, "_rotate_checkpoints", None)
    if rotate is not None:
        rotate(use_mtime=False, output_dir=checkpoints)
        return
    from transformers.trainer_utils import rotate_checkpoints as rotate_folder

    rotate_folder(checkpoints, hf_trainer.args.save_total_limit, hf_trainer.state.best_model_checkpoint)


def perplexity(loss: float | None) -> float | None:
    """exp(cross-entropy), infinite rather than an overflow error for a diverged model."""
    if loss is None:
        return None
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf


def shared_folder(args: Any, folder: str) -> str:
    """Rank 0's folder on every process, so DDP ranks (each with its own run id) share checkpoints."""
    import torch.distributed as dist

    args.device  # noqa: B018  (sets up the process group under torchrun / accelerate launch)
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return folder
    shared = [folder]
    dist.broadcast_object_list(shared, src=0)
    return shared[0]


# ---------------------------------------------------------------------------------------------
# Trainer pieces


@functools.cache
def trainer_classes():
    """Trainer subclasses, defined on first use so that importing the node stays cheap."""
    from transformers import Trainer, TrainerCallback

    class NodeLoomTrainer(Trainer):
        """Trainer whose weight-decay exclusions follow the regularization spec, and whose checkpoints are whole
        or absent (nodes/checkpoints.py)."""

        def __init__(self, *args: Any, decay_bias_and_norm: bool, **kwargs: Any):
            self.decay_bias_and_norm = decay_bias_and_norm
            self.saving_into: str | None = None  # the staging folder while a checkpoint is being written
            super().__init__(*args, **kwargs)

        def get_decay_parameter_names(self, model: Any) -> list[str]:
            if self.decay_bias_and_norm:
                return [name for name, _ in model.named_parameters()]
            return super().get_decay_parameter_names(model)  # biases and norms excluded

        def _get_output_dir(self, trial: Any) -> str:
            return self.saving_into or super()._get_output_dir(trial)

        def _save_checkpoint(self, model: Any, trial: Any) -> None:
            """Write checkpoint-N under the staging folder, then rename it beside the others when whole."""
            checkpoints = super()._get_output_dir(trial)
            name = f"checkpoint-{self.state.global_step}"
            staged, final = Path(staging_folder(checkpoints), name), Path(checkpoints, name)
            if self.args.should_save:
                shutil.rmtree(staged, ignore_errors=True)  # what a save of this step left when it failed
            self.accelerator.wait_for_everyone()
            self.saving_into = str(staged.parent)
            try:
                super()._save_checkpoint(model, trial)
            finally:
                self.saving_into = None
            self.accelerator.wait_for_everyone()  # every process's files (rng_state_<rank>.pth) are in
            if not self.args.should_save:
                return
            if self.state.best_model_checkpoint == str(staged):  # the Trainer found the best one where it was written
                self.state.best_model_checkpoint = str(final)
                self.state.save_to_json(str(staged / STATE_FILE))
            publish(staged, final)
            rotate_checkpoints(self, checkpoints)  # the Trainer's own rotation only saw the staging folder

    class ProgressReporter(TrainerCallback):
        """Streams Trainer logs as node progress, records the history, and stops on cancel."""

        def __init__(self, ctx: RunContext, language_model: bool):
            self.ctx = ctx
            self.language_model = language_model
            self.history: dict[str, list[dict[str, Any]]] = {"steps": [], "eval": []}
            self.tokens_at_start = 0
            self._since = time.perf_counter()
            self._tokens_since = 0

        def _restart_clock(self, state: Any) -> None:
            self._since, self._tokens_since = time.perf_counter(), state.num_input_tokens_seen

        def _emit(self, state: Any, message: str, values: dict[str, Any]) -> None:
            if state.is_world_process_zero:  # one stream of events under DDP
                fraction = state.global_step / state.max_steps if state.max_steps else None
                self.ctx.progress(fraction, message, **values)

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.tokens_at_start = state.num_input_tokens_seen  # not zero when resuming
            self._restart_clock(state)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
            if not logs or "loss" not in logs:
                return
            seconds = max(time.perf_counter() - self._since, 1e-9)
            entry = {
                "step": state.global_step,
                "epoch": state.epoch,
                "loss": logs["loss"],
                "learning_rate": logs.get("learning_rate"),
                "grad_norm": logs.get("grad_norm"),
                "tokens_per_second": (state.num_input_tokens_seen - self._tokens_since) / seconds,
            }
            self.history["steps"].append(entry)
            self._emit(state, f"step {state.global_step}/{state.max_steps}", entry)
            self._restart_clock(state)

        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict | None = None, **kwargs: Any) -> None:
            metrics = metrics or {}
            entry = {"step": state.global_step, "epoch": state.epoch, **metrics}
            if self.language_model:  # a classifier's loss is not a per-token loss: no perplexity
                entry["eval_perplexity"] = perplexity(metrics.get("eval_loss"))
            self.history["eval"].append(entry)
            self._emit(state, f"evaluated at step {state.global_step}", entry)
            self._restart_clock(state)  # evaluation time is not training throughput

        def _stop_if_cancelled(self, *args: Any, **kwargs: Any) -> None:
            self.ctx.check_cancelled()  # raises Cancelled out of Trainer.train; the runner reports it

        on_step_end = on_substep_end = on_prediction_step = _stop_if_cancelled

    return NodeLoomTrainer, ProgressReporter


# ---------------------------------------------------------------------------------------------
# the node


@node(
    "train.trainer",
    title="Trainer",
    category="train",
    inputs=[
        Input("model", MODEL),
        Input("train", TOKENIZED_DATASET, description="Tokenized training data (input_ids, attention_mask, labels)"),
        Input(
            "validation",
            TOKENIZED_DATASET,
            required=False,
            description="Tokenized validation data for eval_loss and early stopping",
        ),
        Input("optimizer", OPTIMIZER_SPEC, required=False, description="Default: AdamW, lr 5e-5"),
        Input("schedule", SCHEDULE_SPEC, required=False, description="Default: linear decay, no warmup"),
        Input("regularization", REGULARIZATION_SPEC, required=False, description="Default: clip gradients at 1.0"),
    ],
    outputs=[
        Output("model", MODEL, "The trained model"),
        Output("history", HISTORY, "Loss, learning rate and tokens/s per step; evaluations"),
        Output(
            "metrics",
            METRICS,
            "train_loss, eval_loss, eval_perplexity (language models), train_runtime, train_tokens_per_second, steps",
        ),
    ],
    params=TrainerParams,
    version=2,
    wants_accelerator=True,
    key_params=("epochs", "max_steps", "batch_size"),
    external_files=_read_files,
    distributed=True,  # every process of a multi-process run trains: the Trainer does DDP
)
def trainer(ctx: RunContext, inputs: dict, params: TrainerParams) -> dict:
    """Train a model with cross-entropy through transformers' Trainer (checkpoints, resume, DDP, bf16)."""
    # All of the run inside: when memory runs out, the model copy, optimizer and batches are let go with its frames.
    return within_memory(
        "train.trainer", "training", ctx.device, TRAINING_ADVICE, lambda: run_training(ctx, inputs, params)
    )


def run_training(ctx: RunContext, inputs: dict, params: TrainerParams) -> dict:
    """The trainer node's work: check the inputs and the memory, set up transformers' Trainer, run it."""
    from transformers import EarlyStoppingCallback, PrinterCallback, TrainingArguments, set_seed

    train_data = model_inputs(inputs["train"], "train")
    eval_data = model_inputs(inputs.get("validation"), "validation")
    optimizer = OptimizerParams.model_validate(inputs.get("optimizer") or {})
    schedule = ScheduleParams.model_validate(inputs.get("schedule") or {})
    regularization = RegularizationParams.model_validate(inputs.get("regularization") or {})
    early_stopping = regularization.early_stopping_patience is not None
    if early_stopping and eval_data is None:
        raise NodeError("train.trainer: early stopping (optim.regularization) needs the 'validation' input connected")
    resume_from = resumable_checkpoint(params.resume_from) if params.resume_from else None

    check_tracker(params.report_to)
    sharding.check_sharding(params.fsdp, params.deepspeed_config, device_kind(ctx.device))
    deepspeed = sharding.deepspeed_settings(params.deepspeed_config) if params.deepspeed_config else None
    precision = precision_flags(params.mixed_precision, device_kind(ctx.device))
    check_training_fits(inputs["model"], train_data, params, optimizer, precision, ctx.device)
    seed = ctx.seed if params.seed is None else params.seed
    set_seed(seed)

    def fresh_model() -> Any:
        """A copy of the input model to train (the input may be a cached value), with the spec's dropout."""
        model = copy.deepcopy(inputs["model"])
        if regularization.dropout is not None:
            set_dropout(model, regularization.dropout)
        return model

    model = fresh_model()

    evaluate_by = "no" if eval_data is None else "steps" if params.eval_steps else "epoch"
    args = TrainingArguments(
        output_dir=str(ctx.workdir / "checkpoints"),
        num_train_epochs=params.epochs,
        max_steps=params.max_steps or -1,
        per_device_train_batch_size=params.batch_size,
        per_device_eval_batch_size=params.eval_batch_size or params.batch_size,
        gradient_accumulation_steps=params.gradient_accumulation_steps,
        learning_rate=optimizer.lr,
        weight_decay=optimizer.weight_decay,
        max_grad_norm=regularization.max_grad_norm or 0.0,
        label_smoothing_factor=regularization.label_smoothing,
        eval_strategy=evaluate_by,
        eval_steps=params.eval_steps or None,
        # early stopping keeps the best checkpoint, so it saves whenever it evaluates
        save_strategy=evaluate_by if early_stopping else "steps" if params.save_steps else "no",
        save_steps=(params.eval_steps or None) if early_stopping else params.save_steps or 500,
        save_total_limit=params.save_total_limit,
        load_best_model_at_end=early_stopping,
        metric_for_best_model="eval_loss" if early_stopping else None,
        greater_is_better=False if early_stopping else None,
        logging_strategy="steps",
        logging_steps=params.logging_steps,
        include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False,  # model_inputs already kept only what the model reads
        use_cpu=ctx.device == "cpu",
        seed=seed,
        report_to=params.report_to,
        run_name=params.run_name or f"nodeloom-{ctx.run_id}-{ctx.node_id}",
        disable_tqdm=True,
        **precision,
        **schedule_arguments(schedule),
        **sharding.sharding_arguments(params.fsdp, deepspeed),
    )
    args.output_dir = shared_folder(args, args.output_dir)
    NodeLoomTrainer, ProgressReporter = trainer_classes()
    reporter = ProgressReporter(ctx, language_model=not type(model).__name__.endswith("ForSequenceClassification"))
    callbacks: list[Any] = [reporter]
    if early_stopping:
        callbacks.append(
            EarlyStoppingCallback(regularization.early_stopping_patience, regularization.early_stopping_threshold)
        )
    pad_token_id = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    hf_trainer = NodeLoomTrainer(
        model=model,
        args=args,
        train_dataset=train_data,
        eval_dataset=eval_data,
        data_collator=functools.partial(pad_examples, pad_token_id=pad_token_id),
        optimizer_cls_and_kwargs=optimizer_class_and_kwargs(optimizer, args.device.type),
        callbacks=callbacks,
        decay_bias_and_norm=not regularization.exclude_bias_and_norm_from_decay,
    )
    hf_trainer.remove_callback(PrinterCallback)  # progress goes out as events, not printed logs
    if params.report_to == "tensorboard":
        point_tensorboard_at(hf_trainer, ctx.workdir / "tensorboard")
        ctx.log(
            f"TensorBoard logs in {ctx.workdir / 'tensorboard'}; watch with: "
            f"tensorboard --logdir {ctx.workdir / 'tensorboard'}"
        )
    elif params.report_to != "none":
        ctx.log(f"reporting to {params.report_to} as run '{args.run_name}'")
    with sharding.deepspeed_errors(params.deepspeed_config):  # the Trainer checks the config when training starts
        result = hf_trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    eval_loss = hf_trainer.evaluate()["eval_loss"] if eval_data is not None else None
    ctx.check_cancelled()

    runtime = result.metrics["train_runtime"]
    tokens = hf_trainer.state.num_input_tokens_seen - reporter.tokens_at_start
    metrics = {
        "train_loss": result.training_loss,
        "eval_loss": eval_loss,
        **({"eval_perplexity": perplexity(eval_loss)} if reporter.language_model else {}),
        "train_runtime": runtime,
        "train_tokens_per_second": tokens / runtime if runtime else None,
        "train_tokens": tokens,
        "steps": hf_trainer.state.global_step,
        "epochs": hf_trainer.state.epoch,
    }
    return {"model": sharding.gathered_model(hf_trainer, fresh_model), "history": reporter.history, "metrics": metrics}
