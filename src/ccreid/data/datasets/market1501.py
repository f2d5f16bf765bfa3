"""Market-1501: <pid>_c<cam>s<seq>_*.jpg; pid -1 is junk (skipped, counted); clothes = pid."""

from __future__ import annotations

import re
from pathlib import Path

from ccreid.data.layouts import DATASETS, FileNameLayout, RawSample
from ccreid.data.records import EvalSet, Sample


@DATASETS.register("market1501")
class Market1501(FileNameLayout):
    primary_setting = "general"
    splits = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
    pattern = re.compile(r"^(-?\d+)_c(\d+)", re.ASCII)
    expected_name = "<pid>_c<cam>s<seq>_<n>.jpg"
    default_subdir = "Market-1501-v15.09.15"
    layout_help = (
        "  Market-1501/{bounding_box_train,query,bounding_box_test}/<pid>_c<cam>s<seq>_*.jpg"
    )

    names_outfits = False

    def record(self, path: Path, match: re.Match[str], split: str) -> RawSample | None:
        pid, cam = int(match.group(1)), int(match.group(2)) - 1
        if pid == -1:  # junk detections by the dataset's convention
            key = f"{split} junk (pid -1)"
            self.skipped[key] = self.skipped.get(key, 0) + 1
            return None
        return RawSample(path, pid, cam, pid)

    def protocol(self, splits: dict[str, list[Sample]]) -> dict[str, EvalSet]:
        return {"general": EvalSet(splits["query"], splits["gallery"], "general")}
