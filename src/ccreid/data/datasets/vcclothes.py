"""VC-Clothes: <pid>-<cam>-<clothes>-<n>.jpg; settings restrict both sides by camera."""

from __future__ import annotations

import re
from pathlib import Path

from ccreid.data.layouts import DATASETS, FileNameLayout, RawSample
from ccreid.data.records import EvalSet, Sample

# Cameras kept on both sides per setting (docs/conventions.md#datasets): cameras 2 and 3 show the same
# outfit, cameras 3 and 4 different ones; the general rule then applies.
SETTING_CAMERAS = {"general": None, "sc": (2, 3), "cc": (3, 4)}


@DATASETS.register("vcclothes")
class VCClothes(FileNameLayout):
    splits = {"train": "train", "query": "query", "gallery": "gallery"}
    pattern = re.compile(r"^(\d+)-(\d+)-(\d+)-\d+$", re.ASCII)
    expected_name = "<pid>-<cam>-<clothes>-<n>.jpg"
    default_subdir = "VC-Clothes"
    layout_help = "  VC-Clothes/{train,query,gallery}/<pid>-<cam>-<clothes>-<n>.jpg"

    def record(self, path: Path, match: re.Match[str], split: str) -> RawSample:
        pid, cam, clothes = map(int, match.groups())
        return RawSample(path, pid, cam, clothes)

    def protocol(self, splits: dict[str, list[Sample]]) -> dict[str, EvalSet]:
        def keep(items: list[Sample], cams: tuple[int, ...] | None) -> list[Sample]:
            return items if cams is None else [s for s in items if s.camid in cams]

        return {
            name: EvalSet(keep(splits["query"], cams), keep(splits["gallery"], cams), "general")
            for name, cams in SETTING_CAMERAS.items()
        }
