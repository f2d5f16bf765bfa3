"""Every dataset loader on small trees with the real file-name grammar."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ccreid.data import DatasetError, load_dataset


def touch_images(root: Path, rels: list[str], masks: Path | None = None) -> None:
    for rel in rels:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((16, 8, 3), np.uint8)).save(p)
        if masks is not None:
            m = (masks / rel).with_suffix(".png")
            m.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.zeros((16, 8), np.uint8)).save(m)


def stats_of(data) -> dict[str, tuple[int, int, int, int]]:
    return {r["split"]: (r["ids"], r["images"], r["clothes"], r["cameras"]) for r in data.stats()}


def test_vcclothes_settings_restrict_cameras(tmp_path: Path) -> None:
    names = {
        "train": ["0001-1-01-01.jpg", "0001-4-02-01.jpg", "0002-2-01-01.jpg", "0002-3-01-02.jpg"],
        "query": ["0010-2-01-01.jpg", "0010-3-01-01.jpg", "0010-4-02-01.jpg", "0011-1-03-01.jpg"],
        "gallery": ["0010-2-01-02.jpg", "0010-3-01-02.jpg", "0010-4-02-02.jpg", "0011-3-01-01.jpg"],
    }
    touch_images(tmp_path / "VC-Clothes", [f"{s}/{n}" for s, ns in names.items() for n in ns])
    data = load_dataset("vcclothes", tmp_path)
    assert data.num_train_pids == 2 and data.num_train_clothes == 3
    assert sorted({s.pid for s in data.train}) == [0, 1]
    sizes = {k: (len(v.query), len(v.gallery)) for k, v in data.eval_sets.items()}
    assert sizes == {"general": (4, 4), "sc": (2, 3), "cc": (2, 3)}
    assert all(s.camid in (3, 4) for s in data.eval_sets["cc"].query)
    assert data.pid2clothes.sum() == 3


def test_prcc_outfits_cameras_and_sets(tmp_path: Path) -> None:
    rels = ["rgb/train/001/A_1.jpg", "rgb/train/001/B_2.jpg", "rgb/train/001/C_3.jpg",
            "rgb/train/002/A_1.jpg", "rgb/train/002/C_1.jpg"]  # fmt: skip
    rels += [
        f"rgb/test/{cam}/{pid:03d}/{cam}_{i}.jpg"
        for cam in "ABC"
        for pid in (5, 6)
        for i in range(2)
    ]
    touch_images(tmp_path / "prcc", rels)
    data = load_dataset("prcc", tmp_path)
    assert stats_of(data)["train"] == (2, 5, 4, 3)  # ids, images, outfits (AB, C per id), cams
    sc, cc = data.eval_sets["sc"], data.eval_sets["cc"]
    assert (len(sc.query), len(sc.gallery), sc.mode) == (4, 4, "sc")
    assert {s.camid for s in cc.query} == {2} and {s.camid for s in cc.gallery} == {0}
    # Gallery A and query B share the outfit id, query C does not.
    assert sc.query[0].clothes == sc.gallery[0].clothes != cc.query[0].clothes


def test_prcc_single_shot_draws_one_gallery_image_per_id(tmp_path: Path) -> None:
    rels = ["rgb/train/001/A_1.jpg"] + [
        f"rgb/test/{c}/{p:03d}/{c}_{i}.jpg" for c in "ABC" for p in (5, 6, 7) for i in range(3)
    ]
    touch_images(tmp_path / "prcc", rels)
    data = load_dataset("prcc", tmp_path, single_shot=True, trials=4, seed=1)
    trials = data.eval_sets["cc"].gallery_trials
    assert len(trials) == 4
    for t in trials:
        assert sorted(data.eval_sets["cc"].gallery[i].pid for i in t) == [5, 6, 7]


def test_ltcc_and_nkup_and_market(tmp_path: Path) -> None:
    touch_images(tmp_path / "LTCC_ReID", ["train/001_1_c1_015.png", "train/001_2_c3_001.png",
                                          "query/010_1_c2_000.png", "test/010_2_c5_000.png",
                                          "test/010_1_c4_001.png"])  # fmt: skip
    ltcc = load_dataset("ltcc", tmp_path)
    assert ltcc.num_train_clothes == 2 and set(ltcc.eval_sets) == {"general", "cc"}
    touch_images(tmp_path / "NKUP", ["bounding_box_train/0001_D1_C3S2_001.jpg", "bounding_box_train/0001_D2_C4S1_002.jpg",
                                     "query/0005_D1_C1S1_001.jpg", "bounding_box_test/0005_D3_C2S1_004.jpg"])  # fmt: skip
    nkup = load_dataset("nkup", tmp_path)
    assert nkup.num_train_clothes == 2 and nkup.eval_sets["cc"].mode == "cc"
    touch_images(tmp_path / "Market", ["bounding_box_train/0002_c1s1_000451_03.jpg", "bounding_box_train/-1_c1s1_0001_01.jpg",
                                       "query/0003_c2s1_000001_00.jpg", "bounding_box_test/0000_c1s1_0001_00.jpg",
                                       "bounding_box_test/0003_c3s1_0002_00.jpg"])  # fmt: skip
    market = load_dataset("market1501", tmp_path / "Market")
    assert len(market.train) == 1 and market.skipped == {"train junk (pid -1)": 1}
    assert [s.camid for s in market.eval_sets["general"].gallery] == [0, 2]


def test_manifest(tmp_path: Path) -> None:
    touch_images(tmp_path, ["a.jpg", "b.jpg", "c.jpg", "d.jpg"])
    with (tmp_path / "manifest.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "pid", "camid", "clothes", "split"])
        w.writerows([["a.jpg", 7, 0, "red", "train"], ["b.jpg", 7, 1, "blue", "train"],
                     ["c.jpg", 3, 0, "x", "query"], ["d.jpg", 3, 1, "y", "gallery"]])  # fmt: skip
    data = load_dataset("manifest", tmp_path)
    assert data.num_train_pids == 1 and data.num_train_clothes == 2
    assert set(data.eval_sets) == {"general", "sc", "cc"}


@pytest.mark.reliability(
    tried="missing split folder",
    happens="error names the folder and shows the expected layout",
)
def test_missing_folder_shows_expected_layout(tmp_path: Path) -> None:
    (tmp_path / "VC-Clothes" / "train").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"query is missing.*\n.*<pid>-<cam>-<clothes>-<n>\.jpg"):
        load_dataset("vcclothes", tmp_path)


@pytest.mark.reliability(
    tried="file name that does not parse",
    happens="error names the file and the expected pattern",
)
def test_unparseable_file_name_is_reported_with_its_path(tmp_path: Path) -> None:
    touch_images(tmp_path / "VC-Clothes", ["train/0001-1-01-01.jpg", "train/holiday.jpg", "query/0002-1-01-01.jpg",
                                           "gallery/0002-2-01-01.jpg"])  # fmt: skip
    with pytest.raises(DatasetError, match=r"cannot parse file name .*holiday\.jpg"):
        load_dataset("vcclothes", tmp_path)


@pytest.mark.reliability(
    tried="missing masks",
    happens="all counted over all splits, first five listed, before training",
)
def test_missing_masks_are_counted_before_training(tmp_path: Path) -> None:
    rels = [
        "train/0001-1-01-01.jpg",
        "train/0001-2-01-02.jpg",
        "query/0002-1-01-01.jpg",
        "gallery/0002-2-01-01.jpg",
    ]
    touch_images(tmp_path / "VC-Clothes", rels, masks=tmp_path / "masks" / "VC-Clothes")
    (tmp_path / "masks/VC-Clothes/train/0001-2-01-02.png").unlink()
    (tmp_path / "masks/VC-Clothes/query/0002-1-01-01.png").unlink()
    with pytest.raises(DatasetError, match=r"2 of \d+ parsing masks are missing"):
        load_dataset("vcclothes", tmp_path, mask_root=tmp_path / "masks")


@pytest.mark.reliability(
    tried="symlink pointing outside the dataset root",
    happens="refused",
)
def test_symlink_outside_the_root_is_refused(tmp_path: Path) -> None:
    touch_images(
        tmp_path / "VC-Clothes",
        ["train/0001-1-01-01.jpg", "query/0002-1-01-01.jpg", "gallery/0002-2-01-01.jpg"],
    )
    touch_images(tmp_path / "elsewhere", ["x.jpg"])
    (tmp_path / "VC-Clothes/train/0003-1-01-01.jpg").symlink_to(tmp_path / "elsewhere/x.jpg")
    with pytest.raises(DatasetError, match="outside"):
        load_dataset("vcclothes", tmp_path)


def test_unknown_dataset_lists_known_ones(tmp_path: Path) -> None:
    with pytest.raises(
        KeyError,
        match="known: ccvid, deepchange, last, ltcc, manifest, market1501, nkup, prcc, vcclothes",
    ):
        load_dataset("duke", tmp_path)
