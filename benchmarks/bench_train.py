"""End-to-end training throughput against the bare model step, and memory across epochs.

(a) forward + backward + Adam step on tensors already in memory; (b) `run_training` on the
synthetic set with the same model, batch (P x K = 8 x 4, doubled by CRE) and precision.
Prints (b)/(a), and the resident memory after each of 3 epochs (it should stay flat).

Run: python benchmarks/bench_train.py [--backbone resnet18 --height 128 --width 64 --steps 12]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from _common import peak_rss_mib, record, timed

from ccreid.config import load_config
from ccreid.data.synthetic import SyntheticConfig, generate
from ccreid.engine import run_training
from ccreid.losses import ReIDObjective
from ccreid.models import build_model


def current_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bare_step(args, num_classes: int) -> float:
    torch.manual_seed(0)
    model = build_model(num_classes, backbone=args.backbone, attention="bsga").to(
        memory_format=torch.channels_last
    )
    model.train()
    n = 64  # 32 originals + 32 erased copies
    x = torch.randn(n, 3, args.height, args.width).contiguous(memory_format=torch.channels_last)
    mask = torch.ones(n, 1, args.height, args.width)
    pids = torch.arange(8).repeat_interleave(4).repeat(2)
    clothes = torch.arange(n) % 3
    objective, opt = ReIDObjective(), torch.optim.Adam(model.parameters(), lr=3e-4)

    def step() -> None:
        out = model(x, mask)
        loss = objective(out.logits, out.features, pids, clothes).total
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    seconds, _ = timed(lambda: [step() for _ in range(args.steps)], repeat=2)
    return n * args.steps / seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--height", type=int, default=128)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = generate(
            Path(tmp) / "data", SyntheticConfig(train_ids=40, test_ids=8, seed=1), workers=2
        )
        cfg = load_config(None, [
            f"data.root={root}", f"data.mask_root={root / 'masks'}", f"data.height={args.height}",
            f"data.width={args.width}", f"data.workers={args.workers}", f"model.backbone={args.backbone}",
            "model.pretrained=false", "train.epochs=3", "train.eval_every=100",
            f"train.max_steps_per_epoch={args.steps}", "train.precision=auto", f"output_dir={tmp}/runs",
        ])  # fmt: skip
        rss: list[float] = []
        result = run_training(cfg, on_epoch=lambda log: rss.append(round(current_rss_mib())))
    bare = bare_step(args, 40)
    e2e = sorted(log.images_per_s for log in result.logs)[1]  # median of the 3 epochs
    record(f"train_{args.backbone}_{args.height}x{args.width}", {
        "bare_step_img_s": round(bare, 1), "end_to_end_img_s": round(e2e, 1),
        "end_to_end_over_bare": round(e2e / bare, 2), "rss_mib_after_epochs_1_2_3": rss,
        "peak_rss_mib": round(peak_rss_mib()), "data_workers": args.workers,
    })  # fmt: skip


if __name__ == "__main__":
    main()
