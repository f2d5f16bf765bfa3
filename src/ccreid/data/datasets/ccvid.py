"""CCVID (video): ``{train,query,gallery}.txt`` list ``<tracklet folder> <pid> <outfit>``;
each folder (``session<k>/...``) holds one tracklet's frames.

The camera is the second ``_`` token of the folder name, offset by 12 in ``session3``
(so the three sessions' cameras stay apart); the outfit is (pid, outfit label). An item
is a tracklet: its frames in file-name order, its identity, camera and outfit.

A folder is listed once per list and never in both ``train.txt`` and a test list (test
frames would be trained on), and lies inside the dataset root. The settings follow CAL's
protocol: general, same-clothes (sc) and clothes-changing (cc) on the same lists.
"""

from __future__ import annotations

from pathlib import Path

from ccreid.data.layouts import (
    DATASETS,
    DatasetError,
    DatasetLayout,
    RawSample,
    ascii_int,
    read_lines,
)
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
        seen: dict[str, dict[Path, str]] = {}  # split -> resolved folder -> its file:line
        out = {}
        for split, listing in LISTS.items():
            out[split], seen[split] = _read_list(root, root / listing)
        for test_split in ("query", "gallery"):
            _refuse_overlap(seen["train"], seen[test_split])
        return out

    def protocol(self, splits: dict[str, list[Sample]]) -> dict[str, EvalSet]:
        q, g = splits["query"], splits["gallery"]
        return {mode: EvalSet(q, g, mode) for mode in ("general", "sc", "cc")}


def camera_of(folder: str) -> int:
    """Camera of a tracklet folder: second '_' token, plus 12 in session3."""
    tokens = folder.split("_")
    camera = ascii_int(tokens[1]) if len(tokens) >= 2 else None
    if camera is None:
        raise ValueError(f"tracklet folder {folder!r} has no camera as its second '_' token")
    offset = SESSION3_CAMERA_OFFSET if folder.split("/")[0] == "session3" else 0
    return camera + offset


def _read_list(root: Path, listing: Path) -> tuple[list[RawSample], dict[Path, str]]:
    """The list's tracklets, and each one's resolved folder -> its ``file:line``."""
    items, seen = [], {}
    for number, line in enumerate(read_lines(listing), start=1):
        if not line.strip():
            continue
        fields = line.split()
        where = f"{listing}:{number}"
        pid = ascii_int(fields[1]) if len(fields) == 3 else None
        if pid is None:
            raise DatasetError(
                f"{where}: expected '<tracklet folder> <pid> <outfit label>', got {line!r}"
            )
        folder, _, outfit = fields
        resolved = _inside_root(root, folder, where)
        try:
            camid = camera_of(folder)
        except ValueError as exc:
            raise DatasetError(f"{where}: {exc}") from None
        if resolved in seen:
            raise DatasetError(f"{where}: {folder} is listed twice (also at {seen[resolved]})")
        seen[resolved] = where
        frames = tuple(list_images(root / folder))
        if not frames:
            raise DatasetError(f"{where}: tracklet folder {root / folder} holds no images")
        items.append(RawSample(frames[0], pid, camid, outfit, frames))
    return items, seen


def _inside_root(root: Path, folder: str, where: str) -> Path:
    """The resolved tracklet folder; one that is absolute or resolves outside the root
    (through '..' or a link) would read another tree's frames."""
    resolved = (root / folder).resolve()
    if Path(folder).is_absolute() or not resolved.is_relative_to(root.resolve()):
        raise DatasetError(
            f"{where}: tracklet folder {folder!r} is outside {root} (expected a folder "
            "relative to the dataset root, such as session1/<name>)"
        )
    return resolved


def _refuse_overlap(train: dict[Path, str], test: dict[Path, str]) -> None:
    """A test tracklet also listed for training would put its frames in training."""
    for folder, where in test.items():
        if folder in train:
            raise DatasetError(
                f"{where}: test tracklet {folder} is also listed for training at {train[folder]}; "
                "training and test tracklets must be disjoint"
            )
