"""train.trainer's sharded training: FSDP and DeepSpeed through transformers' own TrainingArguments.

The Trainer does the sharding (through accelerate); this module decides whether a run can shard at all, turns the
node's parameters into TrainingArguments fields, and gathers the trained weights back into one whole model.

accelerate shards only across accelerators that a launcher started one process each on: on CPU it trains with
plain DDP whatever `fsdp` says (its AcceleratorState turns FSDP on for multi-GPU kinds of run, never MULTI_CPU),
and DeepSpeed needs CUDA and the launcher's LOCAL_RANK. Such a run is refused in one line rather than letting
the Trainer silently train unsharded.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from nodeloom.engine import NodeError
from nodeloom.engine.files import RefusedPath, readable
from nodeloom.nodes.memory import MemoryNeed

# FSDP2's one sharding choice (transformers 5 maps the old strategy names onto it): full_shard frees each layer's
# gathered parameters after its forward pass, shard_grad_op keeps them until the backward pass (faster, more memory).
RESHARD_AFTER_FORWARD = {"full_shard": True, "shard_grad_op": False}
MOST_CONFIG_BYTES = 1 << 20  # a DeepSpeed config is a few KiB of JSON
# ZeRO-3 gives the whole weights back only when told to gather them (either spelling, the second the older).
GATHER_SETTINGS = ("stage3_gather_16bit_weights_on_model_save", "stage3_gather_fp16_weights_on_model_save")
LAUNCH_HINT = "nodeloom run PIPELINE --processes N (or torchrun --nproc_per_node N -m nodeloom run PIPELINE)"


def launched(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether a launcher (torchrun, `--processes N`) started this process: accelerate shards only then."""
    return environ.get("LOCAL_RANK", "-1").strip() not in ("", "-1")


def world_size(environ: Mapping[str, str] = os.environ) -> int:
    """How many processes train together: the process group's size, or the launcher's WORLD_SIZE before it exists."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    text = environ.get("WORLD_SIZE", "1").strip()
    return int(text) if text.isdigit() and int(text) > 0 else 1


def check_sharding(fsdp: str, deepspeed_config: str, device_type: str, environ: Mapping[str, str] = os.environ) -> None:
    """Refuse, in one line naming the parameter and the fix, a sharded run that the Trainer would not shard (on
    CPU, or in a process no launcher started), or that cannot start (DeepSpeed not installed)."""
    if fsdp == "off" and not deepspeed_config:
        return
    parameter, engine, off = (
        ("fsdp", "FSDP", "set fsdp to off")
        if fsdp != "off"
        else ("deepspeed_config", "DeepSpeed", "clear deepspeed_config")
    )
    where = f"train.trainer: parameter '{parameter}'"
    if device_type != "cuda":
        raise NodeError(
            f"{where}: {engine} shards across CUDA GPUs only and this run is on {device_type}, where the Trainer "
            f"would train unsharded (plain DDP); run on GPUs (--device cuda) with {LAUNCH_HINT}, or {off}"
        )
    if not launched(environ):
        raise NodeError(
            f"{where}: {engine} needs a run started by a launcher, one process per GPU, and this is a plain "
            f"single process; run {LAUNCH_HINT}, or {off}"
        )
    if deepspeed_config and importlib.util.find_spec("deepspeed") is None:
        raise NodeError(f"{where}: DeepSpeed is not installed; pip install deepspeed (on the GPU machine), or {off}")


def deepspeed_settings(path: str) -> dict[str, Any]:
    """The DeepSpeed config at `path` (a JSON object), read here so that `~` is expanded, the file checked as the
    node's other paths are (engine/files.py: no devices, FIFOs or /proc), and a bad file named in one line."""
    where = "train.trainer: parameter 'deepspeed_config'"
    try:
        kind, expanded = readable(path)
    except RefusedPath as exc:
        raise NodeError(f"{where}: {path} {exc}; give a DeepSpeed JSON config file") from None
    if kind != "file":
        what = "does not exist" if kind == "missing" else "is a folder"
        raise NodeError(f"{where}: {path} {what}; give a DeepSpeed JSON config file (ds_config.json)")
    try:
        text = small_file_text(expanded, MOST_CONFIG_BYTES)
        settings = json.loads(text) if text is not None else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NodeError(f"{where}: {path} is not readable JSON ({exc}); fix the file") from None
    if text is None:
        raise NodeError(f"{where}: {path} is over {MOST_CONFIG_BYTES >> 20} MiB or no longer a regular file")
    if not isinstance(settings, dict):
        raise NodeError(f"{where}: {path} holds {type(settings).__name__}, not a JSON object of DeepSpeed settings")
    zero = settings.get("zero_optimization")
    stage = zero.get("stage") if isinstance(zero, dict) else None
    if stage == 3 and not any(zero.get(name) is True for name in GATHER_SETTINGS):
        # otherwise no process ever holds the whole weights, and the node's model output would be a shard
        raise NodeError(
            f"{where}: ZeRO stage 3 in {path} keeps each weight split across the GPUs; set "
            f'"zero_optimization": {{"{GATHER_SETTINGS[0]}": true}} so the trained model can be gathered whole'
        )
    return settings


