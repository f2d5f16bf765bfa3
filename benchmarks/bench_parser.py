"""Parser images/s at 256x128 on CPU, fp32 vs bf16 autocast, for a SegFormer-B2-sized model
built from its config (random weights: speed does not depend on them; nothing is downloaded).

Run: python benchmarks/bench_parser.py [--batch 8 --size 512]
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
from _common import record, timed

from ccreid.parsing import ATR
from ccreid.parsing.parser import SegFormerParser


def b2_model(folder: str) -> str:
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    names = [n.replace("-", " ").title() for n in ATR.labels]
    cfg = SegformerConfig(depths=[3, 4, 6, 3], hidden_sizes=[64, 128, 320, 512], decoder_hidden_size=768,
                          num_labels=18, id2label=dict(enumerate(names)))  # fmt: skip
    SegformerForSemanticSegmentation(cfg).save_pretrained(folder)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=512, help="parser input size (images are 256x128)")
    ap.add_argument("--skip-bf16", action="store_true")
    args = ap.parse_args()
    images = [
        np.random.default_rng(i).integers(0, 255, (256, 128, 3), dtype=np.uint8)
        for i in range(args.batch)
    ]
    out: dict[str, float | str] = {
        "setup": f"SegFormer-B2 size, input {args.size}, batch {args.batch}"
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = b2_model(tmp)
        for name, bf16 in (("fp32", False), ("bf16", True)):
            if bf16 and args.skip_bf16:
                continue
            parser = SegFormerParser(folder, bf16=bf16, input_size=(args.size, args.size))
            parser(images[:1])
            seconds, labels = timed(lambda p=parser: p(images), repeat=2)
            out[f"{name}_img_s"] = round(args.batch / seconds, 2)
        if "bf16_img_s" in out:
            out["bf16_speedup"] = round(out["bf16_img_s"] / out["fp32_img_s"], 2)
    record("parser", out)


if __name__ == "__main__":
    main()
