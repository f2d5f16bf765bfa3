"""Samples/s of dataset + paired transforms + CRE alone (no model), per worker count.

Run: python benchmarks/bench_data.py [--samples 640]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import record, timed
from torch.utils.data import DataLoader

from ccreid.data import AugmentConfig, ReIDImageDataset, load_dataset
from ccreid.data.synthetic import SyntheticConfig, generate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=640)
    args = ap.parse_args()
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = generate(Path(tmp), SyntheticConfig(train_ids=40, test_ids=4, seed=2), workers=2)
        data = load_dataset("vcclothes", root, mask_root=root / "masks")
        samples = data.train[: args.samples]
        for h, w in ((128, 64), (256, 128)):
            ds = ReIDImageDataset(
                samples, AugmentConfig(height=h, width=w), train=True, cre=True, masks=True
            )
            for workers in (0, 1, 2):
                loader = DataLoader(ds, batch_size=32, num_workers=workers)
                seconds, _ = timed(lambda loader=loader: sum(len(b.pid) for b in loader))
                out[f"{h}x{w}_workers{workers}_samples_s"] = round(len(samples) / seconds, 1)
    record("data", out)


if __name__ == "__main__":
    main()
