"""DeepChange: five image folders, each listed in ``<folder>-bbox.txt`` as
``<file name>,<tracklet id>``; names ``P<pid>_C<cam>_<outfit>...``. The root may be given
above the dataset's folder, named ``DeepChange`` or, as distributed, ``DeepChangeDataset``.

Its protocol lets a true match come from the query's camera when it belongs to another
tracklet: the junk rule uses the tracklet in place of the camera, so evaluation items
carry (camera, tracklet) codes as their ``camid``. Training items keep the camera.
Outfit labels of val and test are their own (the loader codes test outfits apart).
"""

from __future__ import annotations

from pathlib import Path

from ccreid.data.layouts import (
    DATASETS,
    DatasetError,
    DatasetLayout,
    RawSample,
    ascii_int,
    parse_error,
    read_lines,
)
from ccreid.data.records import EvalSet, Sample
from ccreid.imagefiles import list_images

EXPECTED_NAME = "P<pid>_C<cam>_<outfit>_....jpg"
FOLDERS = {"train": "train-set", "val_query": "val-set-query", "val_gallery": "val-set-gallery",
           "query": "test-set-query", "gallery": "test-set-gallery"}  # fmt: skip


@DATASETS.register("deepchange")
class DeepChange(DatasetLayout):
    required = tuple(FOLDERS.values())
    default_subdir = "DeepChange"
    other_subdirs = ("DeepChangeDataset",)
    primary_setting = "general"
    validation_splits = ("val_query", "val_gallery")
    layout_help = (
        "  DeepChange (or DeepChangeDataset)/<folder>/P<pid>_C<cam>_<outfit>_*.jpg and "
        "<folder>-bbox.txt for " + ", ".join(FOLDERS.values())
    )

    def scan(self, root: Path) -> dict[str, list[RawSample]]:
        tracklet_codes: dict[tuple[int, str], int] = {}
        out = {}
        for split, folder in FOLDERS.items():
            tracklets = _read_bbox_list(root / f"{folder}-bbox.txt", root / folder)
            items = []
            for path in list_images(root / folder):
                pid, cam, outfit = _name_fields(path)
                if split == "train":
                    camid = cam
                else:  # junk = same identity and same tracklet
                    key = (cam, tracklets[path.name])
                    camid = tracklet_codes.setdefault(key, len(tracklet_codes))
                items.append(RawSample(path, pid, camid, outfit))
            out[split] = items
        return out

    def protocol(self, splits: dict[str, list[Sample]]) -> dict[str, EvalSet]:
        q, g = splits["query"], splits["gallery"]
        return {"general": EvalSet(q, g, "general"), "cc": EvalSet(q, g, "cc")}

    def file_labels(self, path: Path) -> RawSample | None:
        try:
            pid, cam, outfit = _name_fields(Path(path))
        except DatasetError:
            return None
        return RawSample(Path(path), pid, cam, outfit)


def _name_fields(path: Path) -> tuple[int, int, str]:
    tokens = path.stem.split("_")
    if len(tokens) < 3 or tokens[0][:1] != "P" or tokens[1][:1] != "C":
        raise parse_error(path, EXPECTED_NAME)
    pid, cam = ascii_int(tokens[0][1:]), ascii_int(tokens[1][1:])
    if pid is None or cam is None:
        raise parse_error(path, EXPECTED_NAME)
    return pid, cam, tokens[2]


def _read_bbox_list(listing: Path, folder: Path) -> dict[str, str]:
    """File name -> tracklet id; every image of the folder must be listed, once."""
    if not listing.is_file():
        raise DatasetError(f"{listing} is missing: DeepChange lists '<file name>,<tracklet id>'")
    tracklets: dict[str, str] = {}
    for number, line in enumerate(read_lines(listing), start=1):
        if not line.strip():
            continue
        name, sep, tracklet = line.strip().partition(",")
        if not sep or not name or not tracklet.strip():
            raise DatasetError(
                f"{listing}:{number}: expected '<file name>,<tracklet id>', got {line!r}"
            )
        if name in tracklets:
            raise DatasetError(f"{listing}:{number}: {name} is listed twice")
        tracklets[name] = tracklet.strip()
    files = {p.name for p in list_images(folder)}
    unlisted, missing = sorted(files - tracklets.keys()), sorted(tracklets.keys() - files)
    if unlisted:
        raise DatasetError(
            f"{len(unlisted)} images of {folder} are not in {listing}, e.g. {unlisted[0]}"
        )
    if missing:
        raise DatasetError(
            f"{len(missing)} files listed in {listing} are not in {folder}, e.g. {missing[0]}"
        )
    return tracklets
