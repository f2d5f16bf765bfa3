"""Render benchmarks/results.json into the documentation's performance page.

`make bench` runs every benchmark and then this script; run it alone to re-render the
page from the stored results. The text between the two markers is replaced.

Run: python benchmarks/performance_page.py [--page docs/performance.md]
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
    rows = [
        [f"`{mode}`", r[f"{mode}_evaluate_s"], r[f"{mode}_numpy_loop_s"],
         f"{r[f'{mode}_speedup_vs_numpy_loop']}x", r[f"{mode}_reference_loop_s"],
         f"{r[f'{mode}_speedup_vs_reference_loop']}x"]
        for mode in ("general", "sc", "cc")
    ]  # fmt: skip
    return (
        f"**Evaluation** (`python benchmarks/bench_eval.py`): `evaluate` on a {r['problem']} "
        "random problem (about 20 images per identity, 6 cameras, 3 outfits) against two "
        "per-query loops that give the same CMC/mAP (checked to 1e-6): the algorithm of CAL "
        "and torchreid (argsort each row, junk and good index sets, cumulate) and a loop "
        "vectorised inside each query. `evaluate` counts, for each true match, the kept items "
        "ranked above it (`ccreid.evaluation.match_ranks`) instead of sorting rows, on one "
        "thread per core. Seconds, best of 5 (`evaluate`) and of 3 (loops):\n\n"
        + table(
            ["setting", "`evaluate`", "numpy loop", "speed-up", "CAL/torchreid loop", "speed-up"],
            rows,
        )
        + f"\n\n{r['large_problem']} through `evaluate_features`: {r['large_time_s']} s, peak RSS "
        f"{r['large_peak_rss_mib'] / 1024:.1f} GiB."
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


def _model_rows(r: Result) -> list[list[Any]]:
    """One row per measured precision; entries of the older format (one fp32 row, BSGA
    cost from best-of timings) render as such."""
    if "infer_bsga_cost_pct" in r:  # older format
        return [[r["setup"], "fp32 (best of 3)", f"{r['infer_plain_img_s']} / {r['infer_bsga_img_s']}",
                 f"{r['infer_bsga_cost_pct']}%", "-",
                 f"{r['train_plain_img_s']} / {r['train_bsga_img_s']}", f"{r['train_bsga_cost_pct']}%"]]  # fmt: skip
    rows = []
    for p in ("fp32", "bf16"):
        if f"infer_{p}_bsga_cost_pct" not in r:
            continue
        parts = r[f"infer_{p}_bsga_parts_pct_of_plain"]
        rows.append([r["setup"], p, f"{r[f'infer_{p}_plain_img_s']} / {r[f'infer_{p}_bsga_img_s']}",
                     f"{r[f'infer_{p}_bsga_cost_pct']}%",
                     "; ".join(f"{name} {pct}%" for name, pct in parts.items()),
                     f"{r[f'train_{p}_plain_img_s']} / {r[f'train_{p}_bsga_img_s']}",
                     f"{r[f'train_{p}_bsga_cost_pct']}%"])  # fmt: skip
    return rows


def model_section(results: dict[str, Result]) -> str:
    rows = [row for r in results.values() for row in _model_rows(r)]
    speed = [
        f"{r['setup']}: channels-last {r['infer_fp32_channels_last_speedup']}x contiguous (fp32)"
        + (f", bf16 autocast {r['infer_bf16_speedup_vs_fp32']}x fp32" if "infer_bf16_speedup_vs_fp32" in r else "")
        + f", `precision=auto` picks {r['auto_precision']}"
        for r in results.values()
        if "auto_precision" in r
    ]  # fmt: skip
    return (
        "**Model** (`python benchmarks/bench_model.py`, images/s, channels-last): BSGA cost "
        "is the median over 25 alternating pairs (plain batch, BSGA batch) of the time ratio "
        "minus one (5 pairs for the train step); the parts of BSGA are timed alone at the "
        "stage-2 feature shape, as a share of the plain model's batch time. BSGA's 512->2 "
        "7x7 convolution runs as a 1x1 convolution and col2im (`conv_as_matmul_and_fold`), "
        "the same linear map.\n\n"
        + table(
            [
                "setup",
                "precision",
                "inference plain / BSGA",
                "BSGA cost",
                "BSGA parts",
                "train step plain / BSGA",
                "BSGA cost",
            ],
            rows,
        )  # fmt: skip
        + ("\n\n" + "; ".join(speed) + "." if speed else "")
        + "\n\nBSGA adds 50,426 parameters to ResNet-50."
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


def serve_section(results: dict[str, Result]) -> str:
    """One row per number of concurrent clients, beside the bare batched model."""
    runs = sorted((r for r in results.values() if "ratio_to_bare" in r), key=lambda r: r["clients"])
    if not runs:
        return ""
    first = runs[0]
    rows = [[str(r["clients"]), str(r["queries_per_s"]), str(r["bare_batched_images_per_s"]),
             f"{r['ratio_to_bare']:.2f}", f"{r['p50_ms']} / {r['p95_ms']} / {r['p99_ms']}",
             str(r["bare_single_ms"]), str(r["errors"])] for r in runs]  # fmt: skip
    return (
        f"**`ccreid serve` under load** (`python benchmarks/bench_serve.py`): {first['setup']}, "
        "over HTTP on localhost, one uvicorn worker; each load run is bracketed by runs of the "
        "bare model on prepared queries (batched, and one image alone) in the same process.\n\n"
        + table(
            [
                "clients",
                "queries/s",
                "bare batched images/s",
                "of bare",
                "latency p50 / p95 / p99 (ms)",
                "bare one image (ms)",
                "errors",
            ],
            rows,
        )  # fmt: skip
    )


def mask_head_section(r: Result) -> str:
    return (
        f"**Deployment without a parser** (`python benchmarks/bench_mask_head.py`): {r['setup']}. "
        f"`ccreid parse` + `ccreid index build --mask-root`: {r['index_build_with_parser_img_s']} "
        f"images/s end to end (parsing {100 * r['parse_share_of_parser_path']:.0f}% of it); "
        f"`ccreid index build --mask-source predicted`: {r['index_build_mask_free_img_s']} images/s "
        f"({r['mask_free_speedup']}x). ONNX Runtime, batch 8: the (image, mask) graph "
        f"{r['onnx_parser_img_s']} images/s (plus a parser for the mask), the image-only graph "
        f"{r['onnx_predicted_img_s']} images/s."
    )


def synthetic_section(r: Result) -> str:
    return (
        f"**Synthetic data** (`python benchmarks/bench_synthetic.py`): {r['workers1_img_s']} "
        f"images/s (image + mask written, {r['size']}) in one process, {r['workers2_img_s']} with two."
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
    return text + worker_cost_table(r)


def worker_cost_table(r: Result) -> str:
    """A data worker's CPU time per sample with each ``data.augment_on`` / ``decode_on``."""
    sizes = sorted({k.split("_")[0] for k in r if k.endswith("_augment_on_worker")})
    if not sizes:
        return ""
    rows = [
        [s, r[f"{s}_worker_cpu_ms_per_sample_augment_on_worker"],
         f"{r[f'{s}_worker_cpu_ms_per_sample_augment_on_device']} "
         f"({r[f'{s}_worker_cpu_device_over_worker']}x)",
         f"{r[f'{s}_worker_cpu_ms_per_sample_decode_on_device']} "
         f"({r[f'{s}_worker_cpu_decode_on_device_over_worker']}x)"
         if f"{s}_worker_cpu_ms_per_sample_decode_on_device" in r else "-",
         r.get(f"{s}_batch_augment_ms_per_sample_on_this_cpu", "-"),
         r.get(f"{s}_batch_decode_and_augment_ms_per_sample_on_this_cpu", "-")]
        for s in sizes
    ]  # fmt: skip
    return (
        "\n\nCPU time a data worker spends per training sample (CRE + body mask, one thread), "
        "and the batched work moved to the model's device, timed here on the CPU per sample "
        "of a batch of 32:\n\n"
        + table(
            [
                "size",
                "`augment_on=worker` (ms)",
                "`augment_on=device`",
                "`augment_on=device`, `decode_on=device`",
                "batched augmentation (ms)",
                "batched decoding + augmentation (ms)",
            ],
            rows,
        )  # fmt: skip
    )


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
        "`ccreid.inference.memory`). The last column is (a) releasing after every step instead: "
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
    ("mask_head", mask_head_section, False),
    ("serve", serve_section, True),
]


