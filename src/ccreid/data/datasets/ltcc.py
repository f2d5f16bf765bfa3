"""LTCC: <pid>_<clothes>_c<cam>_*.png; standard and clothes-changing settings."""

from __future__ import annotations

import re
from pathlib import Path

from ccreid.data.layouts import DATASETS, FileNameLayout, RawSample
from ccreid.data.records import EvalSet, Sample


@DATASETS.register("ltcc")
class LTCC(FileNameLayout):
    splits = {"train": "train", "query": "query", "test": "test"}
    pattern = re.compile(r"^(\d+)_(\d+)_c(\d+)", re.ASCII)
    expected_name = "<pid>_<clothes>_c<cam>_*.png"
    default_subdir = "LTCC_ReID"
    layout_help = "  LTCC_ReID/{train,query,test}/<pid>_<clothes>_c<cam>_*.png"

    def record(self, path: Path, match: re.Match[str], split: str) -> RawSample:
        pid, clothes, cam = map(int, match.groups())
        return RawSample(path, pid, cam, clothes)

    def protocol(self, splits: dict[str, list[Sample]]) -> dict[str, EvalSet]:
        q, g = splits["query"], splits["test"]
        return {"general": EvalSet(q, g, "general"), "cc": EvalSet(q, g, "cc")}
