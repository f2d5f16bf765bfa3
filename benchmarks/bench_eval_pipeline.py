"""`ccreid eval` on a 20,000-image synthetic gallery with 5,000 queries.

(1) The path `ccreid eval` runs (`run_evaluation`: files -> decode -> masks -> model, then
general/SC/CC metrics of the VC-Clothes protocol): extraction images/s and the metric
step's share of the total. (2) Extraction against bare inference of the same model, batch
and precision on tensors in memory. This machine's speed drifts by +-20% over seconds, so
(2) alternates blocks: bare, extraction of a slice, bare, ... and compares each slice with
the bare blocks just before and after it (median of those ratios). The model is a randomly
initialised checkpoint: speed does not depend on the weights.

Run: python benchmarks/bench_eval_pipeline.py [--backbone resnet18 --height 128 --width 64]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _common import bracketed_ratios, peak_rss_mib, record, timed

from ccreid.config import load_config, to_yaml
from ccreid.data import load_dataset
from ccreid.engine import run_evaluation
from ccreid.inference import inference_options, save_checkpoint
from ccreid.inference.features import extract_features
from ccreid.inference.precision import autocast, resolve_dtype
from ccreid.models import build_model
from ccreid.synthetic import SyntheticConfig, generate

# 125 test identities x 4 cameras x 50 images, 10 per camera as queries: 5,000 / 20,000
DATA = SyntheticConfig(train_ids=4, test_ids=125, images_per_camera=50, queries_per_camera=10,
                       outfit_pool=200, seed=5)  # fmt: skip


def bare_inference(model, args, dtype) -> float:
    """Images/s of the model alone on one batch already in memory, ``args.batches`` times."""
    x = torch.randn(args.batch, 3, args.height, args.width).contiguous(
        memory_format=torch.channels_last
    )
    mask = (torch.rand(args.batch, 1, args.height, args.width) > 0.3).float()

    @torch.no_grad()
    def run() -> None:
        for _ in range(args.batches):
            with autocast(torch.device("cpu"), dtype):
                torch.nn.functional.normalize(model(x, mask).float(), dim=1)

    seconds, _ = timed(run)
    return args.batch * args.batches / seconds


def interleaved(model, cfg, samples, args) -> tuple[list[float], list[float]]:
    """Bare and extraction images/s in alternating blocks (bare first and last)."""
    opts = inference_options(cfg, torch.device("cpu"))
    model = model.eval().to(memory_format=torch.channels_last)
    dtype = opts.dtype
    per_slice = args.batch * args.batches
    bare, extraction = [bare_inference(model, args, dtype)], []
    for i in range(args.rounds):
        chunk = samples[i * per_slice : (i + 1) * per_slice]
        seconds, _ = timed(lambda chunk=chunk: extract_features(model, chunk, opts))
        extraction.append(len(chunk) / seconds)
        bare.append(bare_inference(model, args, dtype))
    return bare, extraction


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--height", type=int, default=128)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--batches", type=int, default=12, help="batches per interleaved block")
    ap.add_argument("--rounds", type=int, default=6, help="interleaved extraction blocks")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        root = generate(Path(tmp) / "data", DATA, workers=2)
        generated = time.perf_counter() - start
        cfg = load_config(None, [
            f"data.root={root}", f"data.mask_root={root / 'masks'}", f"data.height={args.height}",
            f"data.width={args.width}", f"data.workers={args.workers}",
            f"model.backbone={args.backbone}", "model.weights=none", "train.precision=auto",
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
        gallery = load_dataset("vcclothes", root, mask_root=root / "masks").eval_sets["general"]
        bare, extraction = interleaved(model, cfg, gallery.gallery, args)
    ratios = bracketed_ratios(extraction, bare)
    queries = results["general"].num_queries
    dtype = resolve_dtype("auto", torch.device("cpu"))
    record(f"eval_pipeline_{args.backbone}_{args.height}x{args.width}", {
        "problem": f"{queries} queries x {int(timings['images']) - queries} gallery "
                   "(VC-Clothes protocol: general, sc, cc)",
        "precision": "fp32" if dtype is None else str(dtype).removeprefix("torch."),
        "images_embedded": int(timings["images"]), "generate_s": round(generated, 1),
        "extraction_img_s": round(timings["images"] / timings["extract_s"], 1),
        "extract_s": round(timings["extract_s"], 1), "metrics_s": round(timings["metrics_s"], 2),
        "total_s": round(total, 1), "metrics_share_of_total": round(timings["metrics_s"] / total, 3),
        "bare_inference_img_s": round(statistics.median(bare), 1),
        "interleaved_bare_img_s": [round(r, 1) for r in bare],
        "interleaved_extraction_img_s": [round(r, 1) for r in extraction],
        "extraction_over_bare_per_block": [round(r, 3) for r in ratios],
        "extraction_over_bare": round(statistics.median(ratios), 2),
        "data_workers": args.workers, "batch": args.batch, "peak_rss_mib": round(peak_rss_mib()),
    })  # fmt: skip


if __name__ == "__main__":
    main()
