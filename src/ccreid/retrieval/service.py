"""Build, extend and query an index with a trained checkpoint (the CLI's `index`/`search`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ccreid.data import DatasetError, Sample
from ccreid.data.filelabels import AUTO, FileLabels, labels_by, labels_of, resolve_layout
from ccreid.errors import InputError, require
from ccreid.fileio import LOCK_NAME, RunFolderError, ensure_writable, refuse_nested_folders
from ccreid.hub import resolve_checkpoint
from ccreid.imagefiles import list_images
from ccreid.inference import load
from ccreid.retrieval.filters import SearchFilter
from ccreid.retrieval.index import (
    INDEX_KINDS,
    GalleryIndex,
    Hit,
    RetrievalIndexError,
    check_model,
    fingerprint,
    index_lock,
    is_index_folder,
    stored_path,
)

WaitHook = Callable[[str], None] | None  # told once when a writer waits for the index lock
Progress = Callable[[int], None] | None  # called with the number of images embedded


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
        _require_text_name(f)
        mask = None
        if mask_root is not None:
            rel = (
                f.relative_to(base) if base is not None and f.is_relative_to(base) else Path(f.name)
            )
            mask = mask_root / rel.with_suffix(".png")
            if not mask.is_file():
                raise DatasetError(f"mask {mask} for image {f} is missing")
        samples.append(Sample(str(f), -1, -1, -1, str(mask) if mask else None))
    return samples  # labels: `labelled`


def _require_text_name(path: Path) -> None:
    """Image decoding, meta.csv and JSON need file names that are text: a name with bytes
    that are not UTF-8 (which Python keeps as lone surrogates) is refused by name."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise DatasetError(
            f"image file name {os.fsencode(path)!r} is not valid UTF-8: rename the file"
        ) from None


def embed(
    checkpoint: Path,
    samples: list[Sample],
    mask_source: str | None = None,
    device: str = "auto",
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Features of image files with the checkpoint's own preprocessing and run settings."""
    model = load(checkpoint, device, mask_source)
    return model.embed_samples(samples, progress).numpy()


def labelled(samples: list[Sample], layout: str | None, strict: bool = True) -> list[FileLabels]:
    """The samples' labels by a resolved layout (None: unknown); not ``strict``, a file the
    layout does not read is unknown instead of an error."""
    return labels_of([Path(s.path) for s in samples], layout, strict)


def _rows(samples: list[Sample], layout: str | None, root: str, strict: bool = True) -> list[dict]:
    return [{"path": stored_path(s.path, root), "pid": lab.pid, "camid": lab.camid,
             "clothes": lab.clothes}
            for s, lab in zip(samples, labelled(samples, layout, strict), strict=True)]  # fmt: skip


def build_index(checkpoint: Path, gallery: Path, out: Path, mask_root: Path | None = None,
                kind: str = "flat", recall: float = 0.95, mask_source: str | None = None, *,
                overwrite: bool = False, on_wait: WaitHook = None, device: str = "auto",
                progress: Progress = None, layout: str = AUTO) -> GalleryIndex:  # fmt: skip
    """Embed a gallery folder into an index folder. IVF indexes get the nprobe that reaches
    ``recall`` (recall@10 against exact search, stored in info.json). ``mask_source``
    (default: the checkpoint's) is stored, so that added images and queries are embedded
    the same way. ``layout`` (a dataset layout, ``auto`` or ``none``) reads each file's
    identity, camera and outfit from its name; the resolved one is stored, so queries'
    names are read by the same rules. ``out`` is checked before the model is read and created only once the
    index is ready: a refused or failed build leaves nothing behind."""
    if kind not in INDEX_KINDS:
        raise InputError(f"unknown index kind {kind!r}; expected one of {', '.join(INDEX_KINDS)}")
    if not 0 < recall <= 1:
        raise InputError(f"--recall must be in (0, 1], got {recall}")
    if not gallery.is_dir():
        raise InputError(f"gallery {gallery} must be a folder of images")
    check_index_out(out, gallery, overwrite)
    require("faiss", "retrieval", "a gallery index")  # before the gallery is embedded
    checkpoint = resolve_checkpoint(checkpoint)
    samples = image_samples([gallery], mask_root, gallery)
    layout = resolve_layout(layout, [Path(s.path) for s in samples])
    rows = _rows(samples, layout, str(gallery.resolve()))  # a misnamed file fails before embedding
    feats = embed(checkpoint, samples, mask_source, device, progress)
    info = {"checkpoint": str(checkpoint.resolve()), "fingerprint": fingerprint(checkpoint),
            "gallery_root": str(gallery.resolve()), "mask_source": mask_source,
            "layout": layout}  # fmt: skip
    index = GalleryIndex.create(feats, rows, info, kind)
    index.tune_nprobe(recall)
    _save_new(index, out, gallery, overwrite, on_wait)
    return index


def check_index_out(out: Path, gallery: Path, overwrite: bool) -> None:
    """``index build --out``: a new or empty folder, or (with ``overwrite``) an index;
    never the gallery folder itself, a folder inside it or around it."""
    refuse_nested_folders(gallery, out, "the index", "data/gallery.idx")
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"--out {out} is a file: give a folder for the index")
    if is_index_folder(out):
        if not overwrite:
            raise RunFolderError(
                f"{out} already holds an index: pass --overwrite to replace it, use "
                "`ccreid index add` to extend it, or choose another --out"
            )
    elif out.is_dir() and any(p.name != LOCK_NAME for p in out.iterdir()):
        raise RunFolderError(
            f"{out} is not empty and holds no index: choose a new or empty folder for --out"
        )
    ensure_writable(out, create=False)


