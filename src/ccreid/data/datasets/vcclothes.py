"""VC-Clothes: <pid>-<cam>-<clothes>-<n>.jpg; settings restrict both sides by camera."""

from __future__ import annotations

import re
from pathlib import Path

from ccreid.data.base import DATASETS, DatasetLayout, RawSample, list_images, parse_error
from ccreid.data.records import EvalSet, Sample

_NAME = re.compile(r"^(\d+)-(\d+)-(\d+)-\d+$")
# Cameras kept on both sides per setting (SPEC section 6): cameras 2 and 3 show the same
# outfit, cameras 3 and 4 different ones; the general rule then applies.
SETTING_CAMERAS = {"general": None, "sc": (2, 3), "cc": (3, 4)}


@DATASETS.register("vcclothes")
class VCClothes(DatasetLayout):
    required = ("train", "query", "gallery")
    default_subdir = "VC-Clothes"
    layout_help = "  VC-Clothes/{train,query,gallery}/<pid>-<cam>-<clothes>-<n>.jpg"

    def scan(self, root: Path) -> dict[str, list[RawSample]]:
        out = {}
        for split in self.required:
            items = []
            for path in list_images(root / split):
                m = _NAME.match(path.stem)
                if not m:
                    raise parse_error(path, "<pid>-<cam>-<clothes>-<n>.jpg")
                pid, cam, clothes = map(int, m.groups())
                items.append(RawSample(path, pid, cam, clothes))
            out[split] = items
        return out

    def protocol(self, splits: dict[str, list[Sample]]) -> dict[str, EvalSet]:
        sets = {}
        for name, cams in SETTING_CAMERAS.items():

            def keep(items: list[Sample], cams: tuple[int, ...] | None = cams) -> list[Sample]:
                return items if cams is None else [s for s in items if s.camid in cams]

            sets[name] = EvalSet(keep(splits["query"]), keep(splits["gallery"]), "general")
        return sets
