"""Build, extend and query an index with a trained checkpoint (the CLI's `index`/`search`)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from ccreid.data import Sample
from ccreid.data.base import DatasetError
from ccreid.engine.builders import inference_options
from ccreid.engine.experiment import load_trained_model
from ccreid.engine.inference import extract_features
from ccreid.errors import InputError
from ccreid.fileio import ensure_writable
from ccreid.imagefiles import list_images
from ccreid.retrieval.index import (
    INDEX_KINDS,
    GalleryIndex,
    Hit,
    RetrievalIndexError,
    fingerprint,
    stored_path,
)

_LEADING_ID = re.compile(r"^(\d+)[-_]")


def pid_from_name(name: str | None) -> int:
    """The identity a labelled dataset's file name starts with (``0009-3-012-00.jpg``,
    ``0009_c1s1_...jpg``), or -1: lets pictures frame same-identity results."""
    match = _LEADING_ID.match(Path(name or "").name)
    return int(match.group(1)) if match else -1


def image_samples(paths: list[Path], mask_root: Path | None, base: Path | None) -> list[Sample]:
    """Samples of image files (folders expanded); masks mirror ``base`` under ``mask_root``."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += list(list_images(p, recursive=True))
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"image or folder {p} does not exist")
    if not files:
        raise DatasetError(f"no images found in {', '.join(map(str, paths))}")
    samples = []
    for f in files:
        mask = None
        if mask_root is not None:
            rel = (
                f.relative_to(base) if base is not None and f.is_relative_to(base) else Path(f.name)
            )
            mask = mask_root / rel.with_suffix(".png")
            if not mask.is_file():
                raise DatasetError(f"mask {mask} for image {f} is missing")
        samples.append(Sample(str(f), pid_from_name(f.name), -1, -1, str(mask) if mask else None))
    return samples


def embed(checkpoint: Path, samples: list[Sample], mask_source: str | None = None) -> np.ndarray:
    model, cfg = load_trained_model(checkpoint, torch.device("cpu"), mask_source)
    if model.needs_mask and any(s.mask is None for s in samples):
        raise InputError(
            f"{checkpoint} uses BSGA: give the parsing masks with --mask-root (`ccreid parse` "
            "makes them), or use a model trained with a mask head (model.mask_head=true) "
            "with --mask-source predicted"
        )
    return extract_features(model, samples, inference_options(cfg, torch.device("cpu"))).numpy()


def _rows(samples: list[Sample], root: str) -> list[dict]:
    return [{"path": stored_path(s.path, root), "pid": s.pid, "camid": s.camid, "clothes": s.clothes}
            for s in samples]  # fmt: skip


def build_index(checkpoint: Path, gallery: Path, out: Path, mask_root: Path | None = None,
                kind: str = "flat", recall: float = 0.95,
                mask_source: str | None = None) -> GalleryIndex:  # fmt: skip
    """Embed a gallery folder into an index folder. IVF indexes get the nprobe that reaches
    ``recall`` (recall@10 against exact search, stored in info.json). ``mask_source``
    (default: the checkpoint's) is stored, so that added images and queries are embedded
    the same way."""
    if kind not in INDEX_KINDS:
        raise InputError(f"unknown index kind {kind!r}; expected one of {', '.join(INDEX_KINDS)}")
    if not 0 < recall <= 1:
        raise InputError(f"--recall must be in (0, 1], got {recall}")
    if not gallery.is_dir():
        raise InputError(f"gallery {gallery} must be a folder of images")
    ensure_writable(out)
    samples = image_samples([gallery], mask_root, gallery)
    feats = embed(checkpoint, samples, mask_source)
    info = {"checkpoint": str(checkpoint.resolve()), "fingerprint": fingerprint(checkpoint),
            "gallery_root": str(gallery.resolve()), "mask_source": mask_source}  # fmt: skip
    index = GalleryIndex.create(feats, _rows(samples, info["gallery_root"]), info, kind)
    index.tune_nprobe(recall)
    index.save(out)
    return index


def _check_model(index: GalleryIndex, checkpoint: Path) -> None:
    if not checkpoint.is_file():
        raise FileNotFoundError(
            f"checkpoint {checkpoint} (recorded in the index) does not exist: pass --checkpoint "
            "with the model file's new place"
        )
    if fingerprint(checkpoint) != index.info["fingerprint"]:
        raise RetrievalIndexError(
            f"{checkpoint} is not the model this index was built with ({index.info['checkpoint']})"
        )


def add_to_index(index_dir: Path, images: list[Path], checkpoint: Path | None = None,
                 mask_root: Path | None = None) -> tuple[GalleryIndex, int]:  # fmt: skip
    """Append images (already indexed files are skipped); returns the index and the number
    skipped."""
    index = GalleryIndex.load(index_dir)
    checkpoint = checkpoint or Path(index.info["checkpoint"])
    _check_model(index, checkpoint)
    samples = image_samples(images, mask_root, images[0] if images[0].is_dir() else None)
    known = {r["path"] for r in index.rows}
    fresh = [s for s in samples if index.relative(s.path) not in known]
    if fresh:
        index.add(embed(checkpoint, fresh, index.info.get("mask_source")), _rows(fresh, index.root))
        index.save(index_dir)
    return index, len(samples) - len(fresh)


def search(index_dir: Path, queries: list[Path], top_k: int = 10, checkpoint: Path | None = None,
           mask_root: Path | None = None) -> tuple[list[Sample], list[list[Hit]]]:  # fmt: skip
    index = GalleryIndex.load(index_dir)
    checkpoint = checkpoint or Path(index.info["checkpoint"])
    _check_model(index, checkpoint)
    samples = image_samples(queries, mask_root, None)
    return samples, index.search(embed(checkpoint, samples, index.info.get("mask_source")), top_k)
