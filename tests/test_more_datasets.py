"""LaST, DeepChange and CCVID (video): trees built here with each dataset's naming rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_overrides
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from ccreid.config import load_config
from ccreid.data import load_dataset
from ccreid.data.clips import clip_indices, dense_segments
from ccreid.data.layouts import DatasetError
from ccreid.engine import run_training
from ccreid.evaluation import evaluate_labels
from ccreid.inference.features import labels_of
from ccreid.models import build_model
from ccreid.synthetic import SyntheticConfig, generate


def _image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((16, 8, 3), dtype=np.uint8)).save(path)


def test_last_counts_outfits_and_unique_cameras(tmp_path: Path) -> None:
    root = tmp_path / "last"
    for pid, outfits in ((1, "ab"), (2, "a")):  # train: outfit = (first, last token)
        for i, outfit in enumerate(outfits * 2):
            _image(root / "train" / f"{pid:06d}" / f"{pid:06d}_{i}_x_{outfit}.jpg")
    for split, first in (("val", 10), ("test", 20)):
        for pid in (first, first + 1):
            _image(root / split / "query" / f"{pid:06d}_0_q_1.jpg")
            for i in range(3):
                _image(root / split / "gallery" / f"{pid:06d}" / f"{pid:06d}_{i}_g_{i}.jpg")
    data = load_dataset("last", tmp_path)
    assert (len(data.train), data.num_train_pids, data.num_train_clothes) == (6, 2, 3)
    es = data.eval_sets["general"]
    assert (len(es.query), len(es.gallery)) == (2, 6)
    assert {s.pid for s in es.query} == {20, 21}
    cams = [s.camid for s in es.query + es.gallery]
    assert len(set(cams)) == len(cams)  # every image its own camera: no same-camera junk
    assert data.val_set is not None and {s.pid for s in data.val_set.query} == {10, 11}
    assert list(data.eval_sets) == ["general"] and data.primary_setting == "general"


def test_last_refuses_a_name_without_an_id(tmp_path: Path) -> None:
    root = tmp_path / "last"
    for folder in (
        "train/000001",
        "val/query",
        "val/gallery/000002",
        "test/query",
        "test/gallery/3",
    ):
        _image(root / folder / "000009_0_a.jpg")
    _image(root / "train" / "000001" / "person_a.jpg")
    with pytest.raises(DatasetError, match="person_a.jpg"):
        load_dataset("last", tmp_path)


def _deepchange(root: Path) -> None:
    """Train ids 1-2; test id 5 seen by camera 3 in tracklets t1 and t2 and by camera 4."""
    files = {
        "train-set": [("P00001_C001_01_0001.jpg", "a"), ("P00001_C002_02_0002.jpg", "b"),
                      ("P00002_C001_01_0003.jpg", "c"), ("P00002_C003_01_0004.jpg", "d")],
        "val-set-query": [("P00009_C001_01_0001.jpg", "v1")],
        "val-set-gallery": [("P00009_C002_02_0002.jpg", "v2")],
        "test-set-query": [("P00005_C003_01_0001.jpg", "t1")],
        "test-set-gallery": [("P00005_C003_01_0002.jpg", "t1"), ("P00005_C003_02_0003.jpg", "t2"),
                             ("P00005_C004_02_0004.jpg", "t3"), ("P00006_C003_01_0005.jpg", "t4")],
    }  # fmt: skip
    for folder, rows in files.items():
        for name, _ in rows:
            _image(root / folder / name)
        (root / f"{folder}-bbox.txt").write_text("".join(f"{n},{t}\n" for n, t in rows))


def test_deepchange_junk_is_by_tracklet_not_camera(tmp_path: Path) -> None:
    root = tmp_path / "DeepChange"
    _deepchange(root)
    data = load_dataset("deepchange", tmp_path)
    assert (len(data.train), data.num_train_pids, data.num_train_clothes) == (4, 2, 3)
    es = data.eval_sets["general"]
    g = es.gallery
    # the query's own tracklet is junk; the same camera's other tracklet is a true match
    dist = np.array([[0.3, 0.1, 0.2, 0.05]])  # ranks: other id, t2 (cam 3), t3, own tracklet
    res = evaluate_labels(dist, labels_of(es.query), labels_of(g), "general")
    assert [s.path.endswith("0003.jpg") for s in g] == [False, True, False, False]
    assert res.top(1) == 0.0 and res.top(2) == 1.0  # t2 counts at rank 2 (other id first)
    assert res.mAP == pytest.approx((1 / 2 + 2 / 3) / 2)


@pytest.mark.reliability(
    tried=(
        "DeepChange image not in its `-bbox.txt` (or listed but missing); CCVID list line with "
        "an empty tracklet folder; LaST name without an id"
    ),
    happens="`DatasetError` naming the file (and `list:line`)",
    also=(
        "test_deepchange_a_listed_file_must_exist",
        "test_ccvid_line_errors_name_the_line",
        "test_last_refuses_a_name_without_an_id",
    ),
)
def test_deepchange_images_and_listing_must_agree(tmp_path: Path) -> None:
    root = tmp_path / "DeepChange"
    _deepchange(root)
    _image(root / "test-set-gallery" / "P00006_C003_01_0099.jpg")  # not listed
    with pytest.raises(DatasetError, match="not in .*test-set-gallery-bbox.txt"):
        load_dataset("deepchange", tmp_path)


def test_deepchange_a_listed_file_must_exist(tmp_path: Path) -> None:
    root = tmp_path / "DeepChange"
    _deepchange(root)
    listing = root / "test-set-gallery-bbox.txt"
    listing.write_text(listing.read_text() + "P00006_C003_01_0099.jpg,7\n")  # no such file
    with pytest.raises(DatasetError, match="listed in .*test-set-gallery-bbox.txt are not in"):
        load_dataset("deepchange", tmp_path)


def _ccvid(root: Path) -> None:
    lines = {"train": [("session1/001_01", 1, "u1"), ("session2/001_02", 1, "u2"),
                       ("session1/002_03", 2, "u1")],
             "query": [("session3/010_01", 10, "u1")],
             "gallery": [("session1/010_05", 10, "u2"), ("session3/011_02", 11, "u1")]}  # fmt: skip
    for split, rows in lines.items():
        for folder, _, _ in rows:
            for k in range(3):
                _image(root / folder / f"{k:03d}.jpg")
        (root / f"{split}.txt").write_text("".join(f"{f} {p} {o}\n" for f, p, o in rows))


def test_ccvid_items_are_tracklets_and_session3_cameras_are_offset(tmp_path: Path) -> None:
    root = tmp_path / "CCVID"
    _ccvid(root)
    data = load_dataset("ccvid", tmp_path)
    assert data.video and len(data.train) == 3 and data.num_train_clothes == 3
    assert all(len(s.frames) == 3 and s.path == s.frames[0] for s in data.train)
    cc = data.eval_sets["cc"]
    assert [s.camid for s in cc.query] == [13] and [s.camid for s in cc.gallery] == [5, 14]
    assert {row["split"]: row["frames"] for row in data.stats()}["train"] == 9


def test_ccvid_line_errors_name_the_line(tmp_path: Path) -> None:
    root = tmp_path / "CCVID"
    _ccvid(root)
    (root / "query.txt").write_text("session1/missing_01 10 u1\n")
    with pytest.raises(DatasetError, match="query.txt:1: .*holds no images"):
        load_dataset("ccvid", tmp_path)


@settings(max_examples=200, deadline=None)
@given(
    frames=st.integers(1, 40), seq_len=st.integers(1, 10), stride=st.integers(1, 5),
    seed=st.integers(0, 2**31 - 1),
)  # fmt: skip
def test_clips_stay_inside_their_tracklet_and_respect_the_stride(frames, seq_len, stride, seed):
    torch.manual_seed(seed)
    clip = clip_indices(frames, seq_len, stride)
    assert len(clip) == seq_len
    assert all(0 <= i < frames for i in clip)
    if frames >= seq_len * stride:  # shorter tracklets: see tests/test_video_sampling.py
        distinct = list(dict.fromkeys(clip))
        assert clip[: len(distinct)] == distinct  # the distinct frames come first, in order
        assert all(b - a == stride for a, b in zip(distinct, distinct[1:], strict=False))
        assert len(distinct) == seq_len  # no repeats when the tracklet is long enough


def test_dense_segments_cover_long_tracklets_in_order(tmp_path: Path) -> None:
    root = tmp_path / "CCVID"
    _ccvid(root)
    long = load_dataset("ccvid", tmp_path).train[0]
    frames = tuple(f"f{i}" for i in range(10))
    import dataclasses

    long = dataclasses.replace(long, frames=frames, frame_masks=())
    parts = dense_segments([long], seq_len=2, stride=2)
    assert [p.frames for p in parts] == [frames[0:4], frames[4:10]]  # the tail in the last
    assert all(p.pid == long.pid and p.path == p.frames[0] for p in parts)


def test_temporal_pooling_averages_f_t_before_bnneck() -> None:
    torch.manual_seed(0)
    model = build_model(4, backbone="resnet18", attention="none").eval()
    model.bnneck.running_mean.normal_()
    model.bnneck.running_var.uniform_(0.5, 2)
    clip = torch.randn(3, 3, 32, 16)
    pooled = torch.nn.functional.adaptive_avg_pool2d(model.feature_map(clip), 1).flatten(1)
    expected = model.bnneck(pooled.mean(0, keepdim=True))
    torch.testing.assert_close(model(clip, frames=3), expected)


@pytest.mark.slow
def test_tiny_video_training_and_evaluation_on_synthetic_video(tmp_path: Path) -> None:
    root = generate(tmp_path / "data", SyntheticConfig(train_ids=8, test_ids=4,
                                                       images_per_camera=3, seed=3, video=True))  # fmt: skip
    overrides = tiny_overrides(root, tmp_path / "runs", **{
        "data.name": "ccvid", "data.seq_len": 2, "data.stride": 1, "model.mask_head": "true"})  # fmt: skip
    result = run_training(load_config(None, overrides))
    assert set(result.results) == {"general", "sc", "cc"}
    assert all(0 <= r.mAP <= 1 and r.num_valid_queries > 0 for r in result.results.values())
    assert result.logs[-1].mask > 0  # per-frame masks reached the mask head


def _frames(root: Path, folder: str, count: int) -> None:
    for k in range(count):
        _image(root / folder / f"{k:03d}.jpg")


@pytest.mark.reliability(
    tried="a 403-frame CCVID tree trained with dense clips (8 frames, stride 4)",
    happens="all 403 frames are drawn",
)
def test_ccvid_dense_clips_train_on_every_frame(tmp_path: Path) -> None:
    """Tracklets of 63, 10, 100 and 230 frames (403): CCVID's clips (8 frames, stride 4)
    with dense clips draw each of them; cutting exact 32-frame chunks left 48 unused."""
    root = tmp_path / "CCVID"
    _ccvid(root)
    rows = [("session1/001_01", 1, 63), ("session1/001_02", 1, 10), ("session2/002_03", 2, 100),
            ("session2/002_04", 2, 230)]  # fmt: skip
    for folder, _, count in rows:
        _frames(root, folder, count)
    (root / "train.txt").write_text("".join(f"{f} {p} u{p}\n" for f, p, _ in rows))
    train = load_dataset("ccvid", tmp_path).train
    assert sum(len(t.frames) for t in train) == 403
    drawn = set()
    for item in dense_segments(train, seq_len=8, stride=4):
        for seed in range(400):
            torch.manual_seed(seed)
            drawn |= {item.frames[i] for i in clip_indices(len(item.frames), 8, 4)}
    assert drawn == {f for t in train for f in t.frames}


@pytest.mark.reliability(
    tried="CCVID same-clothes results",
    happens="`sc` setting on the same query/gallery lists",
)
def test_ccvid_has_a_same_clothes_setting(tmp_path: Path) -> None:
    root = tmp_path / "CCVID"
    _ccvid(root)  # query: id 10 in outfit u1; gallery: id 10 in u2, id 11
    _frames(root, "session2/010_07", 3)
    with (root / "gallery.txt").open("a") as fh:
        fh.write("session2/010_07 10 u1\n")  # id 10 in the query's outfit, another camera
    data = load_dataset("ccvid", tmp_path)
    assert list(data.eval_sets) == ["general", "sc", "cc"]
    sc, cc = data.eval_sets["sc"], data.eval_sets["cc"]
    assert sc.mode == "sc" and (sc.query, sc.gallery) == (cc.query, cc.gallery)
    dist = np.array([[0.1, 0.3, 0.2]])  # gallery: 010_05 (u2), 011_02, 010_07 (u1)
    q, g = labels_of(sc.query), labels_of(sc.gallery)
    assert evaluate_labels(dist, q, g, "sc").top(1) == 1.0  # the other outfit is not a match
    assert evaluate_labels(dist, q, g, "cc").top(1) == 1.0  # the same outfit is not a match


@pytest.mark.reliability(
    tried="DeepChange root given above `DeepChangeDataset/`",
    happens="loads (`DeepChange/` or `DeepChangeDataset/`)",
)
def test_deepchange_root_may_be_above_the_folder_as_distributed(tmp_path: Path) -> None:
    _deepchange(tmp_path / "DeepChangeDataset")
    data = load_dataset("deepchange", tmp_path)
    assert data.root == tmp_path / "DeepChangeDataset" and len(data.train) == 4


@pytest.mark.reliability(
    tried="CCVID folder listed twice in a list",
    happens="`DatasetError` naming both `file:line`s",
)
def test_ccvid_refuses_a_query_tracklet_listed_twice(tmp_path: Path) -> None:
    root = tmp_path / "CCVID"
    _ccvid(root)
    with (root / "query.txt").open("a") as fh:
        fh.write("session3/./010_01 10 u1\n")
    with pytest.raises(DatasetError, match=r"query.txt:2: .*listed twice .*query.txt:1\)"):
        load_dataset("ccvid", tmp_path)


@pytest.mark.reliability(
    tried="CCVID query/gallery folder also in `train.txt` (another pid)",
    happens="`DatasetError` naming the test line and the `train.txt` line",
)
@pytest.mark.parametrize("split", ["query", "gallery"])
def test_ccvid_refuses_a_test_tracklet_also_listed_for_training(tmp_path: Path, split) -> None:
    root = tmp_path / "CCVID"
    _ccvid(root)
    folder = (root / f"{split}.txt").read_text().split()[0]
    with (root / "train.txt").open("a") as fh:
        fh.write(f"{folder} 3 u1\n")  # under another identity: the identity check passes
    with pytest.raises(DatasetError, match=rf"{split}.txt:1: .*also listed .*train.txt:4"):
        load_dataset("ccvid", tmp_path)


@pytest.mark.reliability(
    tried="CCVID list line with `../outside_1_x` or an absolute folder",
    happens="`DatasetError` `file:line: tracklet folder ... is outside <root>`",
)
@pytest.mark.parametrize("absolute", [False, True])
def test_ccvid_refuses_a_tracklet_folder_outside_the_root(tmp_path: Path, absolute) -> None:
    root = tmp_path / "CCVID"
    _ccvid(root)
    _frames(tmp_path, "outside_1_x", 3)
    folder = str(tmp_path / "outside_1_x") if absolute else "../outside_1_x"
    with (root / "gallery.txt").open("a") as fh:
        fh.write(f"{folder} 11 u1\n")
    outside = r"gallery.txt:3: tracklet folder '[^']*outside_1_x' is outside "
    with pytest.raises(DatasetError, match=outside):
        load_dataset("ccvid", tmp_path)


def _ltcc(root: Path, extra: str) -> None:
    for rel in ("train/001_1_c1_0.png", "query/005_1_c1_0.png", "test/005_2_c2_0.png", extra):
        _image(root / "LTCC_ReID" / rel)


def _vcclothes(root: Path, extra: str) -> None:
    for rel in ("train/0001-1-01-01.jpg", "query/0005-2-01-01.jpg", "gallery/0005-3-01-02.jpg",
                extra):  # fmt: skip
        _image(root / "VC-Clothes" / rel)


def _prcc(root: Path, extra: str) -> None:
    for rel in ("rgb/train/001/A_0.jpg", "rgb/test/A/005/a.jpg", "rgb/test/B/005/b.jpg",
                "rgb/test/C/005/c.jpg", extra):  # fmt: skip
        _image(root / "prcc" / rel)


def _last(root: Path, extra: str) -> None:
    for rel in ("train/1/000001_0_a.jpg", "val/query/000002_0_a.jpg",
                "val/gallery/2/000002_1_a.jpg", "test/query/000003_0_a.jpg",
                "test/gallery/3/000003_1_a.jpg", extra):  # fmt: skip
        _image(root / "last" / rel)


def _deepchange_with(root: Path, extra: str) -> None:
    _deepchange(root / "DeepChange")
    _image(root / "DeepChange" / "train-set" / extra)
    with (root / "DeepChange" / "train-set-bbox.txt").open("a") as fh:
        fh.write(f"{extra},z\n")


@pytest.mark.reliability(
    tried=(
        "`²` or Arabic-Indic digits as an identity or camera in "
        "LaST/DeepChange/PRCC/LTCC/VC-Clothes names"
    ),
    happens='`DatasetError` "cannot parse ..." naming the file, not a traceback or a silent pid',
)
@pytest.mark.parametrize(
    ("name", "build", "bad"),
    [
        ("last", _last, "train/1/\u00b2_1_a.jpg"),  # superscript two: isdigit() but not int()
        ("deepchange", _deepchange_with, "P\u00b2_C001_01_0009.jpg"),
        ("deepchange", _deepchange_with, "P00001_C\u00b2_01_0009.jpg"),
        ("prcc", _prcc, "rgb/test/C/\u00b2/c.jpg"),
        ("prcc", _prcc, "rgb/train/\u00b2/A_0.jpg"),
        ("ltcc", _ltcc, "train/\u0661_1_c1_1.png"),  # Arabic-Indic one: \d and int() take it
        ("vcclothes", _vcclothes, "train/0001-\u0661-01-02.jpg"),
    ],
)  # fmt: skip
def test_a_non_ascii_digit_is_not_an_identity(tmp_path: Path, name, build, bad) -> None:
    build(tmp_path, bad)
    with pytest.raises(DatasetError, match="cannot parse") as info:
        load_dataset(name, tmp_path)
    assert Path(bad).name in str(info.value) or Path(bad).parent.name in str(info.value)


@pytest.mark.reliability(
    tried="`²` as pid or camera in a CCVID list",
    happens="`DatasetError` naming `file:line`",
)
@pytest.mark.parametrize("line", ["session3/010_01 \u00b2 u1", "session3/010_\u00b2 10 u1"])
def test_ccvid_a_superscript_id_or_camera_names_the_line(tmp_path: Path, line) -> None:
    root = tmp_path / "CCVID"
    _ccvid(root)
    (root / "query.txt").write_text(f"{line}\n")
    with pytest.raises(DatasetError, match=r"query.txt:1: .*(expected '<tracklet|no camera)"):
        load_dataset("ccvid", tmp_path)


@pytest.mark.reliability(
    tried="a non-UTF-8 byte in a CCVID list or DeepChange `-bbox.txt`",
    happens="`DatasetError` `file:line: byte 0x.. is not UTF-8`",
)
@pytest.mark.parametrize(
    ("name", "build", "listing"),
    [("ccvid", lambda r: _ccvid(r / "CCVID"), "CCVID/query.txt"),
     ("deepchange", lambda r: _deepchange(r / "DeepChange"), "DeepChange/train-set-bbox.txt")],
)  # fmt: skip
def test_a_non_utf8_byte_in_a_list_names_its_line(tmp_path: Path, name, build, listing) -> None:
    build(tmp_path)
    path = tmp_path / listing
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:1]) + b"caf\xe9 1 x\n" + b"".join(lines[1:]))
    with pytest.raises(DatasetError, match=rf"{path.name}:2: byte 0xe9 is not UTF-8"):
        load_dataset(name, tmp_path)
