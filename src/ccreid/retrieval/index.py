"""A FAISS index of gallery features with its metadata and the model's fingerprint.

Layout of an index folder: ``index.faiss`` (inner product on L2-normalised features, i.e.
cosine similarity), ``meta.csv`` (path, pid, camid, clothes; -1 when unknown) and
``info.json`` (feature dim, index kind, checkpoint path and fingerprint). Every file is
replaced atomically, so an interrupted ``add`` leaves the previous index usable.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ccreid.errors import CCReIDError, InputError, require
from ccreid.fileio import atomic_write, atomic_write_text, ensure_writable

if TYPE_CHECKING:
    import faiss

INDEX_KINDS = ("flat", "ivf", "hnsw")


def _faiss():
    """FAISS is the ``ccreid[retrieval]`` extra: imported when an index is touched."""
    return require("faiss", "retrieval", "a gallery index")


class RetrievalIndexError(CCReIDError, ValueError):
    """An index folder that does not fit the request (dimension, model, kind)."""


@dataclass(frozen=True)
class Hit:
    rank: int
    score: float
    path: str
    pid: int
    camid: int
    clothes: int


def fingerprint(checkpoint: Path) -> str:
    """sha256 of the checkpoint file: queries must be embedded by the same model."""
    h = hashlib.sha256()
    with checkpoint.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def make_index(dim: int, kind: str = "flat", nlist: int = 1024, hnsw_m: int = 32) -> faiss.Index:
    """Exact inner product, or IVF / HNSW for galleries of millions (approximate)."""
    faiss = _faiss()
    if kind == "flat":
        return faiss.IndexFlatIP(dim)
    if kind == "ivf":
        return faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 128
        return index
    raise InputError(f"unknown index kind {kind!r}; expected one of {INDEX_KINDS}")


def _normalised(features: np.ndarray) -> np.ndarray:
    f = np.ascontiguousarray(features, dtype=np.float32)
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


class GalleryIndex:
    """Features + metadata; :meth:`search` returns ranked :class:`Hit` lists."""

    def __init__(self, index: faiss.Index, rows: list[dict], info: dict) -> None:
        self.index, self.rows, self.info = index, rows, info

    @classmethod
    def create(
        cls, features: np.ndarray, rows: list[dict], info: dict, kind: str = "flat"
    ) -> GalleryIndex:
        feats = _normalised(features)
        index = make_index(feats.shape[1], kind, nlist=max(1, min(1024, len(feats) // 39)))
        if not index.is_trained:
            index.train(feats)
        index.add(feats)
        return cls(index, list(rows), {**info, "dim": feats.shape[1], "kind": kind})

    def add(self, features: np.ndarray, rows: list[dict]) -> None:
        if features.shape[1] != self.info["dim"]:
            raise RetrievalIndexError(
                f"features of dimension {features.shape[1]} cannot join an index of dimension {self.info['dim']}"
            )
        self.index.add(_normalised(features))
        self.rows.extend(rows)

    def search(self, queries: np.ndarray, top_k: int = 10) -> list[list[Hit]]:
        if queries.shape[1] != self.info["dim"]:
            raise RetrievalIndexError(
                f"query dimension {queries.shape[1]} does not match the index ({self.info['dim']})"
            )
        k = min(top_k, self.index.ntotal)
        scores, ids = self.index.search(_normalised(queries), k)
        return [
            [
                Hit(r + 1, float(s), **self.rows[i])
                for r, (s, i) in enumerate(zip(srow, irow, strict=True))
                if i >= 0
            ]
            for srow, irow in zip(scores, ids, strict=True)
        ]

    def save(self, folder: Path) -> None:
        ensure_writable(folder)
        atomic_write(folder / "index.faiss", lambda tmp: _faiss().write_index(self.index, str(tmp)))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=["path", "pid", "camid", "clothes"])
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(folder / "meta.csv", buf.getvalue())
        atomic_write_text(
            folder / "info.json", json.dumps({**self.info, "size": len(self.rows)}, indent=1)
        )

    @classmethod
    def load(cls, folder: Path) -> GalleryIndex:
        for name in ("index.faiss", "meta.csv", "info.json"):
            if not (folder / name).is_file():
                raise RetrievalIndexError(f"{folder} is not an index folder: {name} is missing")
        info = json.loads((folder / "info.json").read_text())
        with (folder / "meta.csv").open(newline="") as fh:
            rows = [{"path": r["path"], "pid": int(r["pid"]), "camid": int(r["camid"]), "clothes": int(r["clothes"])}
                    for r in csv.DictReader(fh)]  # fmt: skip
        index = _faiss().read_index(str(folder / "index.faiss"))
        if index.ntotal != len(rows):
            raise RetrievalIndexError(
                f"{folder}: index holds {index.ntotal} vectors but meta.csv {len(rows)} rows"
            )
        return cls(index, rows, info)
