"""Mixed precision and device choices: bf16 autocast on CPU, fp16/bf16 AMP on CUDA."""

from __future__ import annotations

import contextlib

import torch


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for a precision name (None = plain fp32)."""
    if precision == "fp32":
        return None
    if precision == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
