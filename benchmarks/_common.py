"""Shared helpers for the benchmarks: timing, peak memory, and the results file."""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ccreid.inference.precision import describe_cpu, machine_kind

RESULTS = Path(__file__).with_name("results.json")


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls and the last return value."""
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def bracketed_ratios(end_to_end: list[float], bare: list[float]) -> list[float]:
    """``end_to_end[i] / mean(bare[i], bare[i + 1])``: each end-to-end block against the bare
    blocks measured just before and just after it, so slow drift of the machine cancels."""
    if len(bare) != len(end_to_end) + 1:
        raise ValueError("need one bare block before and after every end-to-end block")
    return [e / ((bare[i] + bare[i + 1]) / 2) for i, e in enumerate(end_to_end)]


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    """CPU model, core count and vector extensions (bf16 speed depends on them)."""
    return describe_cpu()


def record(name: str, values: dict[str, Any], device: str = "cpu") -> None:
    """Store one benchmark's numbers in benchmarks/results.json under its machine kind
    (atomic replace). A run replaces the figures of its own kind only, so figures from
    another kind of machine stay until that kind runs the benchmark again."""
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    kind = machine_kind(device)
    entry = {
        "machine": machine(),
        "device": torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu",
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
        **values,
    }
    data.setdefault(kind, {})[name] = entry
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(RESULTS)
    print(json.dumps({kind: {name: entry}}, indent=2))
