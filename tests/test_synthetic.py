"""The synthetic generator: deterministic, exact labels, clothes-changing structure."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ccreid.data import load_dataset
from ccreid.data.synthetic import SyntheticConfig, generate


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


def test_test_outfits_are_shared_between_people(tmp_path: Path) -> None:
    root = generate(
        tmp_path, SyntheticConfig(train_ids=2, test_ids=10, images_per_camera=2, seed=0)
    )
    wearers = defaultdict(set)
    for p in (root / "VC-Clothes" / "gallery").glob("*.jpg"):
        pid, _cam, outfit, _ = p.stem.split("-")
        wearers[outfit].add(pid)
    assert max(len(w) for w in wearers.values()) >= 2


def test_regenerating_with_another_config_leaves_no_stale_files(tmp_path: Path) -> None:
    generate(tmp_path, SyntheticConfig(train_ids=4, test_ids=2, images_per_camera=2))
    generate(tmp_path, SyntheticConfig(train_ids=2, test_ids=2, images_per_camera=2))
    assert len(list((tmp_path / "VC-Clothes" / "train").glob("*.jpg"))) == 2 * 4 * 2


def test_an_outfit_pool_too_small_for_the_test_ids_is_named(tmp_path) -> None:
    from ccreid.data.synthetic import SyntheticConfig, generate, min_outfit_pool

    assert min_outfit_pool(200) == 300
    with pytest.raises(ValueError, match="outfit_pool=150 is too small for 200 test identities"):
        generate(tmp_path, SyntheticConfig(test_ids=200))
    assert not any((tmp_path / "VC-Clothes").glob("*/*.jpg"))
