"""The questions a clothes-changing search asks of its gallery: "only other cameras",
"only other clothes", "only these cameras". A filter is applied inside the FAISS search
(an ID selector), so a page of k results is full whenever the gallery holds k allowed rows.

A row passes only when its labels show that it does: a row of unknown camera is not known
to be of another camera, a row of unknown identity or outfit is not known to be in other
clothes. A filter that needs a label the query lacks is refused, naming the label.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ccreid.data.filelabels import UNKNOWN, FileLabels
from ccreid.errors import InputError


@dataclass(frozen=True)
class SearchFilter:
    """Which gallery rows a query may be answered with, given the query's own labels."""

    query: FileLabels = UNKNOWN
    exclude_same_camera: bool = False
    other_clothes_only: bool = False
    cameras: tuple[int, ...] | None = None  # keep only these cameras

    @property
    def active(self) -> bool:
        return self.exclude_same_camera or self.other_clothes_only or self.cameras is not None

    def check(self) -> None:
        """Refuse a filter the query's labels cannot drive."""
        if self.exclude_same_camera and self.query.camid is None:
            raise InputError(
                "exclude_same_camera needs the query's camera: name the query file by the "
                "index's layout, or give its camera"
            )
        if self.other_clothes_only and None in (self.query.pid, self.query.clothes):
            raise InputError(
                "other_clothes_only needs the query's identity and outfit: name the query "
                "file by the index's layout, or give both"
            )

    def passes(self, row: FileLabels) -> bool:
        """The rule for one row (the definition `allowed` vectorises)."""
        if self.cameras is not None and row.camid not in self.cameras:
            return False
        if self.exclude_same_camera and (row.camid is None or row.camid == self.query.camid):
            return False
        return not self.other_clothes_only or self.query.same_outfit(row) is False

    def allowed(self, rows: Sequence[FileLabels]) -> np.ndarray:
        """Row numbers (int64, ascending) that pass."""
        self.check()
        return np.array([i for i, r in enumerate(rows) if self.passes(r)], dtype=np.int64)


@contextmanager
def selector(index, info: dict, allowed: np.ndarray | None,
             every_list: bool = False) -> Iterator[object]:  # fmt: skip
    """FAISS search parameters restricting a search to ``allowed`` rows (None: all), with
    the index kind's own settings (IVF's nprobe, all lists when ``every_list``; HNSW's
    efSearch). The selector lives as long as the block, as FAISS requires."""
    import faiss

    sel = None if allowed is None else faiss.IDSelectorBatch(allowed)
    kind = info["kind"]
    if kind == "ivf":
        ivf = faiss.extract_index_ivf(index)
        params = faiss.SearchParametersIVF(nprobe=ivf.nlist if every_list else ivf.nprobe)
    elif kind == "hnsw":
        params = faiss.SearchParametersHNSW(efSearch=index.hnsw.efSearch)
    else:
        params = faiss.SearchParameters()
    if sel is not None:
        params.sel = sel
    try:
        yield params
    finally:
        del params, sel