def _save_new(index: GalleryIndex, out: Path, gallery: Path, overwrite: bool,
              on_wait: WaitHook) -> None:  # fmt: skip
    """Save under the lock, checking ``out`` again (another build may have written it
    meanwhile); a folder this call created goes again if the save fails."""
    created = not out.exists()
    try:
        ensure_writable(out)
        with index_lock(out, on_wait):
            check_index_out(out, gallery, overwrite)
            index.save(out)
    except BaseException:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise


def add_to_index(index_dir: Path, images: list[Path], checkpoint: Path | None = None,
                 mask_root: Path | None = None, on_wait: WaitHook = None, device: str = "auto",
                 progress: Progress = None) -> tuple[GalleryIndex, int]:  # fmt: skip
    """Append images (already indexed files are skipped); returns the index and the number
    skipped. Images are embedded first; then, under the index's lock, the index is read
    again and extended, so a concurrent ``add`` is never overwritten."""
    index = GalleryIndex.load(index_dir)
    checkpoint = check_model(index, checkpoint)
    samples = image_samples(images, mask_root, images[0] if images[0].is_dir() else None)
    known = {r["path"] for r in index.rows}
    fresh = [s for s in samples if index.relative(s.path) not in known]
    if not fresh:
        return index, len(samples)
    feats = embed(checkpoint, fresh, index.info.get("mask_source"), device, progress)
    with index_lock(index_dir, on_wait):
        current = GalleryIndex.load(index_dir)  # what other writers saved meanwhile
        if _model_of(current) != _model_of(index):
            raise RetrievalIndexError(
                f"{index_dir} was rebuilt with another model while these images were being "
                "embedded: run `ccreid index add` again"
            )
        # Added files the index's layout does not read join with unknown labels.
        rows = _rows(fresh, current.info.get("layout"), current.root, strict=False)
        skipped = current.add(feats, rows)
        if skipped < len(fresh):
            current.save(index_dir)
    return current, len(samples) - len(fresh) + skipped


def _model_of(index: GalleryIndex) -> tuple:
    """What decides how images are embedded for an index."""
    return index.info["fingerprint"], index.info.get("mask_source"), index.info["dim"]


def query_filter(index: GalleryIndex, query: Path | str | None, given: FileLabels | None = None,
                 exclude_same_camera: bool = False, other_clothes_only: bool = False,
                 cameras: tuple[int, ...] | None = None) -> SearchFilter:  # fmt: skip
    """A query's filter: its labels are ``given`` where set, else read from its file name by
    the index's layout (unknown when the index has none or the name does not follow it)."""
    labels = (given or FileLabels()).or_else(query_labels(index.info.get("layout"), query))
    filt = SearchFilter(labels, exclude_same_camera, other_clothes_only, cameras)
    filt.check()
    return filt


def query_labels(layout: str | None, query: Path | str | None) -> FileLabels:
    """What an index's layout (``info["layout"]``) reads from a query's file name (unknown
    when it cannot)."""
    if layout is None or not query:
        return FileLabels()
    return labels_by(layout, Path(query)) or FileLabels()


def search(index_dir: Path, queries: list[Path], top_k: int = 10, checkpoint: Path | None = None,
           mask_root: Path | None = None, device: str = "auto",
           filters: dict | None = None) -> tuple[list[Sample], list[list[Hit]]]:  # fmt: skip
    """Rank an index's gallery for each query file (masks from ``mask_root`` by name).
    ``filters``: keyword arguments of `query_filter` (exclude_same_camera,
    other_clothes_only, cameras), each query's labels read from its name."""
    index = GalleryIndex.load(index_dir)
    checkpoint = check_model(index, checkpoint)
    samples = image_samples(queries, mask_root, None)
    per_query = [query_filter(index, s.path, **(filters or {})) for s in samples]
    features = embed(checkpoint, samples, index.info.get("mask_source"), device)
    return samples, index.search(features, top_k, filters=per_query)
