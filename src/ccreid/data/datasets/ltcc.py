"""LTCC: <pid>_<clothes>_c<cam>_*.png; standard and clothes-changing settings."""

from __future__ import annotations

import re
from pathlib import Path

from ccreid.data.base import DATASETS, DatasetLayout, RawSample, list_images, parse_error
from ccreid.data.records import EvalSet, Sample

_NAME = re.compile(r"^(\d+)_(\d+)_c(\d+)")


@DATASETS.register("ltcc")
class LTCC(DatasetLayout):
    required = ("train", "query", "test")
    default_subdir = "LTCC_ReID"
    layout_help = "  LTCC_ReID/{train,query,test}/<pid>_<clothes>_c<cam>_*.png"

    def scan(self, root: Path) -> dict[str, list[RawSample]]:
        out = {}
        for split in self.required:
            items = []
            for path in list_images(root / split):
                m = _NAME.match(path.stem)
                if not m:
                    raise parse_error(path, "<pid>_<clothes>_c<cam>_*.png")
                pid, clothes, cam = map(int, m.groups())
                items.append(RawSample(path, pid, cam, clothes))
            out[split] = items
        return out

    def protocol(self, splits: dict[str, list[Sample]]) -> dict[str, EvalSet]:
        q, g = splits["query"], splits["test"]
        return {"general": EvalSet(q, g, "general"), "cc": EvalSet(q, g, "cc")}
