"""`ccreid eval` on a 20,000-image synthetic gallery with 5,000 queries.

Reports (1) feature extraction images/s through the real path (files -> decode -> masks ->
model) against bare inference on tensors already in memory with the same model, batch and
precision, and (2) the share of the total that the metric step takes (general, SC and CC
settings of the VC-Clothes protocol). The model is a randomly initialised checkpoint:
speed does not depend on the weights.

Run: python benchmarks/bench_eval_pipeline.py [--backbone resnet18 --height 128 --width 64]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _common import peak_rss_mib, record, timed

from ccreid.config import load_config, to_yaml
from ccreid.data.synthetic import SyntheticConfig, generate
from ccreid.engine import run_evaluation, save_checkpoint
from ccreid.engine.precision import autocast, resolve_dtype
from ccreid.models import build_model

# 125 test identities x 4 cameras x 50 images, 10 per camera as queries: 5,000 / 20,000
DATA = SyntheticConfig(train_ids=4, test_ids=125, images_per_camera=50, queries_per_camera=10,
                       outfit_pool=200, seed=5)  # fmt: skip


def bare_inference(model, args, dtype) -> float:
    """Images/s of the model alone on one batch already in memory."""
    x = torch.randn(args.batch, 3, args.height, args.width).contiguous(
        memory_format=torch.channels_last
    )
    mask = (torch.rand(args.batch, 1, args.height, args.width) > 0.3).float()

    @torch.no_grad()
    def run() -> None:
        for _ in range(args.batches):
            with autocast(torch.device("cpu"), dtype):
                torch.nn.functional.normalize(model(x, mask).float(), dim=1)

    run()
    seconds, _ = timed(run, repeat=2)
    return args.batch * args.batches / seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--height", type=int, default=128)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--batches", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        root = generate(Path(tmp) / "data", DATA, workers=2)
        generated = time.perf_counter() - start
        cfg = load_config(None, [
            f"data.root={root}", f"data.mask_root={root / 'masks'}", f"data.height={args.height}",
            f"data.width={args.width}", f"data.workers={args.workers}",
            f"model.backbone={args.backbone}", "model.pretrained=false", "train.precision=auto",
            f"eval.batch_size={args.batch}",
        ])  # fmt: skip
        model = build_model(DATA.train_ids, backbone=args.backbone, attention="bsga")
        ckpt = save_checkpoint(
            Path(tmp) / "model.safetensors", model, {"config": to_yaml(cfg), "num_classes": 4}
        )
        timings: dict[str, float] = {}
        start = time.perf_counter()
        results = run_evaluation(cfg, ckpt, timings=timings)
        total = time.perf_counter() - start
    model = model.eval().to(memory_format=torch.channels_last)
    bare = bare_inference(model, args, resolve_dtype("auto", torch.device("cpu")))
    extract = timings["images"] / timings["extract_s"]
    queries = results["general"].num_queries
    record(f"eval_pipeline_{args.backbone}_{args.height}x{args.width}", {
        "problem": f"{queries} queries x {int(timings['images']) - queries} gallery "
                   "(VC-Clothes protocol: general, sc, cc)",
        "images_embedded": int(timings["images"]), "generate_s": round(generated, 1),
        "bare_inference_img_s": round(bare, 1), "extraction_img_s": round(extract, 1),
        "extraction_over_bare": round(extract / bare, 2),
        "extract_s": round(timings["extract_s"], 1), "metrics_s": round(timings["metrics_s"], 2),
        "total_s": round(total, 1), "metrics_share_of_total": round(timings["metrics_s"] / total, 3),
        "data_workers": args.workers, "batch": args.batch, "peak_rss_mib": round(peak_rss_mib()),
    })  # fmt: skip


if __name__ == "__main__":
    main()
