"""Which device a model runs on: ``auto`` takes the GPU when there is one."""

from __future__ import annotations

import torch

from ccreid.errors import InputError


def select_device(device: str | torch.device = "auto", local_rank: int = 0) -> torch.device:
    """``auto``: this process's GPU (``local_rank`` under torchrun) when CUDA is available,
    else the CPU; ``cpu``, ``cuda`` or ``cuda:N`` as given, refused when absent."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return (
            torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
        )
    try:
        chosen = torch.device(device)
    except RuntimeError:
        raise InputError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} was asked for, but CUDA is not available here")
    if chosen.type not in ("cpu", "cuda"):
        raise InputError(f"device {device!r} is not supported: use auto, cpu, cuda or cuda:N")
    return chosen
