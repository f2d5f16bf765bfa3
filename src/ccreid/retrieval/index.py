"""A FAISS index of gallery features with its metadata and the model's fingerprint.

Layout of an index folder: ``info.json`` (feature dim, index kind, checkpoint path and
fingerprint, size, and the current ``generation``), and that generation's two files: the
FAISS index (inner product on L2-normalised features, i.e. cosine similarity) and
``meta.csv`` (`META_COLUMNS`: path, then identity, camera and outfit as the dataset layout
named in ``info.json``'s ``layout`` reads them from the file name; empty when unknown, and
-1 in folders written before labels existed reads as unknown too). Generation 0 (a fresh ``index
build``) uses the plain names ``index.faiss`` / ``meta.csv``, generation g > 0 uses
``index.<g>.faiss`` / ``meta.<g>.csv``; folders written before generations existed have no
``generation`` key and are generation 0.

Why generations: a save writes the next generation's files, then switches ``info.json`` to
it in one atomic rename, and only then removes older generations. A save that fails or is
killed at any point (disk full, a signal) leaves ``info.json`` naming the previous,
complete generation, so the previous index stays usable. A reader that loses a race with
that clean-up reads ``info.json`` again.

Writers hold `index_lock` (``.ccreid.lock`` in the folder, see
`ccreid.fileio.FolderLock`) around "load, append, save", so two ``index add`` runs
never lose each other's rows; `GalleryIndex.save` assumes its caller holds it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ccreid.data.filelabels import FileLabels
from ccreid.errors import CCReIDError, InputError, require
from ccreid.fileio import FolderLock, atomic_write, atomic_write_text, ensure_writable
from ccreid.retrieval.filters import SearchFilter, selector

if TYPE_CHECKING:
    import faiss

INDEX_KINDS = ("flat", "ivf", "hnsw")
META_COLUMNS = ("path", "pid", "camid", "clothes")
LOCK_WAIT_S = 120.0  # a writer holds the lock only to re-read, append and save
# Files of some generation, and the temp files of an interrupted atomic write of one.
_GENERATION_FILE = re.compile(r"^(index(\.(\d+))?\.faiss|meta(\.(\d+))?\.csv)$")
_TEMP_FILE = re.compile(r"^\.(index(\.\d+)?\.faiss|meta(\.\d+)?\.csv|info\.json)\..+\.tmp$")


def _faiss():
    """FAISS is the ``ccreid[retrieval]`` extra: imported when an index is touched."""
    return require("faiss", "retrieval", "a gallery index")


class RetrievalIndexError(CCReIDError, ValueError):
    """An index folder that does not fit the request (dimension, model, kind)."""


@dataclass(frozen=True)
class Hit:
    """One result: its rank (1-based, counting the results of earlier pages), its cosine
    similarity, its file and its labels (None: not known)."""

    rank: int
    score: float
    path: str
    pid: int | None
    camid: int | None
    clothes: str | None
    row: int = -1  # position in the index (how `serve` names a thumbnail, never by path)

    @property
    def labels(self) -> FileLabels:
        return FileLabels(self.pid, self.camid, self.clothes)


def normal_row(row: dict) -> dict:
    """A metadata row with unknown labels as None (callers may pass -1 or ""), identities
    and cameras as int, outfits as text."""

    def known(v: object) -> bool:
        return v is not None and v != "" and v != -1 and v != "-1"

    return {"path": row["path"], "pid": int(row["pid"]) if known(row["pid"]) else None,
            "camid": int(row["camid"]) if known(row["camid"]) else None,
            "clothes": str(row["clothes"]) if known(row["clothes"]) else None}  # fmt: skip


def fingerprint(checkpoint: Path) -> str:
    """sha256 of the checkpoint file: queries must be embedded by the same model."""
    h = hashlib.sha256()
    with checkpoint.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_model(index: GalleryIndex, checkpoint: Path | None = None) -> Path:
    """The checkpoint an index's queries and additions are embedded with: ``checkpoint``
    (the model file's new place) or the one the index recorded, refused unless its
    fingerprint is the index's."""
    path = Path(checkpoint or index.info["checkpoint"])
    if not path.is_file():
        raise FileNotFoundError(
            f"checkpoint {path} (recorded in the index) does not exist: pass --checkpoint "
            "with the model file's new place"
        )
    if fingerprint(path) != index.info["fingerprint"]:
        raise RetrievalIndexError(
            f"{path} is not the model this index was built with ({index.info['checkpoint']})"
        )
    return path


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


def stored_path(path: str | Path, root: str | Path) -> str:
    """How a gallery file is stored in an index: relative to the recorded gallery root when
    inside it (so an index folder can move), else absolute."""
    p, root = Path(path).resolve(), Path(root)
    return p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p)


