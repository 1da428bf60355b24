"""Optimization nodes: optimizers, learning-rate schedules, regularization.

Each node only validates its settings and hands them on as a plain JSON dict (the port
contract for OPTIMIZER_SPEC, SCHEDULE_SPEC and REGULARIZATION_SPEC); `train.trainer` turns the
dicts into a torch optimizer, a transformers schedule and Trainer arguments.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from nodeloom.engine import NodeParams, Output, RunContext, node
from nodeloom.engine.node import param_rules
from nodeloom.engine.types import OPTIMIZER_SPEC, REGULARIZATION_SPEC, SCHEDULE_SPEC

ADAM_FAMILY = param_rules(applies_when={"name": ["adamw", "adam"]})


class OptimizerParams(NodeParams):
    name: Literal["adamw", "adam", "sgd", "adafactor"] = Field(
        "adamw", description="adamw (decoupled weight decay), adam (L2 penalty), sgd or adafactor"
    )
    lr: float = Field(5e-5, gt=0, le=10, description="Peak learning rate")
    beta1: float = Field(
        0.9, ge=0, lt=1, description="Adam/AdamW: decay of the gradient average", json_schema_extra=ADAM_FAMILY
    )
    beta2: float = Field(
        0.999,
        ge=0,
        lt=1,
        description="Adam/AdamW: decay of the squared-gradient average",
        json_schema_extra=ADAM_FAMILY,
    )
    eps: float = Field(
        1e-8,
        gt=0,
        le=1,
        description="Adam/AdamW: added to the denominator for stability",
        json_schema_extra=ADAM_FAMILY,
    )
    weight_decay: float = Field(0.0, ge=0, le=1, description="Weight decay (see optim.regularization for exclusions)")
    momentum: float = Field(
        0.0, ge=0, lt=1, description="SGD momentum", json_schema_extra=param_rules(applies_when={"name": ["sgd"]})
    )
    nesterov: bool = Field(
        False,
        description="SGD: use Nesterov momentum (needs momentum > 0)",
        json_schema_extra=param_rules(applies_when={"name": ["sgd"]}),
    )
    fused: bool = Field(
        True,
        description="Use torch's fused kernel where the device has one (Adam, AdamW, SGD)",
        json_schema_extra=param_rules(applies_when={"name": ["adamw", "adam", "sgd"]}),
    )

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> OptimizerParams:
        if self.name == "sgd" and self.nesterov and self.momentum == 0:  # only SGD reads either
            raise ValueError("nesterov needs momentum > 0")
        return self


@node(
    "optim.optimizer",
    title="Optimizer",
    category="optim",
    outputs=[Output("optimizer", OPTIMIZER_SPEC, "Which optimizer the trainer builds, with its settings")],
    params=OptimizerParams,
    key_params=("name", "lr", "weight_decay"),
)
def optimizer(ctx: RunContext, inputs: dict, params: OptimizerParams) -> dict:
    """Choose the optimizer (AdamW, Adam, SGD or Adafactor) and its settings for a trainer."""
    return {"optimizer": params.model_dump(mode="json")}


class ScheduleParams(NodeParams):
    name: Literal["constant", "linear", "cosine", "cosine_with_restarts", "polynomial"] = Field(
        "linear", description="How the learning rate moves after warmup"
    )
    warmup_steps: int = Field(
        0,
        ge=0,
        description="Steps of linear warmup from 0 (wins over warmup_ratio when > 0)",
        json_schema_extra=param_rules(unit="steps"),
    )
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="Warmup as a fraction of all training steps")
    num_cycles: int = Field(
        1,
        ge=1,
        description="cosine_with_restarts: number of hard restarts",
        json_schema_extra=param_rules(applies_when={"name": ["cosine_with_restarts"]}),
    )
    power: float = Field(
        1.0,
        gt=0,
        description="polynomial: exponent of the decay",
        json_schema_extra=param_rules(applies_when={"name": ["polynomial"]}),
    )
    lr_end: float = Field(
        1e-7,
        ge=0,
        description="polynomial: final learning rate",
        json_schema_extra=param_rules(applies_when={"name": ["polynomial"]}),
    )


@node(
    "optim.lr_schedule",
    title="LR schedule",
    category="optim",
    outputs=[Output("schedule", SCHEDULE_SPEC, "A learning-rate schedule for the trainer")],
    params=ScheduleParams,
    key_params=("name", "warmup_steps", "warmup_ratio"),
)
def lr_schedule(ctx: RunContext, inputs: dict, params: ScheduleParams) -> dict:
    """Choose a learning-rate schedule (constant, linear, cosine, restarts, polynomial) with warmup."""
    return {"schedule": params.model_dump(mode="json")}


class RegularizationParams(NodeParams):
    dropout: float | None = Field(
        None, ge=0, lt=1, description="Set every dropout layer of the model to this rate (empty: keep the model's)"
    )
    exclude_bias_and_norm_from_decay: bool = Field(True, description="No weight decay on biases and LayerNorm weights")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Label smoothing of the cross-entropy loss")
    max_grad_norm: float | None = Field(
        1.0, gt=0, description="Clip the gradient norm to this value (empty: no clipping)"
    )
    early_stopping_patience: int | None = Field(
        None,
        ge=1,
        description="Stop after this many evaluations without a better validation loss (needs validation data)",
    )
    early_stopping_threshold: float = Field(0.0, ge=0, description="How much the validation loss must improve to count")


@node(
    "optim.regularization",
    title="Regularization",
    category="optim",
    outputs=[
        Output("regularization", REGULARIZATION_SPEC, "Dropout, weight-decay, clipping and early-stopping settings")
    ],
    params=RegularizationParams,
    key_params=("dropout", "label_smoothing", "early_stopping_patience"),
)
def regularization(ctx: RunContext, inputs: dict, params: RegularizationParams) -> dict:
    """Dropout override, weight-decay exclusions, label smoothing, gradient clipping and early stopping."""
    return {"regularization": params.model_dump(mode="json")}
