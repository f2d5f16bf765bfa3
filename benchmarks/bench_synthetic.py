"""Synthetic generator images/s (images and masks written), one process and two.

Run: python benchmarks/bench_synthetic.py [--ids 30 --repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from _common import record, timed

from ccreid.synthetic import SyntheticConfig, generate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ids", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cfg = SyntheticConfig(train_ids=args.ids, test_ids=args.ids // 2)
    images = (cfg.train_ids + cfg.test_ids) * cfg.images_per_camera * 4
    out: dict[str, float | str] = {"images": images, "size": f"{cfg.height}x{cfg.width}"}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:

            def run(folder: Path = Path(tmp) / "set", w: int = workers) -> None:
                shutil.rmtree(folder, ignore_errors=True)
                generate(folder, cfg, workers=w)

            seconds, _ = timed(run, repeat=args.repeat)
        out[f"workers{workers}_img_s"] = round(images / seconds, 1)
    record("synthetic", out)


if __name__ == "__main__":
    main()
