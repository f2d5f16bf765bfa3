"""Shared helpers for the benchmarks: timing, peak memory, and the results file."""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ccreid.engine.precision import describe_cpu

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


def record(name: str, values: dict[str, Any]) -> None:
    """Merge one benchmark's numbers into benchmarks/results.json (atomic replace)."""
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[name] = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), **values}
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(RESULTS)
    print(json.dumps({name: data[name]}, indent=2))
