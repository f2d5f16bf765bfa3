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
from ccreid.data.batch_augment import BatchAugment
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
    deferred = default_collate([device[k] for k in keys])
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


@pytest.mark.parametrize("flip,pad,erasing", AUGMENTS[:2])
def test_device_clip_batches_equal_worker_clip_batches(
    video_root: Path, flip: float, pad: int, erasing: float
) -> None:
    """Clips: one row of parameters per clip, applied to each of its frames, as the
    workers give every frame of a clip the same draw."""
    tracklets = load_dataset("ccvid", video_root, mask_root=video_root / "masks").train
    cfg = AugmentConfig(height=32, width=16, flip=flip, pad=pad, random_erasing=erasing)
    worker, device = (ReIDClipDataset(tracklets, 3, 1, cfg, cre=True, masks=True,
                                      device_augment=on) for on in (False, True))  # fmt: skip
    keys = [SeededIndex(i % len(tracklets), 104729 * i + 1) for i in range(12)]
    want, got = _both_ways(worker, device, keys, cfg, True, True)
    assert want.image.shape == (12, 3, 3, 32, 16)
    _assert_same_batch(got, want)
    _assert_same_step_inputs(got, want, True)


def test_the_device_cache_keeps_items_at_the_training_size(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 20, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(rng.integers(0, 18, (40, 20), dtype=np.uint8)).save(tmp_path / "m.png")
    samples = [Sample(str(tmp_path / "a.png"), 0, 0, 0, str(tmp_path / "m.png"))]
    cfg = AugmentConfig(height=24, width=12, pad=2)
    plain = ReIDImageDataset(samples, cfg, train=True, cre=True, device_augment=True)
    cached = ReIDImageDataset(samples, cfg, train=True, cre=True, device_augment=True, cache=True)
    want = plain[SeededIndex(0, 5)]
    cached[SeededIndex(0, 1)]
    image, parts = cached.cache[0]
    assert image.shape == (3, 24, 12) and parts.shape == (1, 24, 12)
    (tmp_path / "a.png").unlink()
    (tmp_path / "m.png").unlink()
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
    gives exactly the losses and weights of ``worker``; on the CPU ``auto`` is ``worker``."""
    extra = {"data.workers": 1, "data.pad": 3}
    if video:
        extra.update({"data.root": video_root, "data.mask_root": video_root / "masks",
                      "data.name": "ccvid", "data.seq_len": 2, "data.stride": 1})  # fmt: skip
    runs = {}
    for mode in ("auto", "worker", "device"):
        overrides = tiny_overrides(tiny_synthetic, tmp_path, **extra, **{"data.augment_on": mode})
        runs[mode] = _first_step(load_config(None, overrides), tmp_path / mode)
    assert isinstance(runs["device"][0], DeferredItem)
    assert isinstance(runs["worker"][0], ReIDItem) and isinstance(runs["auto"][0], ReIDItem)
    want_batch, want, want_weights = runs["worker"]
    for mode in ("auto", "device"):
        _, got, weights = runs[mode]
        assert got.terms() == want.terms() and got.images == want.images
        assert all(torch.equal(weights[k], want_weights[k]) for k in want_weights)
    assert want.images == 2 * want_batch.image.shape[0] * (2 if video else 1)
