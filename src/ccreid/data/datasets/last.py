"""LaST: train/<pid>/*.jpg, {val,test}/query/*.jpg and {val,test}/gallery/<pid>/*.jpg.

A file name splits on ``_``: the first token is the person id and the outfit is (first
token, last token). Val and test images carry no camera: every query and gallery image
is its own camera, so the same-camera rule removes nothing and the setting is general.
Their outfit tokens are kept as outfit labels but no clothes-changing setting is built
(LaST's protocol has none). The val split is the validation set for model selection.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from ccreid.data.layouts import DATASETS, DatasetLayout, RawSample, ascii_int, parse_error
from ccreid.data.records import EvalSet, Sample
from ccreid.imagefiles import list_images

EXPECTED_NAME = "<pid>_..._<outfit>.jpg (tokens split on '_', the first an integer id)"
FOLDERS = {"train": "train", "val_query": "val/query", "val_gallery": "val/gallery",
           "query": "test/query", "gallery": "test/gallery"}  # fmt: skip


@DATASETS.register("last")
class LaST(DatasetLayout):
    required = tuple(FOLDERS.values())
    default_subdir = "last"
    primary_setting = "general"
    validation_splits = ("val_query", "val_gallery")
    layout_help = (
        "  last/train/<pid>/<pid>_..._<outfit>.jpg\n"
        "  last/{val,test}/query/<pid>_..._<outfit>.jpg\n"
        "  last/{val,test}/gallery/<pid>/<pid>_..._<outfit>.jpg"
    )

    def scan(self, root: Path) -> dict[str, list[RawSample]]:
        own_camera = itertools.count(1)  # val/test: every image its own camera
        out = {}
        for split, folder in FOLDERS.items():
            items = []
            for path in list_images(root / folder, recursive=True):
                pid, outfit = _name_tokens(path)
                cam = 0 if split == "train" else next(own_camera)
                items.append(RawSample(path, pid, cam, outfit))
            out[split] = items
        return out

    def protocol(self, splits: dict[str, list[Sample]]) -> dict[str, EvalSet]:
        return {"general": EvalSet(splits["query"], splits["gallery"], "general")}


def _name_tokens(path: Path) -> tuple[int, str]:
    tokens = path.stem.split("_")
    pid = ascii_int(tokens[0]) if len(tokens) >= 2 else None
    if pid is None:
        raise parse_error(path, EXPECTED_NAME)
    return pid, tokens[-1]
