"""Picking and describing compute devices. torch is imported only when a device is needed."""

from __future__ import annotations

import re
from dataclasses import dataclass

# What a pipeline's settings.device or `--device` may say; whether the device exists is checked at run time.
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class DeviceUnavailable(RuntimeError):
    """The requested device is not on this machine."""


@dataclass(frozen=True)
class DeviceInfo:
    name: str  # what a pipeline may ask for: "cpu", "cuda:0", "mps"
    label: str  # for people: "NVIDIA H200 (139.8 GiB)"


def resolve_device(requested: str = "auto") -> str:
    """`auto` picks CUDA, then MPS, then CPU; an explicit device must be present."""
    if requested == "cpu":
        return "cpu"
    import torch

    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceUnavailable(
                f"device '{requested}' was requested but no CUDA device is available; use --device auto or cpu"
            )
        index = int(requested.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise DeviceUnavailable(
                f"device '{requested}' does not exist: {torch.cuda.device_count()} CUDA device(s) found"
            )
        return requested
    if requested == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceUnavailable("device 'mps' was requested but MPS is not available; use --device auto or cpu")
        return "mps"
    raise DeviceUnavailable(f"unknown device '{requested}'; use auto, cpu, cuda, cuda:N or mps")


def available_devices() -> list[DeviceInfo]:
    """Everything this machine offers, best first."""
    import torch

    found = []
    for index in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        props = torch.cuda.get_device_properties(index)
        found.append(DeviceInfo(f"cuda:{index}", f"{props.name} ({props.total_memory / 2**30:.1f} GiB)"))
    if torch.backends.mps.is_available():
        found.append(DeviceInfo("mps", "Apple GPU (MPS)"))
    found.append(DeviceInfo("cpu", f"CPU ({torch.get_num_threads()} threads)"))
    return found
