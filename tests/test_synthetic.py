"""The synthetic generator: deterministic, exact labels, clothes-changing structure."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ccreid.data import load_dataset
from ccreid.synthetic import SyntheticConfig, generate


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.*")):
        if p.suffix in (".jpg", ".png"):
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_for_any_worker_count(tmp_path: Path) -> None:
    cfg = SyntheticConfig(train_ids=3, test_ids=2, images_per_camera=2, seed=5)
    a = digest(generate(tmp_path / "a", cfg))
    assert a == digest(generate(tmp_path / "b", cfg, workers=2))
    assert a != digest(
        generate(
            tmp_path / "c", SyntheticConfig(train_ids=3, test_ids=2, images_per_camera=2, seed=6)
        )
    )


def test_read_back_through_the_vcclothes_loader(tiny_synthetic: Path) -> None:
    data = load_dataset("vcclothes", tiny_synthetic, mask_root=tiny_synthetic / "masks")
    assert data.num_train_pids == 8 and len(data.train) == 8 * 4 * 3
    outfits = defaultdict(dict)
    for s in data.train:
        outfits[s.pid][s.camid] = s.clothes
    for cams in outfits.values():
        assert cams[2] == cams[3] != cams[4]  # VC-Clothes camera rule
        assert len(set(cams.values())) in (2, 3)
    cc = data.eval_sets["cc"]
    assert {s.camid for s in cc.query} <= {3, 4}


def test_labels_are_atr_and_match_the_image(tiny_synthetic: Path) -> None:
    img_path = next((tiny_synthetic / "VC-Clothes" / "train").glob("*.jpg"))
    labels = np.asarray(
        Image.open((tiny_synthetic / "masks/VC-Clothes/train" / img_path.name).with_suffix(".png"))
    )
    image = np.asarray(Image.open(img_path)).astype(float)
    assert labels.shape == image.shape[:2] and labels.max() <= 17
    assert {2, 4, 11} <= set(np.unique(labels).tolist())  # hair, some top, face
    # Clothes pixels are drawn in few colours; the background varies: the parsing is exact.
    top = image[labels == 4]
    assert top.std(axis=0).mean() < image[labels == 0].std(axis=0).mean() + 40
    face_colour = image[labels == 11].mean(axis=0)
    hair_colour = image[labels == 2].mean(axis=0)
    assert np.abs(face_colour - hair_colour).sum() > 30


def test_regenerating_with_another_config_leaves_no_stale_files(tmp_path: Path) -> None:
    generate(tmp_path, SyntheticConfig(train_ids=4, test_ids=2, images_per_camera=2))
    generate(tmp_path, SyntheticConfig(train_ids=2, test_ids=2, images_per_camera=2))
    assert len(list((tmp_path / "VC-Clothes" / "train").glob("*.jpg"))) == 2 * 4 * 2


def test_an_outfit_pool_too_small_for_the_test_ids_is_named(tmp_path) -> None:
    from ccreid.synthetic import SyntheticConfig, generate, outfits_needed

    assert outfits_needed(200) == 300
    assert SyntheticConfig(test_ids=120).outfits == 180  # the default pool grows with them
    assert SyntheticConfig(test_ids=50).outfits == 150
    with pytest.raises(ValueError, match="outfit_pool=150 is too small for 120 test identities"):
        generate(tmp_path, SyntheticConfig(train_ids=10, test_ids=120, outfit_pool=150))
    assert not any((tmp_path / "VC-Clothes").glob("*/*.jpg"))


# --- generator v3: cluttered tracklet scenes (issue 15) ---------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ccreid.synthetic.generator import draw_frame, make_cameras  # noqa: E402
from ccreid.synthetic.people import make_identities, make_outfits  # noqa: E402
from ccreid.synthetic.scenes import (  # noqa: E402
    FRAME_JITTER,
    camera_scene,
    frame_background,
    tracklet_backdrop,
)


def _backdrop(seed: int, ident: int, cam: int, h: int = 64, w: int = 32):
    c = make_cameras(seed)[cam]
    return tracklet_backdrop(seed, ident, cam, h, w, c.scale, c.offset)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 50), ident=st.integers(0, 100), cam=st.sampled_from([1, 2, 3, 4]),
       other=st.integers(0, 100), frame_seed=st.integers(0, 10**6))  # fmt: skip
def test_frames_of_a_tracklet_share_their_crop_and_other_tracklets_do_not(
    seed: int, ident: int, cam: int, other: int, frame_seed: int
) -> None:
    b = _backdrop(seed, ident, cam)
    rng = np.random.default_rng(frame_seed)
    bg1, (y1, x1) = frame_background(seed, cam, b, 64, 32, rng)
    bg2, (y2, x2) = frame_background(seed, cam, b, 64, 32, rng)
    # Two frames of one (identity, camera): the same crop up to the frame jitter.
    assert abs(y1 - b.crop_y) <= FRAME_JITTER and abs(x1 - b.crop_x) <= FRAME_JITTER
    assert abs(y1 - y2) <= 2 * FRAME_JITTER and abs(x1 - x2) <= 2 * FRAME_JITTER
    y, x = max(y1, y2), max(x1, x2)  # the part both frames show is the same scene
    overlap1 = bg1[y - y1 : y - y1 + 40, x - x1 : x - x1 + 20]
    overlap2 = bg2[y - y2 : y - y2 + 40, x - x2 : x - x2 + 20]
    prop = np.zeros(bg1.shape[:2], dtype=bool)
    py0, py1, px0, px1 = b.prop_box
    prop[py0:py1, px0:px1] = True  # the prop is drawn at a fixed place in the frame
    keep = ~(
        prop[y - y1 : y - y1 + 40, x - x1 : x - x1 + 20]
        | prop[y - y2 : y - y2 + 40, x - x2 : x - x2 + 20]
    )
    np.testing.assert_array_equal(overlap1[keep], overlap2[keep])
    # Another identity in the same camera takes another crop; other cameras another scene.
    if other != ident:
        assert _backdrop(seed, other, cam).crop_x != b.crop_x
    other_cam = 1 + cam % 4
    assert not np.array_equal(
        camera_scene(seed, cam, 64, 32), camera_scene(seed, other_cam, 64, 32)
    )


def test_occluded_pixels_are_background_in_the_mask() -> None:
    cfg = SyntheticConfig(height=64, width=32, seed=3)
    ident = make_identities(4, cfg.seed)[0]
    outfit = make_outfits(10, cfg.seed)[0]
    cam = make_cameras(cfg.seed)[2]
    backdrop = tracklet_backdrop(cfg.seed, 0, 2, 64, 32, cam.scale, cam.offset)
    occluded = 0
    for k in range(60):
        rng = np.random.default_rng([cfg.seed, k])
        image, labels = draw_frame(cfg, ident, outfit, cam, backdrop, rng)
        occ_rng = np.random.default_rng([cfg.seed, k])
        # Replay the frame's draws up to the occluder to know where it went.
        from ccreid.synthetic.people import Canvas, draw_person
        from ccreid.synthetic.scenes import occluder

        draw_person(Canvas(64, 32), ident, outfit, backdrop, occ_rng)
        frame_background(cfg.seed, 2, backdrop, 64, 32, occ_rng)
        occ = occluder(64, 32, occ_rng)
        if occ is None:
            continue
        occluded += 1
        (y0, y1, x0, x1), _ = occ
        assert (labels[y0:y1, x0:x1] == 0).all()
        assert labels[:y0].max() > 0  # the rest of the person is still labelled
    assert occluded > 3  # some frames do get an occluder


def test_scene_cache_is_keyed_on_what_the_scene_depends_on() -> None:
    a = camera_scene(1, 2, 64, 32)
    camera_scene.cache_clear()
    for s in range(20):  # churn the cache with other scenes
        camera_scene(s + 100, 2, 64, 32)
    np.testing.assert_array_equal(a, camera_scene(1, 2, 64, 32))
    assert not np.array_equal(a, camera_scene(2, 2, 64, 32))
    assert not a.flags.writeable  # nobody can draw into a cached scene


def test_each_test_outfit_has_exactly_two_wearers_and_the_test_split_has_its_own_size(
    tmp_path: Path,
) -> None:
    cfg = SyntheticConfig(train_ids=2, test_ids=10, images_per_camera=2, queries_per_camera=2,
                          test_images_per_camera=4, seed=0)  # fmt: skip
    root = generate(tmp_path, cfg)
    wearers = defaultdict(set)
    for split in ("query", "gallery"):
        for p in (root / "VC-Clothes" / split).glob("*.jpg"):
            pid, _cam, outfit, _ = p.stem.split("-")
            wearers[outfit].add(pid)
    assert wearers and all(len(w) == 2 for w in wearers.values())
    assert len(list((root / "VC-Clothes" / "train").glob("*.jpg"))) == 2 * 4 * 2
    assert len(list((root / "VC-Clothes" / "query").glob("*.jpg"))) == 10 * 4 * 2
    assert len(list((root / "VC-Clothes" / "gallery").glob("*.jpg"))) == 10 * 4 * 2
    assert cfg.num_images == 2 * 4 * 2 + 10 * 4 * 4


def test_more_identities_than_distinct_scene_crops_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at most 144 identities fit distinct scene crops"):
        generate(tmp_path, SyntheticConfig(train_ids=100, test_ids=50, width=32, outfit_pool=300))


def test_plain_scenes_are_a_control_without_background_cues(tmp_path: Path) -> None:
    """Same people and masks as the cluttered set; backgrounds with no props or occluders."""
    base = SyntheticConfig(train_ids=3, test_ids=2, images_per_camera=2, seed=2)
    cluttered = generate(tmp_path / "c", base)
    plain = generate(tmp_path / "p", SyntheticConfig(**{**base.__dict__, "scenes": "plain"}))
    for mask in sorted((cluttered / "masks" / "VC-Clothes" / "train").glob("*.png")):
        other = plain / "masks" / "VC-Clothes" / "train" / mask.name
        a, b = np.asarray(Image.open(mask)), np.asarray(Image.open(other))
        assert ((a == b) | (a == 0)).all()  # plain has no occluder: it may show more body
    scene = camera_scene(2, 1, 128, 64, plain=True)
    assert np.unique(scene[: int(scene.shape[0] * 0.78)].reshape(-1, 3), axis=0).shape[0] < 200
    with pytest.raises(ValueError, match="scenes must be 'cluttered' or 'plain'"):
        generate(tmp_path / "x", SyntheticConfig(**{**base.__dict__, "scenes": "bogus"}))


def test_shared_backdrop_places_are_shared_within_a_camera_and_drawn_per_tracklet() -> None:
    seed, cam, places = 3, 2, 4
    c = make_cameras(seed)[cam]
    drawn = [tracklet_backdrop(seed, i, cam, 64, 32, c.scale, c.offset, places) for i in range(40)]
    scene_pieces = {(b.crop_x, b.crop_y, b.prop_box, b.prop_colour) for b in drawn}
    # Forty tracklets pass through at most four places of the camera, and use more than one.
    assert 1 < len(scene_pieces) <= places
    # The figure's size and position stay the tracklet's own, as with places = 0.
    own = [tracklet_backdrop(seed, i, cam, 64, 32, c.scale, c.offset) for i in range(40)]
    assert [(b.scale, b.offset) for b in drawn] == [(b.scale, b.offset) for b in own]
    assert len({b.crop_x for b in own}) == 40  # places = 0: a piece of scene each


def test_negative_backdrop_places_are_refused(tmp_path: Path) -> None:
    from ccreid.errors import InputError

    with pytest.raises(InputError, match="invalid synthetic config"):
        generate(tmp_path, SyntheticConfig(train_ids=4, test_ids=4, backdrop_places=-1))


def test_masks_check_of_a_synthetic_folder_counts_images_not_its_masks(
    tiny_synthetic: Path,
) -> None:
    from ccreid.parsing.masks import check_mask_folders

    images = list((tiny_synthetic / "VC-Clothes").rglob("*.jpg"))
    result = check_mask_folders(tiny_synthetic, tiny_synthetic / "masks")
    assert result.images == len(images) > 0 and not result.missing
