"""JPEG files decoded with their batch where the model runs (``data.decode_on=device``):
on the CPU the same pixels as the workers' own decoding, for every mix of JPEG and PNG
files and of sizes; the cache keeps the bytes; a bad file is named; the setting resolves
as documented."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import default_collate

from ccreid.config import ConfigError
from ccreid.data import AugmentConfig, ReIDImageDataset, Sample, SeededIndex, encoded
from ccreid.data.batch_augment import BatchAugment, DeferredCollate
from ccreid.data.encoded import ImageReadError, JpegDecoder, read_file_bytes
from ccreid.engine.build import decodes_on_device
from ccreid.errors import InputError

# (height, width, format) of each file: JPEGs of three sizes (smaller and larger than the
# training size), a PNG among them, and a grey JPEG.
FILES = [(40, 20, "JPEG"), (96, 44, "JPEG"), (40, 20, "PNG"), (30, 14, "JPEG"), (40, 20, "L")]


def _files(root: Path, specs: list[tuple[int, int, str]]) -> list[Sample]:
    rng = np.random.default_rng(0)
    samples = []
    for i, (h, w, kind) in enumerate(specs):
        pixels = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        image = Image.fromarray(pixels).convert("L") if kind == "L" else Image.fromarray(pixels)
        name = root / f"{i}.{'png' if kind == 'PNG' else 'jpg'}"
        image.save(name, format="PNG" if kind == "PNG" else "JPEG", quality=90)
        Image.fromarray(rng.integers(0, 18, (h, w), dtype=np.uint8)).save(root / f"{i}-m.png")
        samples.append(Sample(str(name), i % 2, 0, i % 3, str(root / f"{i}-m.png")))
    return samples


def _batches(samples: list[Sample], cfg: AugmentConfig, **kwargs: bool):
    worker = ReIDImageDataset(samples, cfg, train=True, cre=True, masks=True)
    device = ReIDImageDataset(samples, cfg, train=True, cre=True, masks=True,
                              device_augment=True, device_decode=True, **kwargs)  # fmt: skip
    keys = [SeededIndex(i % len(samples), 101 * i + 7) for i in range(2 * len(samples))]
    want = default_collate([worker[k] for k in keys])
    listed = DeferredCollate(cfg)([device[k] for k in keys])
    paths = [s.path for s in samples]
    return want, listed, BatchAugment(cfg, cre=True, masks=True, paths=paths)(listed), device


@pytest.mark.parametrize("size", [(48, 24), (24, 12)])
def test_batch_decoded_on_the_cpu_equals_the_workers_batch(tmp_path: Path, size) -> None:
    """JPEG bytes travel (PNG files decoded by the worker), and the augmented batch is
    the workers' own, bit for bit, whether the files are smaller or larger than the
    training size."""
    cfg = AugmentConfig(height=size[0], width=size[1], pad=2)
    want, listed, got, _ = _batches(_files(tmp_path, FILES), cfg)
    assert isinstance(listed.image, list)
    assert [im.ndim for im in listed.image[: len(FILES)]] == [1, 1, 3, 1, 1]
    for name in want._fields:
        a, b = getattr(got, name), getattr(want, name)
        assert a.shape == b.shape and torch.equal(a, b), name


def test_the_cache_keeps_the_bytes(tmp_path: Path) -> None:
    """What is cheapest to keep: the file's bytes; later epochs need no file."""
    samples = _files(tmp_path, FILES[:2])
    cfg = AugmentConfig(height=48, width=24, pad=2)
    want, listed, _, device = _batches(samples, cfg, cache=True)
    for i, s in enumerate(samples):
        kept = device.cache[i][0]
        assert kept.numpy().tobytes() == Path(s.path).read_bytes()
        # the batch holds copies: a cached tensor sent to the main process would move to
        # shared memory in place and keep its segment open for as long as the cache lives
        assert all(im.untyped_storage().data_ptr() != kept.untyped_storage().data_ptr()
                   for im in listed.image)  # fmt: skip
    for file in tmp_path.iterdir():
        file.unlink()  # images and masks: only the cache can answer from here on
    keys = [SeededIndex(i % len(samples), 101 * i + 7) for i in range(2 * len(samples))]
    again = BatchAugment(cfg, cre=True, masks=True)(DeferredCollate(cfg)([device[k] for k in keys]))
    assert torch.equal(again.image, want.image) and torch.equal(again.erased, want.erased)


