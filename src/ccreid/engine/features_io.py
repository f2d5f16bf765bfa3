"""Features of a dataset split written to safetensors or .npy, with a metadata CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch

from ccreid.config import adapter as A
from ccreid.config import apply_overrides, load_config
from ccreid.data import Sample, load_dataset
from ccreid.engine.builders import inference_options, require_masks_for, with_preprocessing_of
from ccreid.engine.experiment import load_trained_model, set_mask_source
from ccreid.engine.inference import extract_features
from ccreid.errors import InputError
from ccreid.fileio import atomic_write, atomic_write_text, check_output_file


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
    checkpoint: Path, out: Path, config: Path | None, split: str, overrides: list[str]
) -> tuple[Path, int]:
    """Embed one split of the dataset named by ``config`` (default: the checkpoint's own
    training config); ``overrides`` apply to whichever config is used. Preprocessing
    (image size) is always the checkpoint's."""
    check_output_file(out, ".safetensors", ".npy")  # before any work
    model, ckpt_cfg = load_trained_model(checkpoint, torch.device("cpu"))
    cfg = (
        load_config(config, overrides)
        if config is not None
        else apply_overrides(ckpt_cfg, overrides)
    )
    set_mask_source(model, cfg.model.mask_source, checkpoint)
    require_masks_for(model, cfg, checkpoint)
    data = load_dataset(**A.dataset_kwargs(cfg))
    samples = select_split(data, split)
    opts = inference_options(with_preprocessing_of(cfg, ckpt_cfg), torch.device("cpu"))
    feats = extract_features(model, samples, opts)
    return write_features(out, feats, samples), len(samples)
