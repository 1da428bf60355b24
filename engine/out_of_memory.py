"""Running out of memory, said the same way by every node: one line naming the node, which memory ran out
(CUDA, MPS or the machine's), what is free now, and what to change.

The runner passes every node's work through `within_memory`, with advice built from the parameters the node
declares as setting its memory (`@node(memory_params=...)`), so generation with too big a batch ends like
training with too big a batch. Nodes that know better advice (the model nodes, the trainer) call it themselves,
through `nodeloom.nodes.memory`, around the step that allocates.

Out-of-memory errors are recognised by type and by the allocators' words, never by importing torch: an
allocation failure inside torch can only happen once torch is imported, so `sys.modules` is asked for it.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterable
from typing import TypeVar

from pydantic import BaseModel

from nodeloom.engine.context import NodeError
from nodeloom.engine.params import applies

# Words in an allocator's error that mean it ran out of memory (CUDA, MPS and the CPU allocator).
OUT_OF_MEMORY_WORDS = ("out of memory", "can't allocate memory", "DefaultCPUAllocator: not enough memory")
MORE_MEMORY = "or use a device with more memory"

Result = TypeVar("Result")


def format_bytes(size: float) -> str:
    """1536 -> '1.5 KiB'; binary units, as `nodeloom devices` shows memory."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable: the loop returns at TiB")


def is_out_of_memory(exc: BaseException) -> bool:
    """True for every way torch and Python say an allocation failed."""
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")
    torch_error = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    if torch_error is not None and isinstance(exc, torch_error):
        return True
    return isinstance(exc, RuntimeError) and any(words in str(exc) for words in OUT_OF_MEMORY_WORDS)


def memory_kind(exc: BaseException, device: str) -> str:
    """Which memory ran out: "CUDA", "MPS" or "CPU", from the allocator's words, else from the device."""
    text = str(exc)
    if isinstance(exc, MemoryError) or "DefaultCPUAllocator" in text or "can't allocate memory" in text:
        return "CPU"
    if "MPS" in text:
        return "MPS"
    if "CUDA" in text or "GPU" in text:
        return "CUDA"
    return {"cuda": "CUDA", "mps": "MPS"}.get(device.partition(":")[0], "CPU")


def free_memory(device: str) -> int:
    """Bytes free for new tensors on `device`: the GPU's free memory plus what torch holds unused, else the
    machine's available memory (CPU, and MPS, whose memory is the machine's)."""
    if device.startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    import psutil

    return psutil.virtual_memory().available


def release_cached_memory(device: str) -> None:
    """Hand torch's cached GPU blocks back, so what a failed step held is free for the rest of the run."""
    torch = sys.modules.get("torch")
    if torch is not None and device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _free_now(kind: str, device: str) -> str:
    """' (1.2 GiB free now)', or nothing when the figure cannot be had (a CUDA error on a machine without CUDA)."""
    where = (device if device.startswith("cuda") else "cuda") if kind == "CUDA" else "cpu"
    try:
        return f" ({format_bytes(free_memory(where))} free now)"
    except Exception:  # a figure is a courtesy; the message must come out without it
        return ""


def out_of_memory_message(where: str, kind: str, device: str, advice: str, doing: str = "") -> str:
    """'train.trainer: ran out of CUDA memory on cuda:0 while training (1.2 GiB free now); lower …'."""
    on = f" on {device}" if kind == "CUDA" and device.startswith("cuda") else ""
    while_doing = f" while {doing}" if doing else ""
    return f"{where}: ran out of {kind} memory{on}{while_doing}{_free_now(kind, device)}; {advice}"


def within_memory(where: str, doing: str, device: str, advice: str, work: Callable[[], Result]) -> Result:
    """`work()`, with running out of memory turned into a one-line NodeError (`out_of_memory_message`); `doing`
    ("training", or "" for the node's whole work) says what was running.

    The error is raised after the failed work's frames are gone, and torch's cached blocks are handed back,
    so the memory it held is free again for the rest of the run (and for the figure the message shows).
    """
    try:
        return work()
    except Exception as exc:  # torch.OutOfMemoryError is a RuntimeError; MemoryError is not
        if not is_out_of_memory(exc):
            raise
        kind = memory_kind(exc, device)
    gc.collect()
    release_cached_memory(device)
    raise NodeError(out_of_memory_message(where, kind, device, advice, doing))


def sizing_advice(memory_params: Iterable[str], params: BaseModel) -> str:
    """'lower batch_size (now 64) or max_new_tokens (now 512), or use a device with more memory': the
    parameters a node declares as setting its memory that apply with `params`, with their values; without
    any, the device alone."""
    values = dict(params)
    named = [
        f"{name} (now {values[name]})"
        for name in memory_params
        if values.get(name) is not None and applies(type(params), name, values)
    ]
    if not named:
        return f"give the node less data at once, {MORE_MEMORY}"
    listed = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} or {named[-1]}"
    return f"lower {listed}, {MORE_MEMORY}"
