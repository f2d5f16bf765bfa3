"""Augmentation of whole batches where the model runs (``data.augment_on=device``): the
same tensors as the data workers' own pipeline from the same seeds, for images and clips;
the configured flip, crop and erasing frequencies; the same training step."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_overrides
from PIL import Image
from torch.utils.data import default_collate

from ccreid.config import ConfigError, load_config
from ccreid.data import (
    AugmentConfig,
    InputNormalizer,
    ReIDImageDataset,
    Sample,
    SeededIndex,
    load_dataset,
)
from ccreid.data.augment_params import BatchParams, ParamDraw
from ccreid.data.batch_augment import BatchAugment, DeferredCollate
from ccreid.data.clips import ReIDClipDataset
from ccreid.data.images import DeferredItem, ReIDItem
from ccreid.data.transforms import IMAGENET_MEAN
from ccreid.engine.build import augments_on_device, build_parts
from ccreid.engine.experiment import seed_everything
from ccreid.engine.trainer import Trainer, step_inputs
from ccreid.errors import InputError
from ccreid.runfolder import RunFolder
from ccreid.synthetic import SyntheticConfig, generate

# (flip, pad, random_erasing): the recipe, every coin always on, every coin off.
AUGMENTS = [(0.5, 3, 0.5), (1.0, 0, 1.0), (0.0, 5, 0.0)]
FLAGS = [(True, True), (True, False), (False, True), (False, False)]  # (cre, masks)
Z = 5.0  # binomial bounds at 5 standard deviations: a false alarm below 1e-6 per check


@pytest.fixture(scope="module")
def video_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CCVID-layout synthetic set: 4 train ids, tracklets of 5 frames."""
    syn = SyntheticConfig(train_ids=4, test_ids=2, images_per_camera=5, seed=4, video=True)
    return generate(tmp_path_factory.mktemp("video"), syn)


def _both_ways(worker, device, keys, cfg: AugmentConfig, cre: bool, masks: bool):
    """The same seeded keys through the worker dataset and through deferred items + the
    batched augmentation: two collated `ReIDItem` batches."""
    want = default_collate([worker[k] for k in keys])
    deferred = DeferredCollate(cfg)([device[k] for k in keys])
    assert isinstance(deferred, DeferredItem)
    return want, BatchAugment(cfg, cre, masks)(deferred)


def _assert_same_batch(got: ReIDItem, want: ReIDItem) -> None:
    for name in ReIDItem._fields:
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert torch.equal(a, b), name


def _assert_same_step_inputs(got: ReIDItem, want: ReIDItem, cre: bool) -> None:
    """What the model sees: normalised images (+ CRE copies), float masks, labels."""
    args = (cre, torch.device("cpu"), False, InputNormalizer())
    for a, b in zip(step_inputs(got, *args), step_inputs(want, *args), strict=True):
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b)
        else:
            assert a == b


@pytest.mark.parametrize("flip,pad,erasing", AUGMENTS)
@pytest.mark.parametrize("cre,masks", FLAGS)
def test_device_batches_equal_worker_batches_bit_for_bit(
    tiny_synthetic: Path, flip: float, pad: int, erasing: float, cre: bool, masks: bool
) -> None:
    """Every augmentation step is an integer operation, so no rounding bound is needed:
    images, CRE copies, masks and labels are identical, also once normalised."""
    samples = load_dataset("vcclothes", tiny_synthetic, mask_root=tiny_synthetic / "masks").train
    cfg = AugmentConfig(height=48, width=20, flip=flip, pad=pad, random_erasing=erasing)
    worker, device = (ReIDImageDataset(samples, cfg, train=True, cre=cre, masks=masks,
                                       device_augment=on) for on in (False, True))  # fmt: skip
    keys = [SeededIndex(i % len(samples), 7919 * i + 3) for i in range(48)]
    want, got = _both_ways(worker, device, keys, cfg, cre, masks)
    assert want.image.shape == (48, 3, 48, 20)
    _assert_same_batch(got, want)
    _assert_same_step_inputs(got, want, cre)


