"""Render benchmarks/results.json into the README's Performance section.

`make bench` runs every benchmark and then this script; run it alone to re-render the
section from the stored results. The README text between the two markers is replaced.

Run: python benchmarks/readme_tables.py [--readme README.md]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
Result = dict[str, Any]


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def eval_section(r: Result) -> str:
    return (
        f"**Evaluation** (`python benchmarks/bench_eval.py`): `evaluate` on a {r['problem']} "
        "random problem against two per-query loops that give the same CMC/mAP (checked to 1e-6).\n\n"
        + table(
            ["", "seconds", "`evaluate` speed-up"],
            [
                ["`evaluate` (chunked, vectorised, uint64 key sort)", r["evaluate_s"], "-"],
                [
                    "per-query loop, numpy inside each query",
                    r["numpy_loop_s"],
                    f"{r['speedup_vs_numpy_loop']}x",
                ],
                [
                    "per-query loop, the widely copied Market-1501 code",
                    r["classic_loop_s"],
                    f"{r['speedup_vs_classic_loop']}x",
                ],
            ],
        )  # fmt: skip
        + f"\n\n{r['large_problem']} through `evaluate_features`: {r['large_time_s']} s, peak RSS "
        f"{r['large_peak_rss_mib'] / 1024:.1f} GiB. A per-row sort is O(n log n) whoever calls "
        "it, so against a loop that also sorts with numpy per query the vectorised version is "
        "level, not faster."
    )


def eval_pipeline_section(results: dict[str, Result]) -> str:
    rows = []
    for key, r in results.items():
        setup = key.removeprefix("eval_pipeline_").replace("_", ", ")
        rows.append([setup, r["problem"], r.get("precision", "fp32"), r["extraction_img_s"],
                     r["extract_s"], r["metrics_s"], f"{100 * r['metrics_share_of_total']:.1f}%",
                     r["bare_inference_img_s"], r["extraction_over_bare"],
                     " / ".join(f"{x:.2f}" for x in r["extraction_over_bare_per_block"])])  # fmt: skip
    return (
        "**`ccreid eval` end to end** (`python benchmarks/bench_eval_pipeline.py`): the path "
        "`ccreid eval` runs (files, decoding, masks, model, then the general/SC/CC metrics) on "
        "a synthetic VC-Clothes-layout set, 2 data workers. Extraction / bare compares "
        "extraction of gallery slices with bare inference of the same model, batch and "
        "precision on tensors in memory, measured in alternating blocks (the median of each "
        "slice against the bare blocks just before and after it; this machine's speed drifts "
        "by +-20% over seconds).\n\n"
        + table(
            [
                "setup",
                "problem",
                "precision",
                "extraction img/s",
                "extraction s",
                "metrics s",
                "metrics share of total",
                "bare inference img/s",
                "extraction / bare",
                "per block",
            ],
            rows,
        )  # fmt: skip
    )


def model_section(results: dict[str, Result]) -> str:
    rows = []
    for r in results.values():
        rows.append([
            r["setup"], f"{r['infer_plain_img_s']} / {r['infer_bsga_img_s']}",
            f"{r['infer_bsga_cost_pct']}%", f"{r['train_plain_img_s']} / {r['train_bsga_img_s']}",
            f"{r['train_bsga_cost_pct']}%",
            f"{r['infer_channels_last_speedup']}x infer, {r['train_channels_last_speedup']}x train",
            f"{r['infer_bf16_speedup_vs_fp32']}x infer, {r['train_bf16_speedup_vs_fp32']}x train",
        ])  # fmt: skip
    return (
        "**Model** (`python benchmarks/bench_model.py`, images/s; BSGA cost = plain/BSGA - 1):\n\n"
        + table(
            [
                "setup",
                "inference plain / BSGA",
                "BSGA cost",
                "train step plain / BSGA",
                "BSGA cost",
                "channels-last vs contiguous (fp32)",
                "bf16 autocast vs fp32",
            ],
            rows,
        )  # fmt: skip
        + "\n\nBSGA adds 50,426 parameters to ResNet-50. Where bf16 shows below 1x the CPU "
        "emulates it (no AVX512-BF16/AMX); see Notes."
    )


def retrieval_section(r: Result) -> str:
    rows = []
    for n in (100_000, 1_000_000):
        p = f"n{n}_"
        if f"{p}numpy_ms_per_query" not in r:
            continue
        rows.append([f"{n:,}", r[f"{p}numpy_ms_per_query"], r[f"{p}faiss_flat_ms_per_query"],
                     f"{r[f'{p}faiss_flat_speedup_vs_numpy']}x",
                     r[f"{p}ivf_nprobe16_ms_per_query"], f"{r[f'{p}ivf_speedup_vs_flat']}x",
                     f"{r[f'{p}ivf_recall_at_10']} / {r[f'{p}ivf_recall_at_1']}"])  # fmt: skip
    return (
        f"**Retrieval** (`python benchmarks/bench_retrieval.py`): {r['queries']} queries against "
        f"galleries of {r['dim']}-d unit vectors shaped like a re-ID gallery; exact top-10 by a "
        "numpy matmul + argpartition vs FAISS.\n\n"
        + table(
            [
                "gallery",
                "numpy ms/query",
                "FAISS flat ms/query",
                "flat vs numpy",
                "IVF (nlist 1024, nprobe 16) ms/query",
                "IVF vs flat",
                "IVF recall@10 / @1",
            ],
            rows,
        )  # fmt: skip
        + "\n\nWhen IVF recall is low, raise `nprobe` (or use `--kind hnsw`) and measure recall "
        "on your data; exact search is the default. ONNX Runtime runs the exported ResNet-50 + "
        f"BSGA at {r['onnx_resnet50_bsga_img_s']} images/s against {r['torch_eager_img_s']} for "
        f"eager PyTorch ({r['onnx_speedup']}x, batch 8, 256x128)."
    )


def parser_section(r: Result) -> str:
    return (
        f"**Parser** (`python benchmarks/bench_parser.py --batch 2 --size 256`): {r['setup']}: "
        f"{r['fp32_img_s']} images/s in fp32, {r['bf16_img_s']} in bf16 autocast "
        f"({r['bf16_speedup']}x)."
    )


def serve_section(r: Result) -> str:
    return (
        f"**`ccreid serve` under load** (`python benchmarks/bench_serve.py`): {r['setup']}, "
        f"{r['clients']} concurrent clients, {r['requests']} requests over HTTP on localhost, one "
        f"uvicorn worker: {r['queries_per_s']} queries/s, latency p50 / p95 / p99 = "
        f"{r['p50_ms']} / {r['p95_ms']} / {r['p99_ms']} ms, {r['errors']} errors. Each query is "
        f"decoded, embedded and searched; the model's forward pass is most of it. ({r['machine']}, {r['date']}.)"
    )


def synthetic_section(r: Result) -> str:
    return (
        f"**Synthetic data** (`python benchmarks/bench_synthetic.py`): {r['workers1_img_s']} "
        f"images/s (image + mask written, {r['size']}) in one process, {r['workers2_img_s']} with two "
        f"({r['machine']}, {r['date']})."
    )


def data_section(r: Result) -> str:
    sizes = sorted({k.split("_")[0] for k in r if k[0].isdigit() and "_workers" in k})
    rows = [
        [s, *(r.get(f"{s}_workers{w}_samples_s", "-") for w in (0, 1, 2)),
         r.get(f"{s}_workers2_cached_samples_s", "-")]
        for s in sizes
    ]  # fmt: skip
    text = (
        "**Data pipeline** (`python benchmarks/bench_data.py`): samples/s of dataset + paired "
        "transforms + CRE + body mask alone (training mode, no model), batches of 32.\n\n"
        + table(
            [
                "size",
                "in the main process",
                "1 worker",
                "2 workers",
                "2 workers, `data.cache=true` (second pass)",
            ],
            rows,
        )  # fmt: skip
    )
    if "decode_torchvision_ms" in r:
        text += (
            f"\n\nDecoding one synthetic JPEG: `torchvision.io.decode_image` "
            f"{r['decode_torchvision_ms']} ms, PIL {r['decode_pil_ms']} ms "
            f"({r['decode_pil_over_torchvision']}x the time). Per-sample cost at 256x128: "
            + ", ".join(
                f"{k.removeprefix('share_')} {100 * v:.0f}%"
                for k, v in r.items()
                if k.startswith("share_")
            )  # fmt: skip
            + "."
        )
    return text


def train_section(results: dict[str, Result]) -> str:
    rows = []
    for key, r in results.items():
        setup = key.removeprefix("train_").removesuffix("_cuda").replace("_", ", ")
        rss = " / ".join(map(str, r["rss_mib_after_epochs_1_2_3"]))
        per_epoch = " / ".join(f"{x:.2f}" for x in r.get("end_to_end_over_bare_per_epoch", []))
        rows.append([setup, r.get("device", "CPU"), r.get("precision", "fp32"),
                     r.get("steps_per_epoch", "-"), r["bare_step_img_s"], r["end_to_end_img_s"],
                     r["end_to_end_over_bare"], per_epoch or "-", rss,
                     r.get("peak_rss_mib_training", "-"),
                     r.get("bare_step_release_every_step_img_s", "-")])  # fmt: skip
    return (
        "**Training pipeline** (`python benchmarks/bench_train.py [--backbone resnet50 --height "
        "256 --width 128 --steps 3]`): images/s of a bare forward + backward + Adam step on "
        "tensors in memory (a) against `run_training` end to end on the synthetic set with the "
        "same model, batch (32 + 32 erased) and precision (b), 2 persistent data workers, 3 "
        "epochs. (a) runs in its own process in blocks before training and after each epoch; "
        "(b)/(a) is the median over epochs of each epoch against the blocks just before and "
        "after it. RSS is the training process's after each epoch (evaluation included in the "
        "last; the trainer gives freed heap pages back to the OS once per epoch, "
        "`ccreid.engine.memory`). The last column is (a) releasing after every step instead: "
        "the resident size then stays at its floor between steps, but each step faults its "
        "pages in again (`bare_rss_mib_per_step_*` in results.json).\n\n"
        + table(
            [
                "setup",
                "device",
                "precision",
                "steps/epoch",
                "(a) bare",
                "(b) end to end",
                "(b)/(a)",
                "per epoch",
                "RSS after epochs 1 / 2 / 3 (MiB)",
                "peak RSS training (MiB)",
                "(a) releasing every step",
            ],
            rows,
        )  # fmt: skip
    )


SECTIONS: list[tuple[str, Callable[..., str], bool]] = [
    # (results key or prefix, renderer, prefix: the renderer takes every matching result)
    ("train_", train_section, True),
    ("data", data_section, False),
    ("eval_pipeline_", eval_pipeline_section, True),
    ("eval", eval_section, False),
    ("model_", model_section, True),
    ("retrieval", retrieval_section, False),
    ("parser", parser_section, False),
    ("synthetic", synthetic_section, False),
    ("serve", serve_section, False),
]


def covered(key: str) -> bool:
    return any(key.startswith(k) if prefix else key == k for k, _, prefix in SECTIONS)


def render(results: dict[str, Result]) -> str:
    """The section's markdown; every stored result must have a renderer (none is dropped)."""
    missing = sorted(k for k in results if not covered(k))
    if missing:
        raise SystemExit(f"results.json has benchmarks without a README renderer: {missing}")
    machines = sorted({r["machine"] for r in results.values()})
    dates = sorted({r["date"] for r in results.values()})
    parts = [
        f"Measured on {' and on '.join(machines)} ({dates[0]} to {dates[-1]}; a section measured on "
        "another machine than the first names it); `make bench` reruns "
        "every benchmark, writes `benchmarks/results.json` and regenerates this section from it."
    ]
    for key, renderer, prefix in SECTIONS:
        if prefix:
            chosen = {k: v for k, v in results.items() if k.startswith(key)}
            if chosen:
                parts.append(renderer(chosen))
        elif key in results:
            parts.append(renderer(results[key]))
    return "\n\n".join(parts)


def update_readme(readme: Path, results_path: Path) -> None:
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{readme} lacks the markers {START} ... {END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    body = render(json.loads(results_path.read_text()))
    tmp = readme.with_suffix(".md.tmp")
    tmp.write_text(f"{head}{START}\n{body}\n{END}{tail}")
    tmp.replace(readme)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--readme", type=Path, default=HERE.parent / "README.md")
    ap.add_argument("--results", type=Path, default=HERE / "results.json")
    args = ap.parse_args()
    update_readme(args.readme, args.results)
    print(f"updated the Performance section of {args.readme}")


if __name__ == "__main__":
    main()
