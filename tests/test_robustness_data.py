"""Datasets given bad trees on purpose, and property tests of the file-name grammars."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from ccreid.data import DatasetError, load_dataset
from ccreid.data.layouts import DATASETS

PID, CAM, CLOTHES, N = (st.integers(0, 9999), st.integers(1, 9), st.integers(0, 99),
                        st.integers(0, 999_999))  # fmt: skip

# file stem for drawn (pid, cam, clothes, n), and the (pid, camid, clothes) the loader must read
GRAMMARS = {
    "vcclothes": (lambda p, c, o, n: f"{p:04d}-{c}-{o:02d}-{n:02d}", lambda p, c, o: (p, c, o)),
    "ltcc": (lambda p, c, o, n: f"{p:03d}_{o}_c{c}_{n:06d}", lambda p, c, o: (p, c, o)),
    "nkup": (lambda p, c, o, n: f"{p:04d}_D{o}_C{c}S{n % 10}_{n}", lambda p, c, o: (p, c, o)),
    "market1501": (
        lambda p, c, o, n: f"{p:04d}_c{c}s{n % 7}_{n:06d}_00",
        lambda p, c, o: (p, c - 1, p),
    ),  # fmt: skip
}


@pytest.mark.reliability(
    tried="file names of every flat-folder dataset (hypothesis: random pid, camera, outfit, index)",
    happens="parse back to exactly what they encode; names not starting with an id never parse",
    also=("test_names_not_starting_with_an_id_never_parse",),
)
@pytest.mark.parametrize("name", GRAMMARS)
@given(pid=PID, cam=CAM, clothes=CLOTHES, n=N)
def test_file_names_parse_back_to_what_they_encode(name, pid, cam, clothes, n) -> None:
    layout = DATASETS.get(name)()
    write, expected = GRAMMARS[name]
    path = Path(f"{write(pid, cam, clothes, n)}.jpg")
    match = layout.pattern.match(path.stem)
    assert match is not None
    rec = layout.record(path, match, "train")
    assert (rec.pid, rec.camid, rec.clothes) == expected(pid, cam, clothes)


@pytest.mark.parametrize("name", GRAMMARS)
@given(prefix=st.text(alphabet="abcxyz_ -.", min_size=1, max_size=4), pid=PID, cam=CAM,
       clothes=CLOTHES, n=N)  # fmt: skip
def test_names_not_starting_with_an_id_never_parse(name, prefix, pid, cam, clothes, n) -> None:
    layout = DATASETS.get(name)()
    stem = prefix + GRAMMARS[name][0](pid, cam, clothes, n)
    assert layout.pattern.match(stem) is None or re.match(r"^-\d", stem)  # "-1" is Market junk


def write_images(root: Path, rels: list[str]) -> None:
    for rel in rels:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((16, 8, 3), np.uint8)).save(root / rel)


VC_OK = {"train": ["0001-1-01-01.jpg", "0002-2-01-01.jpg"],
         "query": ["0010-2-01-01.jpg"], "gallery": ["0010-3-01-01.jpg"]}  # fmt: skip


def vc_tree(root: Path, **replace: list[str]) -> Path:
    names = {**VC_OK, **replace}
    for split in names:
        (root / "VC-Clothes" / split).mkdir(parents=True, exist_ok=True)
    write_images(root / "VC-Clothes", [f"{s}/{n}" for s, ns in names.items() for n in ns])
    return root


@pytest.mark.reliability(
    tried="the same identity in train and a test split",
    happens="`DatasetError` naming the split, the pid and one file of each side",
)
def test_identities_shared_between_train_and_test_are_refused(tmp_path: Path) -> None:
    vc_tree(tmp_path, query=["0001-2-01-05.jpg"])
    with pytest.raises(
        DatasetError, match=r"split 'query' also appear in 'train'.*0001-2-01-05\.jpg"
    ):
        load_dataset("vcclothes", tmp_path)


@pytest.mark.reliability(
    tried="an empty split folder; a missing mask folder; a manifest row naming a missing image",
    happens="`DatasetError` naming the split / folder / CSV line",
    also=(
        "test_missing_mask_folder_is_named",
        "test_manifest_row_naming_a_missing_image_gives_the_line",
    ),
)
def test_an_empty_split_folder_is_named(tmp_path: Path) -> None:
    vc_tree(tmp_path, gallery=[])
    with pytest.raises(
        DatasetError, match=r"split 'gallery' of vcclothes under .*VC-Clothes has no"
    ):
        load_dataset("vcclothes", tmp_path)


def test_a_missing_split_folder_is_named_with_the_expected_layout(tmp_path: Path) -> None:
    vc_tree(tmp_path)
    (tmp_path / "VC-Clothes" / "query" / "0010-2-01-01.jpg").unlink()
    (tmp_path / "VC-Clothes" / "query").rmdir()
    with pytest.raises(DatasetError, match=r"VC-Clothes/query is missing(.|\n)*<pid>-<cam>"):
        load_dataset("vcclothes", tmp_path)


def test_missing_mask_folder_is_named(tmp_path: Path) -> None:
    vc_tree(tmp_path)
    with pytest.raises(DatasetError, match=r"mask folder .*nowhere does not exist"):
        load_dataset("vcclothes", tmp_path, mask_root=tmp_path / "nowhere")


def test_manifest_row_naming_a_missing_image_gives_the_line(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text(
        "path,pid,camid,clothes,split\nmissing.jpg,1,0,a,train\n"
    )
    with pytest.raises(DatasetError, match=r"manifest\.csv, line 2: image .*missing\.jpg"):
        load_dataset("manifest", tmp_path)