@pytest.mark.parametrize("flip,pad,erasing", AUGMENTS)
def test_batches_resized_on_the_device_equal_worker_batches(
    tiny_synthetic: Path, flip: float, pad: int, erasing: float
) -> None:
    """Files (128x64) smaller than the training size travel at their own size; the batch
    is resized in one call where the model runs, with the same pixels per image."""
    samples = load_dataset("vcclothes", tiny_synthetic, mask_root=tiny_synthetic / "masks").train
    cfg = AugmentConfig(height=160, width=72, flip=flip, pad=pad, random_erasing=erasing)
    worker, device = (ReIDImageDataset(samples, cfg, train=True, cre=True, masks=True,
                                       device_augment=on) for on in (False, True))  # fmt: skip
    keys = [SeededIndex(i % len(samples), 7919 * i + 5) for i in range(16)]
    assert device[keys[0]].image.shape == (3, 128, 64)  # not resized by the worker
    want, got = _both_ways(worker, device, keys, cfg, True, True)
    assert want.image.shape == (16, 3, 160, 72)
    _assert_same_batch(got, want)
    _assert_same_step_inputs(got, want, True)


def _picture(path: Path, h: int, w: int, seed: int) -> Sample:
    """A random image and parsing map of h x w, as a one-identity sample."""
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path / f"{seed}.png")
    Image.fromarray(rng.integers(0, 18, (h, w), dtype=np.uint8)).save(path / f"{seed}-m.png")
    return Sample(str(path / f"{seed}.png"), seed % 2, 0, 0, str(path / f"{seed}-m.png"))


def test_a_batch_of_mixed_sizes_is_resized_by_the_worker(tmp_path: Path) -> None:
    """Images smaller than the training size but of different sizes cannot form one
    tensor: the collation resizes each, and the batch still equals the workers' own."""
    samples = [_picture(tmp_path, h, w, i) for i, (h, w) in enumerate([(40, 20), (30, 14)] * 3)]
    cfg = AugmentConfig(height=48, width=24, pad=2)
    worker, device = (ReIDImageDataset(samples, cfg, train=True, cre=True, masks=True,
                                       device_augment=on) for on in (False, True))  # fmt: skip
    keys = [SeededIndex(i, 31 * i) for i in range(len(samples))]
    want, got = _both_ways(worker, device, keys, cfg, True, True)
    assert want.image.shape == (6, 3, 48, 24)
    _assert_same_batch(got, want)


@pytest.mark.parametrize("flip,pad,erasing,size", [(*AUGMENTS[0], (32, 16)),
                                                  (*AUGMENTS[1], (32, 16)),
                                                  (*AUGMENTS[0], (144, 72))])  # fmt: skip
def test_device_clip_batches_equal_worker_clip_batches(
    video_root: Path, flip: float, pad: int, erasing: float, size: tuple[int, int]
) -> None:
    """Clips: one row of parameters per clip, applied to each of its frames, as the
    workers give every frame of a clip the same draw; frames smaller than the training
    size (the last case) are resized on the device."""
    tracklets = load_dataset("ccvid", video_root, mask_root=video_root / "masks").train
    cfg = AugmentConfig(height=size[0], width=size[1], flip=flip, pad=pad, random_erasing=erasing)
    worker, device = (ReIDClipDataset(tracklets, 3, 1, cfg, cre=True, masks=True,
                                      device_augment=on) for on in (False, True))  # fmt: skip
    keys = [SeededIndex(i % len(tracklets), 104729 * i + 1) for i in range(12)]
    want, got = _both_ways(worker, device, keys, cfg, True, True)
    assert want.image.shape == (12, 3, 3, *size)
    _assert_same_batch(got, want)
    _assert_same_step_inputs(got, want, True)


