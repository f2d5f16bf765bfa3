"""Mixed precision and device choices: bf16 autocast on CPU, fp16/bf16 AMP on CUDA."""

from __future__ import annotations

import contextlib
import os
import platform
from functools import lru_cache
from pathlib import Path

import torch


@lru_cache(maxsize=1)
def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_flags() -> set[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo is absent)."""
    for line in _cpuinfo().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_model() -> str:
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")  # what bf16 and fp32 speed depend on


def describe_cpu() -> str:
    """CPU model, core count and the vector extensions that decide bf16 speed: the machine
    every measured figure names."""
    flags = [f for f in SPEED_FLAGS if f in cpu_flags()]
    return f"{cpu_model()}, {os.cpu_count()} CPU cores, {'/'.join(flags) or 'no AVX2'}"


def cpu_has_fast_bf16() -> bool:
    """True when the CPU has native bf16 (AVX512-BF16 or AMX): elsewhere bf16 autocast is
    emulated and measured 15-20x *slower* than fp32 (AVX2 EPYC, ResNet-18 training)."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def machine_kind(device: torch.device | str = "cpu") -> str:
    """The kind of machine a figure belongs to: the same code is 2-3x faster *or* 15x
    slower in bf16 depending on it, so figures of different kinds are never mixed."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    if cpu_has_fast_bf16():
        return "CPU with native bf16 (AVX512-BF16 or AMX)"
    return "CPU without native bf16 (bf16 emulated)"


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for a precision name (None = plain fp32)."""
    if precision == "fp32":
        return None
    if precision == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if cpu_has_fast_bf16() else None
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
