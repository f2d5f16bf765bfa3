"""Deployment with and without a parser: `index build` end to end, and the ONNX graphs.

A ResNet-50 + BSGA model with a mask head at 256x128 (random weights: speed does not
depend on them) embeds a gallery folder of synthetic people two ways:
- parser path: a SegFormer-B2-sized parser (built from its config, as in
  bench_parser.py) writes the masks (`ccreid parse`), then `ccreid index build --mask-root`;
- mask-free path: `ccreid index build --mask-source predicted`.
Then ONNX Runtime runs the exported (image, mask) graph and the image-only graph.

Run: python benchmarks/bench_mask_head.py [--images 48]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import record, timed
from bench_parser import b2_model

from ccreid.config import load_config, to_yaml
from ccreid.inference.checkpoint import save_checkpoint
from ccreid.models import model_from_config
from ccreid.parsing import ATR
from ccreid.parsing.parser import SegFormerParser, parse_tree
from ccreid.retrieval.export import export_onnx
from ccreid.retrieval.service import build_index
from ccreid.synthetic import SyntheticConfig, generate


def head_checkpoint(folder: Path, height: int, width: int) -> Path:
    cfg = load_config(None, [f"data.mask_root={folder}", f"data.height={height}",
                             f"data.width={width}", "model.weights=none", "model.mask_head=true"])  # fmt: skip
    model = model_from_config(cfg.model, 10)
    meta = {"config": to_yaml(cfg), "num_classes": 10, "dataset": "bench"}
    return save_checkpoint(folder / "head.safetensors", model, meta)


def onnx_images_per_s(path: Path, inputs: tuple[str, ...], batch: int, height: int, width: int,
                      repeat: int) -> float:  # fmt: skip
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {"image": rng.standard_normal((batch, 3, height, width), dtype=np.float32),
             "mask": (rng.random((batch, 1, height, width)) > 0.4).astype(np.float32)}  # fmt: skip
    feeds = {k: v for k, v in feeds.items() if k in inputs}
    session.run(None, feeds)
    seconds, _ = timed(lambda: session.run(None, feeds), repeat=repeat)
    return batch / seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=48, help="gallery images (at least 24)")
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--parser-size", type=int, default=256)
    ap.add_argument("--onnx-batch", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    out: dict[str, object] = {
        "setup": f"ResNet-50 + BSGA + mask head {args.height}x{args.width}; parser SegFormer-B2 "
        f"size at {args.parser_size}; {args.images} gallery images"  # fmt: skip
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ids = max(2, args.images // 24)
        generate(tmp / "data", SyntheticConfig(train_ids=2, test_ids=ids, height=args.height,
                                               width=args.width, seed=0))  # fmt: skip
        gallery = tmp / "data" / "VC-Clothes" / "gallery"
        images = sorted(gallery.rglob("*.jpg"))[: args.images]
        folder = tmp / "gallery"
        folder.mkdir()
        for p in images:
            (folder / p.name).write_bytes(p.read_bytes())
        checkpoint = head_checkpoint(tmp, args.height, args.width)
        parser = SegFormerParser(b2_model(str(tmp / "b2")), input_size=(args.parser_size,) * 2)

        start = time.perf_counter()
        parse_tree(folder, tmp / "masks", parser, ATR, batch_size=8)
        parse_s = time.perf_counter() - start
        with_parser_s, _ = timed(lambda: build_index(checkpoint, folder, tmp / "idx1",
                                                     tmp / "masks", mask_source="parser"))  # fmt: skip
        mask_free_s, _ = timed(lambda: build_index(checkpoint, folder, tmp / "idx2",
                                                   mask_source="predicted"))  # fmt: skip
        n = len(images)
        out.update({
            "index_build_with_parser_img_s": round(n / (parse_s + with_parser_s), 2),
            "parse_share_of_parser_path": round(parse_s / (parse_s + with_parser_s), 2),
            "index_build_mask_free_img_s": round(n / mask_free_s, 2),
            "mask_free_speedup": round((parse_s + with_parser_s) / mask_free_s, 2),
        })  # fmt: skip
        for source in ("parser", "predicted"):
            report = export_onnx(checkpoint, tmp / f"{source}.onnx", mask_source=source)
            out[f"onnx_{source}_inputs"] = list(report.inputs)
            out[f"onnx_{source}_img_s"] = round(onnx_images_per_s(
                tmp / f"{source}.onnx", report.inputs, args.onnx_batch, args.height, args.width, 3
            ), 2)  # fmt: skip
    record("mask_head", out)


if __name__ == "__main__":
    main()
