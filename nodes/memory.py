"""How much memory a model needs, how much a device has free, and one-line messages when it does not fit.

The model nodes check before they build, load or train, so that a model far too big for the machine is refused
with both figures instead of swapping the machine to a halt or dying in the allocator. The estimates are
deliberately simple, and use nothing but the config or the model (no memory is allocated to count):

    weights      parameters x bytes per value (4 for float32); counted on the "meta" device, so exact
    gradients    trainable parameters x bytes per value
    optimizer    trainable parameters x 8 for Adam and AdamW (two float32 moments), x 4 for SGD with
                 momentum, 0 for plain SGD and Adafactor (its factored moments are a few values per row and
                 column of each matrix)
    activations  what the forward pass keeps for the backward pass. Per transformer layer, for batch b,
                 sequence s, hidden size h and a heads (Korthikanti et al. 2022, "Reducing Activation
                 Recomputation in Large Transformer Models", eq. 1): s*b*h*(34 + 5*a*s/h) bytes with 2-byte
                 activations, twice that in float32. The 5*a*s/h part is the attention score matrix; fused
                 attention on CUDA (sdpa, flash) does not keep it, so it is left out there. A language model
                 adds its logits: b*s*vocab float32 values, kept LOGIT_COPIES times over (the logits, their
                 log-softmax for the loss, and their gradient).

Against one AdamW step of four GPT-2 configs on CPU (peak resident memory above weights, gradients and
optimizer state; 2-6 layers, hidden 64-384, vocabularies 500-30,000, 128-1024 tokens) the activation estimate
came to 0.7-1.0 times the measured peak: low rather than high, so that the check refuses only what cannot fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nodeloom.engine import NodeError

# Running out of memory midway is said by the engine's one rule (engine/out_of_memory.py), for these nodes and
# every other; re-exported so that a model node finds the estimate, the check and the translation here.
from nodeloom.engine.out_of_memory import format_bytes, free_memory
from nodeloom.engine.out_of_memory import is_out_of_memory as is_out_of_memory
from nodeloom.engine.out_of_memory import within_memory as within_memory

# Megatron's per-layer activation bytes for 2-byte values, without the attention scores (see the docstring).
BYTES_PER_LAYER_TOKEN_HIDDEN = 34
ATTENTION_SCORE_FACTOR = 5
LOGIT_COPIES = 3
OPTIMIZER_STATE_BYTES = {"adam": 8, "adamw": 8, "sgd_momentum": 4, "sgd": 0, "adafactor": 0}


@dataclass(frozen=True)
class MemoryNeed:
    """Bytes a model needs, by what they hold."""

    weights: int
    gradients: int = 0
    optimizer: int = 0
    activations: int = 0

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations

    def parts(self) -> str:
        """'weights 1.2 GiB, gradients …' for the parts that are not zero."""
        named = (
            ("weights", self.weights),
            ("gradients", self.gradients),
            ("optimizer state", self.optimizer),
            ("activations", self.activations),
        )
        return ", ".join(f"{name} {format_bytes(size)}" for name, size in named if size)


def format_count(count: int) -> str:
    """124_439_808 -> '124.4 million'."""
    for scale, word in ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (10**3, "thousand")):
        if count >= scale:
            return f"{count / scale:.1f} {word}"
    return str(count)


def parameter_count(model_class: Any, config: Any, **from_config: Any) -> int:
    """Parameters of `model_class.from_config(config)`, built on the meta device (shapes only, no memory)."""
    import torch

    with torch.device("meta"):
        skeleton = model_class.from_config(config, **from_config)
    return sum(parameter.numel() for parameter in skeleton.parameters())  # tied weights are counted once


def training_need(
    model: Any, optimizer_name: str, batch_size: int, sequence_length: int, activation_bytes: int, fused_attention: bool
) -> MemoryNeed:
    """Memory to train `model` (a copy of it, as train.trainer makes) for one step of `batch_size` sequences."""
    parameters = list(model.parameters())
    trainable = [parameter for parameter in parameters if parameter.requires_grad]
    config = model.config
    hidden, layers, heads = config.hidden_size, config.num_hidden_layers, config.num_attention_heads
    per_layer_factor = BYTES_PER_LAYER_TOKEN_HIDDEN
    if not fused_attention:
        per_layer_factor += ATTENTION_SCORE_FACTOR * heads * sequence_length / hidden
    tokens = batch_size * sequence_length
    activations = layers * tokens * hidden * per_layer_factor * activation_bytes / 2
    if not type(model).__name__.endswith("ForSequenceClassification"):
        activations += LOGIT_COPIES * tokens * config.vocab_size * 4
    return MemoryNeed(
        weights=sum(parameter.numel() * parameter.element_size() for parameter in parameters),
        gradients=sum(parameter.numel() * parameter.element_size() for parameter in trainable),
        optimizer=sum(parameter.numel() for parameter in trainable) * OPTIMIZER_STATE_BYTES[optimizer_name],
        activations=int(activations),
    )


def check_fits(where: str, what: str, need: MemoryNeed, device: str, advice: str) -> None:
    """NodeError with both figures when `need` is more than `device` has free."""
    free = free_memory(device)
    if need.total > free:
        parts = f" ({need.parts()})" if need.total != need.weights else ""
        raise NodeError(
            f"{where}: {what} needs about {format_bytes(need.total)} of memory{parts} but "
            f"{format_bytes(free)} is free on {device}; {advice}"
        )
