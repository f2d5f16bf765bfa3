"""Freed heap pages go back to the OS (glibc), and training does it once per epoch."""

from __future__ import annotations

import platform

import pytest
import torch

from ccreid.inference.memory import release_freed_memory, resident_mib

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_release_returns_freed_heap_pages_to_the_os() -> None:
    # 64 KiB tensors come from the heap (below malloc's mmap threshold); the last one stays
    # alive so the freed ones sit below it and free() alone cannot shrink the heap.
    blocks = [torch.ones(16 * 1024) for _ in range(4000)]  # ~250 MiB
    keep = blocks[-1]
    del blocks
    before = resident_mib()
    assert release_freed_memory() is True
    after = resident_mib()
    assert before - after > 150, (before, after)
    assert keep.sum() == keep.numel()


def test_training_releases_memory_once_per_epoch(monkeypatch, tiny_synthetic, tmp_path) -> None:
    from conftest import tiny_overrides

    from ccreid.config import load_config
    from ccreid.engine import run_training

    calls = []
    monkeypatch.setattr("ccreid.engine.trainer.release_freed_memory", lambda: calls.append(1))
    run_training(load_config(None, tiny_overrides(tiny_synthetic, tmp_path, **{"train.epochs": 2})))
    assert len(calls) == 2  # one per epoch, not one per step (3 steps each)
