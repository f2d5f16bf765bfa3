"""Market-1501: <pid>_c<cam>s<seq>_*.jpg; pid -1 is junk (skipped, counted); clothes = pid."""

from __future__ import annotations

import re
from pathlib import Path

from ccreid.data.base import DATASETS, DatasetLayout, RawSample, list_images, parse_error
from ccreid.data.records import EvalSet, Sample

_NAME = re.compile(r"^(-?\d+)_c(\d+)")
SPLITS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}


@DATASETS.register("market1501")
class Market1501(DatasetLayout):
    required = tuple(SPLITS.values())
    default_subdir = "Market-1501-v15.09.15"
    layout_help = (
        "  Market-1501/{bounding_box_train,query,bounding_box_test}/<pid>_c<cam>s<seq>_*.jpg"
    )

    def __init__(self) -> None:
        self.skipped: dict[str, int] = {}

    def scan(self, root: Path) -> dict[str, list[RawSample]]:
        out = {}
        for split, folder in SPLITS.items():
            items = []
            for path in list_images(root / folder):
                m = _NAME.match(path.stem)
                if not m:
                    raise parse_error(path, "<pid>_c<cam>s<seq>_<n>.jpg")
                pid, cam = int(m.group(1)), int(m.group(2)) - 1
                if pid == -1:  # junk detections by the dataset's convention
                    self.skipped[f"{split} junk (pid -1)"] = (
                        self.skipped.get(f"{split} junk (pid -1)", 0) + 1
                    )
                    continue
                items.append(RawSample(path, pid, cam, pid))
            out[split] = items
        return out

    def protocol(self, splits: dict[str, list[Sample]]) -> dict[str, EvalSet]:
        return {"general": EvalSet(splits["query"], splits["gallery"], "general")}
