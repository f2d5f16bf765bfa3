"""NKUP: Market-style folders, <pid>_D<day>_C<cam>...; the recording day is the outfit."""

from __future__ import annotations

import re
from pathlib import Path

from ccreid.data.base import DATASETS, DatasetLayout, RawSample, list_images, parse_error
from ccreid.data.records import EvalSet, Sample

_NAME = re.compile(r"^(\d+)_D(\d+)_C(\d+)")
SPLITS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}


@DATASETS.register("nkup")
class NKUP(DatasetLayout):
    required = tuple(SPLITS.values())
    default_subdir = "NKUP"
    layout_help = (
        "  NKUP/{bounding_box_train,query,bounding_box_test}/<pid>_D<day>_C<cam>S..._*.jpg"
    )

    def scan(self, root: Path) -> dict[str, list[RawSample]]:
        out = {}
        for split, folder in SPLITS.items():
            items = []
            for path in list_images(root / folder):
                m = _NAME.match(path.stem)
                if not m:
                    raise parse_error(path, "<pid>_D<day>_C<cam>S<seq>_<n>.jpg")
                pid, day, cam = map(int, m.groups())
                items.append(RawSample(path, pid, cam, day))
            out[split] = items
        return out

    def protocol(self, splits: dict[str, list[Sample]]) -> dict[str, EvalSet]:
        q, g = splits["query"], splits["gallery"]
        return {"cc": EvalSet(q, g, "cc"), "general": EvalSet(q, g, "general")}
