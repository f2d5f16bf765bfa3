"""ResNet-50 with and without BSGA, fp32 vs channels-last (+ bf16 autocast), on this CPU.

Run: python benchmarks/bench_model.py [--batch 16 --height 256 --width 128 --repeat 3]
Prints images/s of inference and of a training step, and the ratios.
"""

from __future__ import annotations

import argparse

import torch
from _common import record, timed

from ccreid.models import build_model


def throughput(attention: str, train: bool, channels_last: bool, bf16: bool, args) -> float:
    torch.manual_seed(0)
    model = build_model(100, backbone=args.backbone, attention=attention)
    x = torch.randn(args.batch, 3, args.height, args.width)
    mask = torch.ones(args.batch, 1, args.height, args.width)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train(train)

    def step() -> None:
        with (
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16),
            torch.set_grad_enabled(train),
        ):
            out = model(x, mask)
        if train:
            loss = out.logits.float().logsumexp(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

    step()  # warm-up
    seconds, _ = timed(step, repeat=args.repeat)
    return args.batch / seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="resnet50")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--skip-bf16",
        action="store_true",
        help="bf16 is emulated (very slow) without AVX512-BF16/AMX",
    )
    args = ap.parse_args()
    out: dict[str, float | str] = {
        "setup": f"{args.backbone} {args.height}x{args.width}, batch {args.batch}"
    }
    for mode in ("infer", "train"):
        train = mode == "train"
        plain = throughput("none", train, True, False, args)
        bsga = throughput("bsga", train, True, False, args)
        fp32 = throughput("bsga", train, False, False, args)
        out.update({
            f"{mode}_plain_img_s": round(plain, 1), f"{mode}_bsga_img_s": round(bsga, 1),
            f"{mode}_bsga_cost_pct": round(100 * (plain / bsga - 1), 1),
            f"{mode}_fp32_contiguous_img_s": round(fp32, 1),
            f"{mode}_channels_last_speedup": round(bsga / fp32, 2),
        })  # fmt: skip
        if not args.skip_bf16:
            bf16 = throughput("bsga", train, True, True, args)
            out[f"{mode}_bf16_channels_last_img_s"] = round(bf16, 1)
            out[f"{mode}_bf16_speedup_vs_fp32"] = round(bf16 / fp32, 2)
    record(f"model_{args.backbone}_{args.height}x{args.width}", out)


if __name__ == "__main__":
    main()
