"""Image and parsing map stay aligned through augmentation; CRE copies match their originals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ccreid.data import AugmentConfig, InputNormalizer, ReIDImageDataset, Sample
from ccreid.data.transforms import IMAGENET_MEAN, IMAGENET_STD, apply_geometric, geometric_transform
from ccreid.parsing import ATR


def test_flip_and_pad_crop_move_image_and_map_together() -> None:
    torch.manual_seed(0)
    labels = torch.randint(0, 18, (1, 32, 16), dtype=torch.uint8)
    image = (labels * 10).expand(3, -1, -1).clone()  # each pixel's colour encodes its label
    cfg = AugmentConfig(height=32, width=16, flip=0.5, pad=4)
    transform = geometric_transform(cfg, train=True)
    flipped = 0
    for _ in range(20):
        img, lab = apply_geometric(transform, image, labels)
        assert img.shape == (3, 32, 16) and lab.shape == (1, 32, 16)
        assert torch.equal(img[0], lab[0] * 10)  # padding is 0 in both, so it matches too
        flipped += int(not torch.equal(lab, labels))
    assert flipped > 0  # the transforms did move things


def _write_sample(tmp_path: Path) -> Sample:
    labels = np.zeros((32, 16), np.uint8)
    labels[4:8] = ATR.labels.index("hair")
    labels[8:20] = ATR.labels.index("upper-clothes")
    labels[20:30] = ATR.labels.index("pants")
    image = np.full((32, 16, 3), 180, np.uint8)
    Image.fromarray(image).save(tmp_path / "img.png")
    Image.fromarray(labels).save(tmp_path / "mask.png")
    return Sample(str(tmp_path / "img.png"), 0, 0, 0, str(tmp_path / "mask.png"))


def test_dataset_item_erases_clothes_and_gives_body_mask(tmp_path: Path) -> None:
    sample = _write_sample(tmp_path)
    ds = ReIDImageDataset(
        [sample], AugmentConfig(height=32, width=16), train=False, cre=True, masks=True
    )
    item = ds[0]
    assert item.image.dtype == item.erased.dtype == item.mask.dtype == torch.uint8
    assert (item.erased[:, 8:30] == 0).all() and (item.image[:, 8:30] == 180).all()
    assert torch.equal(item.erased[:, 4:8], item.image[:, 4:8])  # hair kept
    zero = (-torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD))[:, None]
    normalised = InputNormalizer()(item.erased[None])[0]
    assert torch.allclose(
        normalised[:, 8:30], zero.expand(3, 22 * 16).reshape(3, 22, 16), atol=1e-5
    )
    assert item.mask[0, :4].sum() == 0 and item.mask[0, 4:30].min() == 1
    assert (item.mask[0] == 1).sum() == 26 * 16


@pytest.mark.reliability(
    tried="grey-scale and RGBA images",
    happens="converted to RGB",
)
def test_grey_and_rgba_images_are_converted(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((20, 10), np.uint8)).save(tmp_path / "grey.png")
    Image.fromarray(np.zeros((20, 10, 4), np.uint8)).save(tmp_path / "rgba.png")
    ds = ReIDImageDataset([Sample(str(tmp_path / n), 0, 0, 0) for n in ("grey.png", "rgba.png")],
                          AugmentConfig(height=32, width=16))  # fmt: skip
    assert ds[0].image.shape == ds[1].image.shape == (3, 32, 16)


def test_cache_serves_decoded_files_after_the_first_read(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 20, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(rng.integers(0, 18, (40, 20), dtype=np.uint8)).save(tmp_path / "m.png")
    sample = Sample(str(tmp_path / "a.png"), 0, 0, 0, str(tmp_path / "m.png"))
    cfg = AugmentConfig(height=40, width=20)
    plain = ReIDImageDataset([sample], cfg, cre=True, masks=True)[0]
    cached = ReIDImageDataset([sample], cfg, cre=True, masks=True, cache=True)
    cached[0]
    (tmp_path / "a.png").unlink()
    (tmp_path / "m.png").unlink()
    again = cached[0]  # the files are gone: only the cache can answer
    for got, want in zip(again[:3], plain[:3], strict=True):
        assert torch.equal(got, want)


def test_batch_normalisation_matches_the_formula_in_both_memory_formats() -> None:
    images = torch.randint(0, 256, (4, 3, 8, 6), dtype=torch.uint8)
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.3, 0.4)
    expected = (images.float() / 255 - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[
        :, None, None
    ]
    normalize = InputNormalizer(mean, std)
    for channels_last in (False, True):
        out = normalize(images, channels_last=channels_last)
        assert out.dtype == torch.float32
        assert out.is_contiguous(memory_format=torch.channels_last) == channels_last
        assert torch.allclose(out, expected, atol=1e-6)
    with pytest.raises(TypeError, match="uint8"):
        normalize(images.float())


def test_random_erasing_fills_with_the_mean_colour_on_uint8(tmp_path: Path) -> None:
    sample = _write_sample(tmp_path)
    cfg = AugmentConfig(height=32, width=16, flip=0, pad=0, random_erasing=1.0)
    torch.manual_seed(0)
    item = ReIDImageDataset([sample], cfg, train=True)[0]
    fill = torch.tensor([round(255 * m) for m in IMAGENET_MEAN], dtype=torch.uint8)
    erased = (item.image != 180).any(0)
    assert erased.any()
    assert (item.image[:, erased] == fill[:, None]).all()
