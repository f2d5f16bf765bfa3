"""Any dataset as a CSV manifest: path, pid, camid, clothes, split (train/query/gallery)."""

from __future__ import annotations

import csv
from pathlib import Path

from ccreid.data.layouts import DATASETS, DatasetError, DatasetLayout, RawSample
from ccreid.data.records import EvalSet, Sample

COLUMNS = ("path", "pid", "camid", "clothes", "split")
SPLITS = ("train", "query", "gallery")


@DATASETS.register("manifest")
class Manifest(DatasetLayout):
    """``root`` is the folder holding ``manifest.csv`` (or the CSV itself); paths are relative to it."""

    layout_help = (
        "  <root>/manifest.csv with columns path,pid,camid,clothes,split and the images it names"
    )

    def __init__(self, filename: str = "manifest.csv") -> None:
        self.filename = filename

    def resolve_root(self, root: Path) -> Path:
        if root.is_file():
            self.filename = root.name
            return root.parent
        return root

    def check_layout(self, root: Path) -> None:
        super().check_layout(root)
        if not (root / self.filename).is_file():
            raise DatasetError(f"{root / self.filename} is missing.\nExpected:\n{self.layout_help}")

    def scan(self, root: Path) -> dict[str, list[RawSample]]:
        csv_path = root / self.filename
        out: dict[str, list[RawSample]] = {s: [] for s in SPLITS}
        with csv_path.open(newline="", encoding="utf-8-sig") as fh:  # a BOM is not a column name
            reader = csv.DictReader(fh)
            missing = set(COLUMNS) - set(reader.fieldnames or ())
            if missing:
                raise DatasetError(
                    f"{csv_path} lacks columns {sorted(missing)}; expected {COLUMNS}"
                )
            for line, row in enumerate(reader, start=2):
                try:
                    split = row["split"].strip()
                    if split not in SPLITS:
                        raise ValueError(f"split {split!r} not in {SPLITS}")
                    path = root / row["path"]
                    if not path.is_file():
                        raise ValueError(f"image {path} does not exist")
                    out[split].append(
                        RawSample(path, int(row["pid"]), int(row["camid"]), row["clothes"].strip())
                    )
                except (ValueError, TypeError) as exc:
                    raise DatasetError(f"{csv_path}, line {line}: {exc}") from None
        return out

    def protocol(self, splits: dict[str, list[Sample]]) -> dict[str, EvalSet]:
        q, g = splits["query"], splits["gallery"]
        return {m: EvalSet(q, g, m) for m in ("general", "sc", "cc")}
