"""Giving freed host memory back to the operating system after each epoch.

PyTorch's CPU allocator hands large activation buffers to glibc malloc, which keeps freed
pages in its heaps. Measured here (ResNet-50, 256x128, batch 64, 2 cores): the resident
size climbs by hundreds of MiB per step until it levels off at ~4-5 GiB, and across epochs
it kept growing (2.4 -> 3.3 -> 3.9 GiB after epochs 1-3). Releasing after every step keeps
it at ~1.1 GiB between steps, but each step then faults its pages in again, for no speed gain
that held up (bare steps measured 9% slower to 10% faster, within this machine's noise), so
the trainer releases once per epoch and after feature extraction: flat across epochs, no
work added per step. ``malloc_trim`` exists only in glibc; elsewhere this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform


@functools.cache
def _malloc_trim():
    if platform.system() != "Linux":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # musl and other libcs have no malloc_trim
        return None


def release_freed_memory() -> bool:
    """Return the heap's free pages to the OS; ``False`` where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def resident_mib() -> float:
    """Current resident set size of this process in MiB (NaN where /proc is absent)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")
