"""CCVID (video): ``{train,query,gallery}.txt`` list ``<tracklet folder> <pid> <outfit>``;
each folder (``session<k>/...``) holds one tracklet's frames.

The camera is the second ``_`` token of the folder name, offset by 12 in ``session3``
(so the three sessions' cameras stay apart); the outfit is (pid, outfit label). An item
is a tracklet: its frames in file-name order, its identity, camera and outfit.
"""

from __future__ import annotations

from pathlib import Path

from ccreid.data.base import DATASETS, DatasetError, DatasetLayout, RawSample
from ccreid.data.records import EvalSet, Sample
from ccreid.imagefiles import list_images

SESSION3_CAMERA_OFFSET = 12
LISTS = {"train": "train.txt", "query": "query.txt", "gallery": "gallery.txt"}


@DATASETS.register("ccvid")
class CCVID(DatasetLayout):
    default_subdir = "CCVID"
    video = True
    layout_help = (
        "  CCVID/{train,query,gallery}.txt: lines '<tracklet folder> <pid> <outfit label>'\n"
        "  CCVID/session<k>/<name>_<camera>_.../<frames>.jpg"
    )

    def check_layout(self, root: Path) -> None:
        super().check_layout(root)
        for listing in LISTS.values():
            if not (root / listing).is_file():
                raise DatasetError(f"{root / listing} is missing; expected:\n{self.layout_help}")

    def scan(self, root: Path) -> dict[str, list[RawSample]]:
        return {split: _read_list(root, root / listing) for split, listing in LISTS.items()}

    def protocol(self, splits: dict[str, list[Sample]]) -> dict[str, EvalSet]:
        q, g = splits["query"], splits["gallery"]
        return {"general": EvalSet(q, g, "general"), "cc": EvalSet(q, g, "cc")}


def camera_of(folder: str) -> int:
    """Camera of a tracklet folder: second '_' token, plus 12 in session3."""
    tokens = folder.split("_")
    if len(tokens) < 2 or not tokens[1].isdigit():
        raise ValueError(f"tracklet folder {folder!r} has no camera as its second '_' token")
    offset = SESSION3_CAMERA_OFFSET if folder.split("/")[0] == "session3" else 0
    return int(tokens[1]) + offset


def _read_list(root: Path, listing: Path) -> list[RawSample]:
    items = []
    for number, line in enumerate(listing.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        where = f"{listing}:{number}"
        if len(fields) != 3 or not fields[1].isdigit():
            raise DatasetError(
                f"{where}: expected '<tracklet folder> <pid> <outfit label>', got {line!r}"
            )
        folder, pid, outfit = fields
        try:
            camid = camera_of(folder)
        except ValueError as exc:
            raise DatasetError(f"{where}: {exc}") from None
        frames = tuple(list_images(root / folder))
        if not frames:
            raise DatasetError(f"{where}: tracklet folder {root / folder} holds no images")
        items.append(RawSample(frames[0], int(pid), camid, outfit, frames))
    return items
