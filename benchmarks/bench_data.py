"""Samples/s of dataset + paired transforms + CRE alone (no model), per worker count.

Also: JPEG decoding by `torchvision.io.decode_image` against PIL, where the time of one
training sample goes (decode, mask, geometric transforms, CRE, normalisation), the
in-memory cache (`data.cache=true`) against reading files, with 2 workers, and the CPU time
a data worker spends per sample with ``data.augment_on=worker`` against ``device`` (where
the worker only decodes, shrinks large images and draws the parameters), and with
``data.decode_on=device`` too (the worker reads JPEG bytes), beside the batched work that
``device`` moves to the model's device, timed here on the CPU.

Run: python benchmarks/bench_data.py [--samples 640]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from _common import record, timed
from PIL import Image
from torch.utils.data import DataLoader

from ccreid.data import (
    AugmentConfig,
    InputNormalizer,
    ReIDImageDataset,
    Sample,
    SeededIndex,
    load_dataset,
)
from ccreid.data.batch_augment import BatchAugment, DeferredCollate
from ccreid.data.images import read_image, read_parts
from ccreid.data.transforms import apply_geometric
from ccreid.parsing import body_mask, erase_clothes, get_schema
from ccreid.synthetic import SyntheticConfig, generate


def per_sample_ms(samples: list[Sample], fn: Callable[[Sample], object]) -> float:
    fn(samples[0])
    start = time.perf_counter()
    for s in samples:
        fn(s)
    return (time.perf_counter() - start) / len(samples) * 1e3


def pil_decode(s: Sample) -> torch.Tensor:
    with Image.open(s.path) as im:
        return torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)


def stage_shares(samples: list[Sample], h: int, w: int) -> dict[str, float]:
    """Share of one training sample's time per stage (one process, one thread);
    normalisation runs on whole batches where the model runs, counted per image."""
    ds = ReIDImageDataset(
        samples, AugmentConfig(height=h, width=w), train=True, cre=True, masks=True
    )
    schema = get_schema("atr")

    def geometric(s: Sample):
        image = read_image(s.path)
        return apply_geometric(
            ds.geometric, image, read_parts(s.mask, schema, tuple(image.shape[-2:]))
        )

    native = tuple(read_image(samples[0].path).shape[-2:])  # files share one size here
    image, parts = geometric(samples[0])
    ms = {
        "decode": per_sample_ms(samples, lambda s: read_image(s.path)),
        "mask": per_sample_ms(samples, lambda s: read_parts(s.mask, schema, native)),
        "geometric": per_sample_ms(samples, lambda s: apply_geometric(ds.geometric, image, parts)),
        "cre": per_sample_ms(samples, lambda s: erase_clothes(image, parts[0])),
        "random_erasing": per_sample_ms(samples, lambda s: (ds.pixels(image), ds.pixels(image))),
        "body_mask": per_sample_ms(samples, lambda s: body_mask(parts).float()),
    }
    batch, normalize = torch.stack([image] * 32), InputNormalizer()
    seconds, _ = timed(lambda: [normalize(batch) for _ in range(20)])
    ms["normalise"] = seconds / (20 * 32) * 1e3  # per image, done on whole batches
    total = sum(ms.values())
    return {f"share_{k}": round(v / total, 3) for k, v in ms.items()}


def worker_cpu_ms(ds: ReIDImageDataset, count: int) -> float:
    """CPU time per seeded item in this one-thread process: what a data worker spends on a
    sample (collation aside)."""
    keys = [SeededIndex(i % len(ds), 1_000 + i) for i in range(count)]
    ds[keys[0]]
    start = time.process_time()
    for k in keys:
        ds[k]
    return (time.process_time() - start) / count * 1e3


def augment_on_figures(samples: list[Sample], h: int, w: int) -> dict[str, float]:
    """Per-sample worker CPU time for both ``data.augment_on`` settings (CRE + body mask),
    and the batched augmentation ``device`` runs instead, per sample of a batch of 32."""
    aug = AugmentConfig(height=h, width=w)
    worker, device, decode = (
        ReIDImageDataset(samples, aug, train=True, cre=True, masks=True, device_augment=on,
                         device_decode=bytes_only)
        for on, bytes_only in ((False, False), (True, False), (True, True))
    )  # fmt: skip
    ms_worker = worker_cpu_ms(worker, len(samples))
    ms_device = worker_cpu_ms(device, len(samples))
    ms_decode = worker_cpu_ms(decode, len(samples))
    p = f"{h}x{w}_"
    out = {
        p + "worker_cpu_ms_per_sample_augment_on_worker": round(ms_worker, 3),
        p + "worker_cpu_ms_per_sample_augment_on_device": round(ms_device, 3),
        p + "worker_cpu_device_over_worker": round(ms_device / ms_worker, 2),
        p + "worker_cpu_ms_per_sample_decode_on_device": round(ms_decode, 3),
        p + "worker_cpu_decode_on_device_over_worker": round(ms_decode / ms_worker, 2),
    }
    for name, ds in (("batch_augment", device), ("batch_decode_and_augment", decode)):
        batch = DeferredCollate(aug)([ds[SeededIndex(i, i)] for i in range(32)])
        augment = BatchAugment(aug, cre=True, masks=True)
        seconds, _ = timed(lambda a=augment, b=batch: [a(b) for _ in range(10)], repeat=3)
        out[p + f"{name}_ms_per_sample_on_this_cpu"] = round(seconds / (10 * 32) * 1e3, 3)
    rate = loader_rate(device, 2, collate=DeferredCollate(aug))
    out[p + "workers2_device_augment_samples_s"] = round(rate, 1)
    return out


def loader_rate(
    ds: ReIDImageDataset, workers: int, epochs: int = 1, collate: Callable | None = None
) -> float:
    """Samples/s of the last of ``epochs`` passes (persistent workers keep their cache)."""
    loader = DataLoader(ds, batch_size=32, num_workers=workers, persistent_workers=workers > 0,
                        collate_fn=collate)  # fmt: skip
    seconds = 0.0
    for _ in range(epochs):
        seconds, _ = timed(lambda: sum(len(b.pid) for b in loader))
    return len(ds) / seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=640)
    args = ap.parse_args()
    torch.set_num_threads(1)  # what a data worker gets
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = generate(Path(tmp), SyntheticConfig(train_ids=40, test_ids=4, seed=2), workers=2)
        data = load_dataset("vcclothes", root, mask_root=root / "masks")
        samples = data.train[: args.samples]
        out["decode_torchvision_ms"] = round(
            per_sample_ms(samples, lambda s: read_image(s.path)), 3
        )
        out["decode_pil_ms"] = round(per_sample_ms(samples, pil_decode), 3)
        out["decode_pil_over_torchvision"] = round(
            out["decode_pil_ms"] / out["decode_torchvision_ms"], 2
        )
        out.update(stage_shares(samples[:200], 256, 128))
        for h, w in ((128, 64), (256, 128)):
            aug = AugmentConfig(height=h, width=w)
            ds = ReIDImageDataset(samples, aug, train=True, cre=True, masks=True)
            for workers in (0, 1, 2):
                out[f"{h}x{w}_workers{workers}_samples_s"] = round(loader_rate(ds, workers), 1)
            cached = ReIDImageDataset(samples, aug, train=True, cre=True, masks=True, cache=True)
            out[f"{h}x{w}_workers2_cached_samples_s"] = round(loader_rate(cached, 2, epochs=2), 1)
            out.update(augment_on_figures(samples, h, w))
    record("data", out)


if __name__ == "__main__":
    main()
