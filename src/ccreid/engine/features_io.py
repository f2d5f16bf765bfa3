"""Features of a dataset split written to safetensors or .npy, with a metadata CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ccreid.config import apply_overrides, load_config
from ccreid.data import Sample, dataset_of
from ccreid.errors import InputError, MaskRequiredError
from ccreid.fileio import atomic_write, atomic_write_text, check_output_file
from ccreid.hub import resolve_checkpoint
from ccreid.inference import load


def select_split(data, split: str) -> list[Sample]:
    if split == "train":
        return data.train
    setting, _, side = split.partition("/")
    if setting not in data.eval_sets or side not in ("query", "gallery"):
        known = ["train"] + [f"{s}/{w}" for s in data.eval_sets for w in ("query", "gallery")]
        raise InputError(f"unknown split {split!r}; known: {', '.join(known)}")
    return getattr(data.eval_sets[setting], side)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as fh:  # a file object: np.save would append ".npy" to a name
        np.save(fh, array)


def write_features(out: Path, features: torch.Tensor, samples: list[Sample]) -> Path:
    """Atomically write features and ``<out>.csv`` (path, pid, camid, clothes per row)."""
    if out.suffix == ".npy":
        atomic_write(out, lambda tmp: _save_npy(tmp, features.numpy()))
    elif out.suffix == ".safetensors":
        from safetensors.torch import save_file

        atomic_write(out, lambda tmp: save_file({"features": features.contiguous()}, str(tmp)))
    else:
        raise InputError(f"output {out} must end in .safetensors or .npy")
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["path", "pid", "camid", "clothes"])
    writer.writerows([s.path, s.pid, s.camid, s.clothes] for s in samples)
    atomic_write_text(out.with_suffix(".csv"), buf.getvalue())
    return out


def extract_split(
    checkpoint: Path, out: Path, config: Path | None, split: str, overrides: list[str],
    device: str = "auto", progress: Callable[[int], None] | None = None,
) -> tuple[Path, int]:  # fmt: skip
    """Embed one split of the dataset named by ``config`` (default: the checkpoint's own
    training config); ``overrides`` apply to whichever config is used. Preprocessing
    (image size) is always the checkpoint's."""
    check_output_file(out, ".safetensors", ".npy")  # before any work
    checkpoint = resolve_checkpoint(checkpoint)
    model = load(checkpoint, device)
    cfg = (
        load_config(config, overrides)
        if config is not None
        else apply_overrides(model.config, overrides)
    )
    model = model.run_with(cfg)
    if model.needs_mask and cfg.data.mask_root is None:
        raise MaskRequiredError(checkpoint)
    samples = select_split(dataset_of(cfg.data), split)
    feats = model.embed_samples(samples, progress)
    return write_features(out, feats, samples), len(samples)