@pytest.mark.parametrize("size,kept", [((24, 12), (24, 12)), ((80, 40), (40, 20))])
def test_the_device_cache_keeps_the_smaller_of_file_and_training_size(
    tmp_path: Path, size: tuple[int, int], kept: tuple[int, int]
) -> None:
    """A 40x20 file is kept at a smaller training size (24x12), and at its own size under
    a larger one (80x40)."""
    samples = [_picture(tmp_path, 40, 20, 0)]
    cfg = AugmentConfig(height=size[0], width=size[1], pad=2)
    plain = ReIDImageDataset(samples, cfg, train=True, cre=True, device_augment=True)
    cached = ReIDImageDataset(samples, cfg, train=True, cre=True, device_augment=True, cache=True)
    want = plain[SeededIndex(0, 5)]
    cached[SeededIndex(0, 1)]
    image, parts = cached.cache[0]
    assert image.shape == (3, *kept) and parts.shape == (1, *kept)
    for file in tmp_path.iterdir():
        file.unlink()
    got = cached[SeededIndex(0, 5)]  # the files are gone: only the cache can answer
    for a, b in zip(got, want, strict=True):
        assert torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b


def test_device_augment_is_for_training_items(tiny_synthetic: Path) -> None:
    samples = load_dataset("vcclothes", tiny_synthetic, mask_root=tiny_synthetic / "masks").train
    with pytest.raises(InputError, match="train=True"):
        ReIDImageDataset(samples, AugmentConfig(), train=False, device_augment=True)


def _pattern(n: int, h: int, w: int) -> torch.Tensor:
    """uint8 images whose channel 0 is column + 1, channel 1 row + 1, channel 2 200: any
    output pixel tells where it came from (0 = padding; erasing writes the mean colour)."""
    cols = torch.arange(1, w + 1, dtype=torch.uint8).expand(h, w)
    rows = torch.arange(1, h + 1, dtype=torch.uint8)[:, None].expand(h, w)
    plain = torch.full((h, w), 200, dtype=torch.uint8)
    return torch.stack([cols, rows, plain]).expand(n, 3, h, w)


def _read_geometry(out: torch.Tensor, pad: int) -> tuple[list[bool], list[int], list[int]]:
    """Flip, crop top and crop left of each image, read back from its pattern pixels."""
    n, _, h, w = out.shape
    flips, tops, lefts = [], [], []
    r, c = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    for k in range(n):
        kept = out[k, 2] == 200  # neither padding nor erased
        src_row = out[k, 1][kept].long() - 1
        src_col = out[k, 0][kept].long() - 1
        top = (src_row - r[kept] + pad).unique()
        plain = (src_col - c[kept] + pad).unique()  # left, if not flipped
        mirrored = (w - 1 - c[kept] + pad - src_col).unique()  # left, if flipped
        assert len(top) == 1 and (len(plain) == 1) != (len(mirrored) == 1)
        flips.append(len(mirrored) == 1)
        tops.append(int(top))
        lefts.append(int(mirrored if flips[-1] else plain))
    return flips, tops, lefts


def _no_box_fits(h: int, w: int, tries: int = 10) -> float:
    """P(random erasing fires but none of its ``tries`` boxes fits), from the definition:
    area share s ~ U(0.02, 0.33), log aspect ~ U(log 0.3, log 3.3), box sides rounded;
    one try's failure is integrated on a 2000 x 2000 midpoint grid."""
    g = (np.arange(2000) + 0.5) / 2000
    s = 0.02 + 0.31 * g[:, None]
    ratio = np.exp(np.log(0.3) + (np.log(3.3) - np.log(0.3)) * g[None, :])
    bh = np.round(np.sqrt(h * w * s * ratio))
    bw = np.round(np.sqrt(h * w * s / ratio))
    fail = np.mean((bh >= h) | (bw >= w))
    return float(fail**tries)


def _within(count: int, n: int, p: float) -> bool:
    return abs(count - n * p) <= Z * math.sqrt(n * p * (1 - p)) + 1e-9


