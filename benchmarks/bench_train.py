"""End-to-end training throughput against the bare model step, and memory across epochs.

(a) forward + backward + Adam step on tensors already in memory, with the trainer's
memory release after each step (and, for comparison, without it); (b) `run_training` on
the synthetic set with the same model, batch (P x K = 8 x 4, doubled by CRE) and
precision. Prints (b)/(a), and the resident memory after each of 3 epochs (flat).

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
from ccreid.engine.memory import release_freed_memory, resident_mib
from ccreid.engine.precision import autocast, resolve_dtype
from ccreid.losses import ReIDObjective
from ccreid.models import build_model


def bare_step(args, num_classes: int, release: bool) -> tuple[float, list[int]]:
    """Images/s of the bare step, and the resident MiB after each timed step."""
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

    dtype = resolve_dtype("auto", torch.device("cpu"))  # what train.precision=auto picks

    def step() -> None:
        with autocast(torch.device("cpu"), dtype):
            out = model(x, mask)
        loss = objective(out.logits, out.features, pids, clothes).total
        opt.zero_grad()
        loss.backward()
        opt.step()
        if release:
            release_freed_memory()
        rss.append(round(resident_mib()))

    rss: list[int] = []
    step()
    seconds, _ = timed(lambda: [step() for _ in range(args.steps)], repeat=2)
    return n * args.steps / seconds, rss[1:]


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
        result = run_training(cfg, on_epoch=lambda log: rss.append(round(resident_mib())))
    peak_training = peak_rss_mib()
    bare, bare_rss = bare_step(args, 40, release=True)
    kept, kept_rss = bare_step(args, 40, release=False)
    e2e = sorted(log.images_per_s for log in result.logs)[1]  # median of the 3 epochs
    record(f"train_{args.backbone}_{args.height}x{args.width}", {
        "precision": resolve_dtype_name(), "bare_step_img_s": round(bare, 1),
        "end_to_end_img_s": round(e2e, 1), "end_to_end_over_bare": round(e2e / bare, 2),
        "rss_mib_after_epochs_1_2_3": rss, "peak_rss_mib_training": round(peak_training),
        "bare_step_without_release_img_s": round(kept, 1),
        "bare_rss_mib_per_step_with_release": bare_rss,
        "bare_rss_mib_per_step_without_release": kept_rss, "data_workers": args.workers,
    })  # fmt: skip


def resolve_dtype_name() -> str:
    dtype = resolve_dtype("auto", torch.device("cpu"))
    return "fp32" if dtype is None else str(dtype).removeprefix("torch.")


if __name__ == "__main__":
    main()