def covered(key: str) -> bool:
    return any(key.startswith(k) if prefix else key == k for k, _, prefix in SECTIONS)


def render_kind(kind: str, results: dict[str, Result]) -> str:
    """The figures of one kind of machine, each section from its latest run there."""
    missing = sorted(k for k in results if not covered(k))
    if missing:
        raise SystemExit(f"results.json has benchmarks without a renderer: {missing}")
    machines = sorted({r["machine"] for r in results.values()})
    dates = sorted({r["date"] for r in results.values()})
    parts = [f"### {kind}", f"Measured on {' and on '.join(machines)}, {dates[0]} to {dates[-1]}."]
    for key, renderer, prefix in SECTIONS:
        if prefix:
            chosen = {k: v for k, v in results.items() if k.startswith(key)}
            if chosen:
                parts.append(renderer(chosen))
        elif key in results:
            parts.append(renderer(results[key]))
    return "\n\n".join(parts)


def render(by_kind: dict[str, dict[str, Result]]) -> str:
    """The section's markdown: one subsection per machine kind (none is dropped)."""
    intro = (
        "Figures are grouped by the kind of machine that measured them: the same code is "
        "2-3x faster in bf16 on a CPU with native bf16 and about 15x slower where bf16 is "
        "emulated, so figures of different kinds are never compared. `make bench` reruns "
        "every benchmark on the machine at hand, replaces that kind's figures in "
        "`benchmarks/results.json` (other kinds' stay) and regenerates this section."
    )
    return "\n\n".join([intro, *(render_kind(k, by_kind[k]) for k in sorted(by_kind))])


def update_page(page: Path, results_path: Path) -> None:
    text = page.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{page} lacks the markers {START} ... {END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    body = render(json.loads(results_path.read_text()))
    tmp = page.with_suffix(".md.tmp")
    tmp.write_text(f"{head}{START}\n{body}\n{END}{tail}")
    tmp.replace(page)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--page", type=Path, default=HERE.parent / "docs" / "performance.md")
    ap.add_argument("--results", type=Path, default=HERE / "results.json")
    args = ap.parse_args()
    update_page(args.page, args.results)
    print(f"updated the performance figures of {args.page}")


if __name__ == "__main__":
    main()