def test_a_corrupt_jpeg_is_named(tmp_path: Path) -> None:
    samples = _files(tmp_path, FILES[:2])
    data = Path(samples[1].path).read_bytes()
    Path(samples[1].path).write_bytes(data[:200] + bytes(64))  # header kept, data cut
    cfg = AugmentConfig(height=48, width=24, pad=2)
    device = ReIDImageDataset(samples, cfg, train=True, device_augment=True, device_decode=True)
    batch = DeferredCollate(cfg)([device[SeededIndex(i, i)] for i in range(2)])
    augment = BatchAugment(cfg, paths=[s.path for s in samples])
    with pytest.raises(ImageReadError, match=r"cannot decode image .*1\.jpg: .*truncated"):
        augment(batch)


def test_decode_on_resolves_as_documented() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert decodes_on_device("auto", True, cuda, video=False)
    assert not decodes_on_device("auto", True, cpu, video=False)  # the CPU decodes in workers
    assert not decodes_on_device("auto", True, cuda, video=True)  # clips: in the workers
    assert not decodes_on_device("auto", False, cuda, video=False)
    assert decodes_on_device("device", True, cpu, video=False)
    assert not decodes_on_device("worker", True, cuda, video=False)
    with pytest.raises(ConfigError, match="needs augmentation on the device"):
        decodes_on_device("device", False, cpu, video=False)
    with pytest.raises(ConfigError, match="data.decode_on is 'gpu'"):
        decodes_on_device("gpu", True, cuda, video=False)
    with pytest.raises(ConfigError, match="image datasets"):
        decodes_on_device("device", True, cuda, video=True)
    with pytest.raises(InputError, match="device_augment"):
        ReIDImageDataset([], AugmentConfig(), train=True, device_decode=True)


def test_without_parts_the_listed_batch_equals_the_workers_batch(tmp_path: Path) -> None:
    """No CRE and no mask: the maps are empty and stay so on the decoding path."""
    samples = _files(tmp_path, FILES)
    cfg = AugmentConfig(height=48, width=24, pad=2)
    worker = ReIDImageDataset(samples, cfg, train=True)
    device = ReIDImageDataset(samples, cfg, train=True, device_augment=True, device_decode=True)
    keys = [SeededIndex(i, 13 * i + 1) for i in range(len(samples))]
    want = default_collate([worker[k] for k in keys])
    got = BatchAugment(cfg)(DeferredCollate(cfg)([device[k] for k in keys]))
    assert torch.equal(got.image, want.image)
    assert got.erased.numel() == got.mask.numel() == 0


def test_a_device_without_a_decoder_falls_back_to_the_cpu_once_warned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A device whose decoder fails on every file: the CPU decodes them, one warning, and
    the device is not asked again."""
    real, asked = encoded._jpeg, []

    def only_cpu(data, device):
        asked.append(device.type)
        if device.type != "cpu":
            raise RuntimeError("no decoder")
        return real(data, device)

    monkeypatch.setattr(encoded, "_jpeg", only_cpu)
    files = [read_file_bytes(s.path) for s in _files(tmp_path, FILES[:2])]
    decoder, meta = JpegDecoder(["a.jpg", "b.jpg"]), torch.device("meta")
    with caplog.at_level("WARNING"):
        first = decoder(files, torch.tensor([0, 1]), meta)
    assert [im.shape for im in first] == [(3, 40, 20), (3, 96, 44)]
    assert all(im.device.type == "meta" for im in first)
    assert not decoder.device_can_decode and "cannot decode JPEG" in caplog.text
    asked.clear()
    decoder(files, torch.tensor([0, 1]), meta)
    assert asked == ["cpu"]  # one batched call on the CPU, the device not tried again
