"""ResNet-50 with and without BSGA on this CPU: BSGA's cost, its parts, and the precisions.

Run: python benchmarks/bench_model.py [--batch 16 --height 256 --width 128 --pairs 15]

BSGA's cost is the median, over alternating pairs (plain batch, BSGA batch), of the time
ratio minus one: the machine's speed drifts by +-20% over seconds, and a pair measured
back to back sees the same drift. Inference runs in channels-last, in fp32 and (where the
CPU has native bf16) in bf16 autocast. The parts of BSGA are timed alone at the shape of
the stage-2 features, as a share of the plain model's batch time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from _common import record, timed

from ccreid.inference.precision import cpu_has_fast_bf16, resolve_dtype
from ccreid.models import build_model
from ccreid.models.attention import conv_as_matmul_and_fold, resize_mask


def _clock(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternating_ratio(first: Callable[[], object], second: Callable[[], object], pairs: int):
    """Median of second/first over back-to-back pairs, and each one's median seconds."""
    first(), second()  # warm-up
    a, b = [], []
    for _ in range(pairs):
        a.append(_clock(first))
        b.append(_clock(second))
    ratio = statistics.median(y / x for x, y in zip(a, b, strict=True))
    return ratio, statistics.median(a), statistics.median(b)


def models(args, channels_last: bool):
    torch.manual_seed(0)
    plain = build_model(100, backbone=args.backbone, attention="none")
    bsga = build_model(100, backbone=args.backbone, attention="bsga")
    bsga.load_state_dict(plain.state_dict(), strict=False)  # same backbone weights
    x = torch.randn(args.batch, 3, args.height, args.width)
    mask = (torch.rand(args.batch, 1, args.height, args.width) > 0.4).float()
    if channels_last:
        plain, bsga = (m.to(memory_format=torch.channels_last) for m in (plain, bsga))
        x = x.contiguous(memory_format=torch.channels_last)
    return plain, bsga, x, mask


def inference_step(model, x, mask, bf16: bool) -> Callable[[], object]:
    model.eval()

    def step():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return model(x, mask)

    return step


def train_step(model, x, mask, bf16: bool) -> Callable[[], object]:
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x, mask)
        loss = out.logits.float().logsumexp(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def bsga_parts(bsga, x, mask, bf16: bool, repeat: int) -> dict[str, float]:
    """Milliseconds per batch of each part of BSGA, alone, at the stage-2 feature shape."""
    attention = bsga.attention
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        feats = bsga.stage2(x)
        m = resize_mask(mask.to(feats.dtype), feats.shape[-2:])
        parts = {
            "mask check": lambda: bool(torch.all((mask == 0) | (mask == 1))),
            "mask resize": lambda: resize_mask(mask.to(feats.dtype), feats.shape[-2:]),
            "reduce conv 7x7, direct": lambda: F.conv2d(
                feats, attention.reduce.weight, attention.reduce.bias, padding=3
            ),
            "reduce conv 7x7, matmul + fold": lambda: conv_as_matmul_and_fold(
                feats, attention.reduce
            ),
            "two 1-channel mask convs": lambda: (attention.mask_embed(m), attention.mask_gate(m)),
            "whole BSGA": lambda: attention(feats, mask),
        }
        return {name: 1000 * timed(fn, repeat=repeat)[0] for name, fn in parts.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="resnet50")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--pairs", type=int, default=25, help="alternating pairs for the BSGA cost")
    ap.add_argument("--train-pairs", type=int, default=5)
    args = ap.parse_args()
    native_bf16 = cpu_has_fast_bf16()
    out: dict[str, object] = {
        "setup": f"{args.backbone} {args.height}x{args.width}, batch {args.batch}",
        "native_bf16": native_bf16,
        "auto_precision": str(resolve_dtype("auto", torch.device("cpu")) or "fp32").removeprefix(
            "torch."
        ),
    }
    plain, bsga, x, mask = models(args, channels_last=True)
    precisions = ["fp32", "bf16"] if native_bf16 else ["fp32"]
    for precision in precisions:
        bf16 = precision == "bf16"
        for mode, step, pairs in (("infer", inference_step, args.pairs),
                                  ("train", train_step, args.train_pairs)):  # fmt: skip
            ratio, t_plain, t_bsga = alternating_ratio(
                step(plain, x, mask, bf16), step(bsga, x, mask, bf16), pairs
            )
            out[f"{mode}_{precision}_plain_img_s"] = round(args.batch / t_plain, 1)
            out[f"{mode}_{precision}_bsga_img_s"] = round(args.batch / t_bsga, 1)
            out[f"{mode}_{precision}_bsga_cost_pct"] = round(100 * (ratio - 1), 2)
            if mode == "infer":
                parts = bsga_parts(bsga, x, mask, bf16, repeat=max(5, args.pairs))
                out[f"infer_{precision}_bsga_parts_pct_of_plain"] = {
                    name: round(100 * ms / 1000 / t_plain, 2) for name, ms in parts.items()
                }
    _, bsga_contiguous, x_contiguous, _ = models(args, channels_last=False)
    ratio, _, _ = alternating_ratio(
        inference_step(bsga_contiguous, x_contiguous, mask, False),
        inference_step(bsga, x, mask, False),
        max(3, args.pairs // 3),
    )
    out["infer_fp32_channels_last_speedup"] = round(1 / ratio, 2)
    if native_bf16:
        ratio, _, _ = alternating_ratio(
            inference_step(bsga, x, mask, False), inference_step(bsga, x, mask, True), 5
        )
        out["infer_bf16_speedup_vs_fp32"] = round(1 / ratio, 2)
    record(f"model_{args.backbone}_{args.height}x{args.width}", out)


if __name__ == "__main__":
    main()