def _normalised(features: np.ndarray) -> np.ndarray:
    f = np.ascontiguousarray(features, dtype=np.float32)
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


class GalleryIndex:
    """Features + metadata; `search` returns ranked `Hit` lists."""

    def __init__(self, index: faiss.Index, rows: list[dict], info: dict) -> None:
        self.index, self.rows, self.info = index, [normal_row(r) for r in rows], info
        self._labels: list[FileLabels] = []  # `labels`, rebuilt when rows were appended

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

    @property
    def root(self) -> str:
        """The gallery root stored paths are relative to ("/" for indexes without one)."""
        return self.info.get("gallery_root", "/")

    def relative(self, path: str | Path) -> str:
        return stored_path(path, self.root)

    def absolute(self, stored: str) -> str:
        return str(Path(self.root) / stored)

    def add(self, features: np.ndarray, rows: list[dict]) -> int:
        """Append rows whose path is not indexed yet; returns how many were already there."""
        if features.shape[1] != self.info["dim"]:
            raise RetrievalIndexError(
                f"features of dimension {features.shape[1]} cannot join an index of dimension {self.info['dim']}"
            )
        known = {r["path"] for r in self.rows}
        fresh = [i for i, r in enumerate(rows) if r["path"] not in known]
        if fresh:
            self.index.add(_normalised(features[fresh]))
            self.rows.extend(normal_row(rows[i]) for i in fresh)
        return len(rows) - len(fresh)

    def tune_nprobe(self, target_recall: float = 0.95, sample: int = 200, k: int = 10) -> float:
        """IVF: the smallest power-of-two nprobe whose recall@k against exact search, on a
        sample of the gallery's own vectors, reaches ``target_recall`` (stored in info)."""
        if self.info["kind"] != "ivf":
            return 1.0
        ivf = _faiss().extract_index_ivf(self.index)
        vectors = ivf.reconstruct_n(0, self.index.ntotal)
        picks = np.random.default_rng(0).choice(
            len(vectors), min(sample, len(vectors)), replace=False
        )
        queries, k = vectors[picks], min(k, len(vectors))
        exact = np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :k]
        recall, nprobe = 0.0, 1
        while True:
            ivf.nprobe = nprobe
            _, found = self.index.search(queries, k)
            recall = float(
                np.mean([len(set(a) & set(b)) / k for a, b in zip(exact, found, strict=True)])
            )
            if recall >= target_recall or nprobe >= ivf.nlist:
                break
            nprobe = min(ivf.nlist, nprobe * 2)
        self.info.update(
            nprobe=nprobe, recall_target=target_recall, measured_recall=round(recall, 4)
        )
        return recall

    def search(self, queries: np.ndarray, top_k: int = 10, offset: int = 0,
               filters: list[SearchFilter | None] | None = None) -> list[list[Hit]]:  # fmt: skip
        """The ``top_k`` best rows of each query after the first ``offset`` (a page of a
        longer list). ``filters[i]`` restricts query i's candidates inside the search,
        so a page is full whenever the gallery holds enough allowed rows."""
        if queries.shape[1] != self.info["dim"]:
            raise RetrievalIndexError(
                f"query dimension {queries.shape[1]} does not match the index ({self.info['dim']})"
            )
        if top_k < 1 or offset < 0:
            raise RetrievalIndexError(f"top_k must be >= 1 and offset >= 0, got {top_k}, {offset}")
        q = _normalised(queries)
        filters = filters or [None] * len(q)
        if all(f is None or not f.active for f in filters):
            return self._ranked(q, offset + top_k, offset)
        return [self._ranked(q[i : i + 1], offset + top_k, offset, f)[0]
                for i, f in enumerate(filters)]  # fmt: skip

    def _ranked(self, q: np.ndarray, k: int, offset: int,
                filt: SearchFilter | None = None) -> list[list[Hit]]:  # fmt: skip
        allowed = None if filt is None or not filt.active else filt.allowed(self.labels())
        total = self.index.ntotal if allowed is None else int(allowed.size)
        k = min(k, total)
        if k <= offset:
            return [[] for _ in q]
        with selector(self.index, self.info, allowed) as params:
            scores, ids = self.index.search(q, k, params=params)
            short = np.flatnonzero((ids < 0).any(axis=1))
            if short.size and self.info["kind"] == "ivf":  # too few probed lists: all of them
                with selector(self.index, self.info, allowed, every_list=True) as every:
                    scores[short], ids[short] = self.index.search(q[short], k, params=every)
        return [
            [self._hit(r + 1, float(s), int(i))
             for r, (s, i) in enumerate(zip(srow, irow, strict=True)) if i >= 0 and r >= offset]
            for srow, irow in zip(scores, ids, strict=True)
        ]  # fmt: skip

    def _hit(self, rank: int, score: float, row: int) -> Hit:
        r = self.rows[row]
        return Hit(rank, score, self.absolute(r["path"]), r["pid"], r["camid"], r["clothes"], row)

    def labels(self) -> list[FileLabels]:
        """Every row's labels, in row order (kept between searches; rows are only ever
        appended, so a longer row list is all that makes them stale)."""
        if len(self._labels) != len(self.rows):
            self._labels = [FileLabels(r["pid"], r["camid"], r["clothes"]) for r in self.rows]
        return self._labels

    def save(self, folder: Path) -> None:
        """Write the next generation, then switch ``info.json`` to it (the one step that
        makes it current), then remove older generations. The caller holds
        `index_lock`."""
        folder = Path(folder)
        ensure_writable(folder)
        gen = next_generation(folder)
        faiss_name, meta_name = generation_files(gen)
        info = {**self.info, "size": len(self.rows), "generation": gen}
        try:
            atomic_write(folder / faiss_name, lambda t: _faiss().write_index(self.index, str(t)))
            atomic_write_text(folder / meta_name, self._meta_text())
            atomic_write_text(folder / "info.json", json.dumps(info, indent=1))
        except BaseException:
            if current_generation(folder) != gen:  # never switched: the previous one stays
                for name in (faiss_name, meta_name):
                    (folder / name).unlink(missing_ok=True)
            raise
        self.info = info
        remove_stale_files(folder, gen)

    def _meta_text(self) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=META_COLUMNS)
        writer.writeheader()
        writer.writerows({k: "" if r[k] is None else r[k] for k in META_COLUMNS} for r in self.rows)
        return buf.getvalue()

    @classmethod
    def load(cls, folder: Path) -> GalleryIndex:
        """Read an index folder; every way it can be broken is named with its file."""
        folder = Path(folder)
        for _ in range(3):  # a writer may switch generations and remove ours mid-read
            info = _read_info(_required(folder, "info.json"))
            try:
                return cls._load_generation(folder, info)
            except _MissingFile:
                if current_generation(folder) == info.get("generation", 0):
                    raise
        raise RetrievalIndexError(f"{folder} kept changing while being read: try again")

    @classmethod
    def _load_generation(cls, folder: Path, info: dict) -> GalleryIndex:
        faiss_name, meta_name = generation_files(info.get("generation", 0))
        faiss_path, meta_path = _required(folder, faiss_name), _required(folder, meta_name)
        rows = _read_meta(meta_path)
        try:
            index = _faiss().read_index(str(faiss_path))
        except RuntimeError as exc:
            _required(folder, faiss_name)  # removed since the check: not a broken file
            why = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
            raise RetrievalIndexError(f"{faiss_path} is not a FAISS index ({why})") from None
        if index.ntotal != len(rows):
            raise RetrievalIndexError(
                f"{folder}: {faiss_name} holds {index.ntotal} vectors but {meta_name} "
                f"{len(rows)} rows"
            )
        if info["kind"] == "ivf":
            _faiss().extract_index_ivf(index).nprobe = int(info.get("nprobe", 1))
        return cls(index, rows, info)


