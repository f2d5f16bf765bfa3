"""`make bench`: every benchmark in this folder, one after another; results.json is merged
and the documentation's performance page is regenerated from it (performance_page.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
BENCHES = [
    ["bench_eval.py"],
    ["bench_eval_pipeline.py"],
    ["bench_synthetic.py"],
    ["bench_data.py"],
    ["bench_train.py"],
    [
        "bench_train.py",
        "--backbone",
        "resnet50",
        "--height",
        "256",
        "--width",
        "128",
        "--steps",
        "3",
    ],
    ["bench_model.py"],  # bf16 rows only where the CPU has native bf16
    [
        "bench_model.py",
        "--backbone",
        "resnet18",
        "--height",
        "128",
        "--width",
        "64",
        "--batch",
        "32",
    ],
    ["bench_retrieval.py"],
    ["bench_serve.py"],
    ["bench_parser.py", "--batch", "2", "--size", "256"],
    ["bench_mask_head.py"],
]


def main() -> int:
    failed = 0
    for bench in BENCHES:
        print(f"== {' '.join(bench)}", flush=True)
        failed += (
            subprocess.run([sys.executable, str(HERE / bench[0]), *bench[1:]], cwd=HERE).returncode
            != 0
        )
    subprocess.run([sys.executable, str(HERE / "performance_page.py")], cwd=HERE, check=True)
    return int(failed > 0)


if __name__ == "__main__":
    sys.exit(main())