def test_applied_flip_crop_and_erasing_frequencies_match_the_configured_probabilities() -> None:
    """Over 3000 seeded samples, the batched path flips, crops and erases as often as
    configured: flips ~ Bin(n, 0.3); each crop offset in 0..2*pad ~ Bin(n, 1/(2*pad+1));
    erasing of the image and, independently, of the CRE copy ~ Bin(n, p*(1 - q)) with q the
    chance that no box fits; both ~ Bin(n, (p*(1-q))^2)."""
    n, h, w, pad, flip_p, erase_p = 3000, 64, 32, 2, 0.3, 0.4
    cfg = AugmentConfig(height=h, width=w, flip=flip_p, pad=pad, random_erasing=erase_p)
    draw = ParamDraw(cfg, cre=True)
    rows = []
    for seed in range(n):
        torch.manual_seed(seed)
        rows.append(draw())
    parts = torch.zeros(n, 1, h, w, dtype=torch.uint8)  # background: the copy is the image
    image, copy, _ = BatchAugment(cfg, cre=True).apply(
        _pattern(n, h, w), parts, BatchParams.decode(torch.stack(rows))
    )
    fill = round(255 * IMAGENET_MEAN[2])
    erased_image = (image[:, 2] == fill).flatten(1).any(1)
    erased_copy = (copy[:, 2] == fill).flatten(1).any(1)
    flips, tops, lefts = _read_geometry(image, pad)
    assert _within(sum(flips), n, flip_p)
    for offsets in (tops, lefts):
        assert set(offsets) <= set(range(2 * pad + 1))
        for k in range(2 * pad + 1):
            assert _within(offsets.count(k), n, 1 / (2 * pad + 1)), (k, offsets.count(k))
    p_box = erase_p * (1 - _no_box_fits(h, w))
    assert _within(int(erased_image.sum()), n, p_box)
    assert _within(int(erased_copy.sum()), n, p_box)
    assert _within(int((erased_image & erased_copy).sum()), n, p_box**2)


def test_auto_is_device_on_cuda_and_worker_on_the_cpu() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert not augments_on_device("auto", cpu) and augments_on_device("auto", cuda)
    assert augments_on_device("device", cpu) and not augments_on_device("worker", cuda)
    with pytest.raises(ConfigError, match="data.augment_on"):
        augments_on_device("gpu", cpu)
    with pytest.raises(ConfigError, match="data.augment_on"):
        load_config(None, ["data.augment_on=gpu"])


def _first_step(cfg, tmp_path: Path):
    """Build the run's parts as `run_training` does and train one step: the batch, the
    step's losses and the weights after it."""
    seed_everything(cfg.train.seed, cfg.train.deterministic)
    parts = build_parts(cfg, load_dataset(cfg.data.name, cfg.data.root, cfg.data.mask_root))
    parts.sampler.set_epoch(0)
    torch.manual_seed(cfg.train.seed * 1_000_003)
    batch = next(iter(parts.loader))
    result = Trainer(parts, RunFolder(tmp_path / "run"), meta={}).train_step(batch)
    return batch, result, parts.model.state_dict()


@pytest.mark.parametrize("video", [False, True])
def test_one_training_step_is_the_same_with_either_setting(
    tiny_synthetic: Path, video_root: Path, tmp_path: Path, video: bool
) -> None:
    """A step through data workers (one worker process) with ``data.augment_on=device``
    (for images also with ``data.decode_on=device``) gives exactly the losses and weights of
    ``worker``; on the CPU ``auto`` is ``worker``."""
    extra = {"data.workers": 1, "data.pad": 3}
    if video:
        extra.update({"data.root": video_root, "data.mask_root": video_root / "masks",
                      "data.name": "ccvid", "data.seq_len": 2, "data.stride": 1})  # fmt: skip
    modes = {m: {"data.augment_on": m} for m in ("auto", "worker", "device")}
    if not video:  # the synthetic files are JPEGs: decoded with their batch
        modes["decode"] = {"data.augment_on": "device", "data.decode_on": "device"}
    runs = {}
    for mode, settings in modes.items():
        overrides = tiny_overrides(tiny_synthetic, tmp_path, **extra, **settings)
        runs[mode] = _first_step(load_config(None, overrides), tmp_path / mode)
    assert isinstance(runs["device"][0], DeferredItem)
    assert isinstance(runs["worker"][0], ReIDItem) and isinstance(runs["auto"][0], ReIDItem)
    if not video:
        assert isinstance(runs["decode"][0].image, list)  # bytes travelled, not pixels
    want_batch, want, want_weights = runs["worker"]
    for mode in [m for m in modes if m != "worker"]:
        _, got, weights = runs[mode]
        assert got.terms() == want.terms() and got.images == want.images
        assert all(torch.equal(weights[k], want_weights[k]) for k in want_weights)
    assert want.images == 2 * want_batch.image.shape[0] * (2 if video else 1)