class _MissingFile(RetrievalIndexError):
    """A file of the index folder is missing (a reader retries once the writer switched)."""


def _required(folder: Path, name: str) -> Path:
    if not (folder / name).is_file():
        raise _MissingFile(f"{folder} is not an index folder: {name} is missing")
    return folder / name


def generation_files(gen: int) -> tuple[str, str]:
    """The FAISS and metadata file names of generation ``gen`` (0: the plain names)."""
    return ("index.faiss", "meta.csv") if gen == 0 else (f"index.{gen}.faiss", f"meta.{gen}.csv")


def current_generation(folder: Path) -> int | None:
    """The generation ``info.json`` names, or None when it is missing or unreadable."""
    try:
        info = json.loads((Path(folder) / "info.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info.get("generation", 0) if isinstance(info, dict) else None


def _generations_on_disk(folder: Path) -> set[int]:
    if not Path(folder).is_dir():
        return set()
    found = (_GENERATION_FILE.match(p.name) for p in Path(folder).iterdir())
    return {int(m.group(3) or m.group(5) or 0) for m in found if m}


def next_generation(folder: Path) -> int:
    """One past every generation named or present (0 in a folder without index files), so
    a save never writes over a file the current ``info.json`` may name."""
    taken = _generations_on_disk(folder)
    current = current_generation(folder)
    if isinstance(current, int):
        taken.add(current)
    return max(taken) + 1 if taken else 0


def remove_stale_files(folder: Path, keep: int) -> None:
    """Remove every generation but ``keep`` and temp files of interrupted saves (the
    caller holds the lock, so no other writer owns them)."""
    current = set(generation_files(keep))
    for path in Path(folder).iterdir():
        stale = _GENERATION_FILE.match(path.name) and path.name not in current
        if stale or _TEMP_FILE.match(path.name):
            path.unlink(missing_ok=True)


def is_index_folder(folder: Path) -> bool:
    """Holds an index, or files of one (a build that was interrupted)."""
    folder = Path(folder)
    return (folder / "info.json").is_file() or bool(_generations_on_disk(folder))


def index_lock(folder: Path, on_wait: Callable[[str], None] | None = None) -> FolderLock:
    """The lock every writer of an index folder holds; a second writer waits up to
    `LOCK_WAIT_S` for it, then is refused with the holder's pid and command."""
    return FolderLock(folder, hint="try again when it has finished", wait=LOCK_WAIT_S,
                      on_wait=on_wait)  # fmt: skip


INFO_KEYS = ("dim", "kind", "checkpoint", "fingerprint")


def index_info(folder: Path) -> dict:
    """An index folder's ``info.json``, checked, without reading the index itself."""
    return _read_info(_required(Path(folder), "info.json"))


def _read_info(path: Path) -> dict:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RetrievalIndexError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(info, dict):
        raise RetrievalIndexError(f"{path} must hold a JSON object, found {type(info).__name__}")
    missing = [k for k in INFO_KEYS if k not in info]
    if missing:
        raise RetrievalIndexError(f"{path} lacks the key(s) {', '.join(missing)}")
    gen = info.get("generation", 0)
    if not isinstance(gen, int) or isinstance(gen, bool) or gen < 0:
        raise RetrievalIndexError(f"{path}: generation must be an integer >= 0, found {gen!r}")
    return info


def _label(text: str | None, number: bool) -> int | str | None:
    """A meta.csv cell: empty (or the -1 older folders wrote) is unknown."""
    text = (text or "").strip()
    if text in ("", "-1"):
        return None
    return int(text) if number else text


def _read_meta(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or any(c not in reader.fieldnames for c in META_COLUMNS):
            raise RetrievalIndexError(
                f"{path} must start with the header line {','.join(META_COLUMNS)}, "
                f"found {reader.fieldnames}"
            )
        try:
            return [{"path": r["path"], "pid": _label(r["pid"], True),
                     "camid": _label(r["camid"], True), "clothes": _label(r["clothes"], False)}
                    for r in reader]  # fmt: skip
        except (TypeError, ValueError) as exc:
            raise RetrievalIndexError(f"{path} line {reader.line_num}: {exc}") from None
