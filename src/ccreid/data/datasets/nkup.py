"""NKUP: Market-style folders, <pid>_D<day>_C<cam>...

Assumption (docs/conventions.md#datasets; not a label the dataset ships): the recording day stands for
the outfit, so the clothes id is (pid, day). The clothes-changing setting depends on it;
the general setting (same-camera matches removed, no clothes rule) does not, which is why
both are reported."""

from __future__ import annotations

import re
from pathlib import Path

from ccreid.data.layouts import DATASETS, FileNameLayout, RawSample
from ccreid.data.records import EvalSet, Sample


@DATASETS.register("nkup")
class NKUP(FileNameLayout):
    splits = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
    pattern = re.compile(r"^(\d+)_D(\d+)_C(\d+)", re.ASCII)
    expected_name = "<pid>_D<day>_C<cam>S<seq>_<n>.jpg"
    default_subdir = "NKUP"
    layout_help = (
        "  NKUP/{bounding_box_train,query,bounding_box_test}/<pid>_D<day>_C<cam>S..._*.jpg"
    )

    def record(self, path: Path, match: re.Match[str], split: str) -> RawSample:
        pid, day, cam = map(int, match.groups())
        return RawSample(path, pid, cam, day)

    def protocol(self, splits: dict[str, list[Sample]]) -> dict[str, EvalSet]:
        q, g = splits["query"], splits["gallery"]
        return {"cc": EvalSet(q, g, "cc"), "general": EvalSet(q, g, "general")}
