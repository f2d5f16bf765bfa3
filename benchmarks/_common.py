"""Shared helpers for the benchmarks: timing, peak memory, and the results file."""

from __future__ import annotations

import json
import os
import platform
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results.json")


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls and the last return value."""
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores"


def record(name: str, values: dict[str, Any]) -> None:
    """Merge one benchmark's numbers into benchmarks/results.json (atomic replace)."""
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[name] = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), **values}
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(RESULTS)
    print(json.dumps({name: data[name]}, indent=2))
