"""PRCC: rgb/{train,val,test}; cameras A and B share an outfit, C shows another."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ccreid.data.layouts import (
    DATASETS,
    DatasetError,
    DatasetLayout,
    RawSample,
    ascii_int,
    list_images,
)
from ccreid.data.records import EvalSet, Sample

CAMERAS = {"A": 0, "B": 1, "C": 2}


def _outfit(cam: str) -> str:
    return "AB" if cam in "AB" else "C"


@DATASETS.register("prcc")
class PRCC(DatasetLayout):
    """Options: ``single_shot`` (one gallery image per id) with ``trials`` seeded draws."""

    required = ("rgb/train", "rgb/test/A", "rgb/test/B", "rgb/test/C")
    validation_splits = ("val",)
    default_subdir = "prcc"
    layout_help = (
        "  prcc/rgb/train/<pid>/<cam>_*.jpg   (cam in A, B, C)\n"
        "  prcc/rgb/test/{A,B,C}/<pid>/*.jpg  (A gallery, B same-clothes query, C clothes-changing query)"
    )

    def __init__(self, single_shot: bool = False, trials: int = 10, seed: int = 0) -> None:
        self.single_shot, self.trials, self.seed = single_shot, trials, seed

    def scan(self, root: Path) -> dict[str, list[RawSample]]:
        out: dict[str, list[RawSample]] = {"train": self._id_folders(root, "train")}
        if (root / "rgb/val").is_dir():
            out["val"] = self._id_folders(root, "val")
        for cam in CAMERAS:
            items = []
            for path in list_images(root / "rgb/test" / cam, recursive=True):
                pid = ascii_int(path.parent.name)
                if pid is None:
                    raise DatasetError(f"cannot parse {path}: expected rgb/test/{cam}/<pid>/*.jpg")
                items.append(RawSample(path, pid, CAMERAS[cam], _outfit(cam)))
            out[cam] = items
        return out

    def file_labels(self, path: Path) -> RawSample | None:
        """rgb/test/<cam>/<pid>/*.jpg by its folders; rgb/{train,val}/<pid>/<cam>_*.jpg by
        its folder and name."""
        path = Path(path)
        pid = ascii_int(path.parent.name)
        if pid is None:
            return None
        cam = path.parent.parent.name
        if cam not in CAMERAS:
            cam = path.name[0] if path.name[1:2] == "_" else ""
        if cam not in CAMERAS:
            return None
        return RawSample(path, pid, CAMERAS[cam], _outfit(cam))

    @staticmethod
    def _id_folders(root: Path, split: str) -> list[RawSample]:
        items = []
        for path in list_images(root / "rgb" / split, recursive=True):
            cam, pid = path.name[0], ascii_int(path.parent.name)
            if cam not in CAMERAS or pid is None or path.name[1:2] != "_":
                raise DatasetError(f"cannot parse {path}: expected rgb/{split}/<pid>/<A|B|C>_*.jpg")
            items.append(RawSample(path, pid, CAMERAS[cam], _outfit(cam)))
        return items

    def validation(self, splits: dict[str, list[Sample]]) -> EvalSet | None:
        """rgb/val as PRCC's CC setting: camera C queries against camera A."""
        if "val" not in splits:
            return None
        val = splits["val"]
        return EvalSet([s for s in val if s.camid == 2], [s for s in val if s.camid == 0], "cc")

    def _trials(self, gallery: list[Sample]) -> list[np.ndarray] | None:
        if not self.single_shot:
            return None
        rng = np.random.default_rng(self.seed)
        pids = np.array([s.pid for s in gallery])
        by_pid = [np.flatnonzero(pids == p) for p in np.unique(pids)]
        return [np.sort([rng.choice(idx) for idx in by_pid]) for _ in range(self.trials)]

    def protocol(self, splits: dict[str, list[Sample]]) -> dict[str, EvalSet]:
        gallery = splits["A"]
        trials = self._trials(gallery)
        return {
            "sc": EvalSet(splits["B"], gallery, "sc", trials),
            "cc": EvalSet(splits["C"], gallery, "cc", trials),
        }