def small_file_text(path: Path, most_bytes: int) -> str | None:
    """The text of `path`, opened without blocking and read only while it is a regular file of at most
    `most_bytes` (a FIFO or device swapped in after validation is never waited on); None otherwise."""
    handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode) or info.st_size > most_bytes:
            return None
        with os.fdopen(os.dup(handle), "rb") as opened:
            return opened.read(most_bytes + 1).decode("utf-8")
    finally:
        os.close(handle)


def sharding_arguments(fsdp: str, deepspeed: dict[str, Any] | None) -> dict[str, Any]:
    """TrainingArguments fields for the node's sharding parameters (none for plain DDP).

    FSDP needs no layer class to wrap: transformers' TRANSFORMER_BASED_WRAP falls back to the model's
    `_no_split_modules` (GPT2Block for GPT-2; BertLayer and BertEmbeddings for BERT)."""
    if fsdp != "off":
        return {"fsdp": True, "fsdp_config": {"version": 2, "reshard_after_forward": RESHARD_AFTER_FORWARD[fsdp]}}
    if deepspeed is not None:
        return {"deepspeed": copy.deepcopy(deepspeed)}  # the Trainer fills its "auto" values in place
    return {}


@contextlib.contextmanager
def deepspeed_errors(path: str) -> Iterator[None]:
    """A DeepSpeed config that the Trainer refuses (values at odds with the node's batch size or precision, which
    transformers lists in a ValueError when training starts) in one line naming the parameter and the file."""
    try:
        yield
    except ValueError as exc:
        if not path or "deepspeed" not in str(exc).lower():
            raise
        reason = "; ".join(line.strip(" -") for line in str(exc).splitlines() if line.strip())
        raise NodeError(f"train.trainer: parameter 'deepspeed_config': the Trainer refused {path}: {reason}") from None


def per_process_need(need: MemoryNeed, fsdp: str, processes: int) -> MemoryNeed:
    """Memory one process of an FSDP run needs: the gradients and optimizer state are split across the processes,
    and the weights too under full_shard (each layer is gathered whole only while it runs)."""
    if fsdp == "off" or processes <= 1:
        return need
    weights = need.weights // processes if fsdp == "full_shard" else need.weights
    return replace(need, weights=weights, gradients=need.gradients // processes, optimizer=need.optimizer // processes)


def gathered_model(hf_trainer: Any, fresh_model: Callable[[], Any]) -> Any:
    """The trained model, whole. Under FSDP or DeepSpeed ZeRO-3 each process holds a shard of every weight: all
    processes take part in the gather (a collective, as the Trainer's save_model does), and rank 0 loads the full
    weights into `fresh_model()`, an unsharded copy of the model training started from. Plain DDP and ZeRO 1-2 keep
    the weights whole on every process. Other ranks' outputs are dropped (engine/distributed.py)."""
    if not (hf_trainer.is_fsdp_enabled or hf_trainer.is_deepspeed_enabled):
        return hf_trainer.model
    wrapped = hf_trainer.model_wrapped if hf_trainer.is_deepspeed_enabled else hf_trainer.model
    state = hf_trainer.accelerator.get_state_dict(wrapped)
    if not hf_trainer.is_world_process_zero():
        return hf_trainer.model
    model = fresh_model()
    model.load_state_dict(state)
    return model
