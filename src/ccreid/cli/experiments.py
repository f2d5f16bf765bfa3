"""Commands that train, evaluate and report: demo, synth, train, eval, extract, visualize, compare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ccreid.cli.app import Overrides, app, console, err


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Output folder (data, runs, report).")] = Path(
        "runs/demo"
    ),
    budget: Annotated[
        str, typer.Option(help="fast (the README's demo) or full (longer).")
    ] = "fast",
    seed: Annotated[int, typer.Option(help="First seed of data, sampling and initialisation.")] = 0,
    seeds: Annotated[
        int, typer.Option(help="Number of seeds (seed, seed+1, ...): mean and spread.")
    ] = 1,
    overwrite: Annotated[bool, typer.Option(help="Replace an earlier demo in --out.")] = False,
    scenes: Annotated[
        str,
        typer.Option(help="cluttered (tracklet backdrops) or plain (control: no background cue)."),
    ] = "cluttered",
    variant: Annotated[
        list[str] | None,
        typer.Option(help="Run only this variant (repeatable): baseline, +CRE, +BSGA, CRE+BSGA."),
    ] = None,
    video: Annotated[
        bool, typer.Option(help="Synthetic tracklets as short videos: the video path (CCVID).")
    ] = False,
    overrides: Overrides = None,
) -> None:
    """Run the paper's ablation on the built-in synthetic dataset and write a report.

    Example: ccreid demo --out runs/demo --budget fast --seeds 3

    With a mask head, BSGA runs are also evaluated on their own predicted masks:
    ccreid demo --variant CRE+BSGA --seeds 3 model.mask_head=true
    """
    from ccreid.demo import BUDGETS, run_demo

    if budget not in BUDGETS:
        raise typer.BadParameter(f"budget must be one of {', '.join(BUDGETS)}")
    if seeds < 1:
        raise typer.BadParameter(f"--seeds must be >= 1, got {seeds}")
    run_demo(
        out,
        budget,
        seed,
        console,
        seeds=seeds,
        overrides=overrides or [],
        overwrite=overwrite,
        scenes=scenes,
        variants=variant,
        video=video,
    )


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(help="Output folder.")],
    ids: Annotated[int, typer.Option(help="Number of training identities.")] = 100,
    test_ids: Annotated[int, typer.Option(help="Number of test identities.")] = 50,
    seed: Annotated[int, typer.Option()] = 0,
    workers: Annotated[int, typer.Option(help="Processes.")] = 1,
    video: Annotated[
        bool, typer.Option(help="Each tracklet as a short video, in the CCVID layout.")
    ] = False,
) -> None:
    """Write the synthetic clothes-changing dataset (VC-Clothes layout + ATR masks).

    Example: ccreid synth data/synthetic --ids 100 --seed 0
    """
    from rich.progress import Progress

    from ccreid.synthetic import SyntheticConfig, generate

    cfg = SyntheticConfig(train_ids=ids, test_ids=test_ids, seed=seed, video=video)
    total = cfg.num_images
    with Progress(console=console) as progress:
        task = progress.add_task("drawing", total=total)
        generate(out, cfg, workers=workers, progress=lambda n: progress.advance(task, n))
    layout, name = ("CCVID", "ccvid") if video else ("VC-Clothes", "vcclothes")
    console.print(f"wrote {total} images to {out / layout} and masks to {out / 'masks'}")
    console.print(f"read it with: load_dataset('{name}', '{out}', mask_root='{out / 'masks'}')")


@app.command()
def train(
    config: Annotated[
        Path, typer.Argument(help="YAML config file, or a packaged config name such as prcc/full.")
    ],
    overrides: Overrides = None,
    resume: Annotated[bool, typer.Option(help="Continue from the run's last checkpoint.")] = False,
    overwrite: Annotated[
        bool, typer.Option(help="Replace an existing run of the same name (its files are removed).")
    ] = False,
) -> None:
    """Train, evaluate on all eval sets, write the run folder.

    Example: ccreid train prcc/full train.epochs=2 data.root=/data/prcc
    """
    from ccreid.config import load_config
    from ccreid.engine import results_table, run_training
    from ccreid.engine.distributed import init_distributed

    cfg = load_config(config, overrides or [])
    if resume and overwrite:
        raise typer.BadParameter("--resume continues a run, --overwrite replaces it: pick one")
    result = run_training(cfg, resume=resume, console=err, overwrite=overwrite)
    if init_distributed().is_main:  # under torchrun, one table and one folder, not one per rank
        console.print(results_table(result.results))
        console.print(f"run folder: {result.run_dir}")


@app.command("eval")
def eval_cmd(
    config: Annotated[Path, typer.Argument(help="YAML config naming the dataset.")],
    checkpoint: Annotated[Path, typer.Option(help="A .safetensors checkpoint of `ccreid train`.")],
    overrides: Overrides = None,
    flip: Annotated[
        bool | None,
        typer.Option(
            "--flip/--no-flip",
            help="Fuse features of the image and its mirror (default: eval.flip).",
        ),
    ] = None,
    rerank: Annotated[
        bool | None,
        typer.Option(
            "--rerank/--no-rerank", help="k-reciprocal re-ranking (default: eval.rerank)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print top-1/5/10 and mAP for every eval set of the dataset.

    Example: ccreid eval configs/prcc/full.yaml --checkpoint runs/prcc-full/checkpoints/best.safetensors
    """
    from rich.progress import Progress

    from ccreid.config import load_config
    from ccreid.engine import results_table, run_evaluation

    cfg = load_config(config, overrides or [])
    timings: dict[str, float] = {}
    with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("embedding", total=None)
        results = run_evaluation(cfg, checkpoint, flip=flip, rerank=rerank, timings=timings,
                                 progress=lambda n: progress.advance(task, n))  # fmt: skip
    err.print(
        f"embedded {timings['images']} images in {timings['extract_s']:.1f} s "
        f"({timings['images'] / max(timings['extract_s'], 1e-9):.1f} images/s); "
        f"metrics {timings['metrics_s']:.1f} s"
    )
    if as_json:
        console.print_json(json.dumps({k: r.summary() for k, r in results.items()}))
    else:
        console.print(results_table(results))


@app.command()
def extract(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint of `ccreid train`.")],
    out: Annotated[
        Path,
        typer.Argument(help="Output .safetensors or .npy (a .csv of metadata is written beside)."),
    ],
    config: Annotated[Path | None, typer.Option(help="Config of the dataset to read.")] = None,
    split: Annotated[
        str, typer.Option(help="train, or <setting>/query or <setting>/gallery.")
    ] = "train",
    overrides: Overrides = None,
) -> None:
    """Write features of a dataset split to a file plus a metadata CSV.

    Example: ccreid extract runs/demo/runs/cre+bsga/checkpoints/best.safetensors feats.safetensors --split cc/gallery
    """
    from ccreid.engine.features_io import extract_split

    path, n = extract_split(checkpoint, out, config, split, overrides or [])
    console.print(f"wrote {n} features to {path}")


@app.command()
def visualize(
    run_dir: Annotated[
        list[Path], typer.Argument(help="One or more run folders of `ccreid train`.")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Report folder (default RUN_DIR/report).")
    ] = None,
    activations: Annotated[
        bool,
        typer.Option(help="Add the paper's Figure 1: each model's activation map, same queries."),
    ] = False,
) -> None:
    """Curves, ranked lists, attention maps and CRE examples of trained runs.

    Example: ccreid visualize runs/prcc-baseline-bctri runs/prcc-cre runs/prcc-full --activations
    """
    from ccreid.viz.run_report import build_report

    runs = dict(zip(unique_labels(run_dir), run_dir, strict=True))
    md, page = build_report(runs, out or run_dir[0] / "report", activations=activations)
    console.print(f"report: {page} and {md}")


@app.command()
def compare(
    run_dir: Annotated[list[Path], typer.Argument(help="Run folders of `ccreid train`.")],
    paper: Annotated[str, typer.Option(help="table3 (NKUP), table4, table5 or table6.")] = "table4",
    out: Annotated[Path | None, typer.Option(help="Also write the table as Markdown here.")] = None,
) -> None:
    """Lay run folders out as one of the paper's tables: ours / paper (difference).

    Example: ccreid compare runs/prcc-* runs/vcclothes-* --paper table4 --out table4.md
    """
    from ccreid.viz.compare import compare as compare_runs
    from ccreid.viz.compare import markdown, rows

    if out is not None:
        from ccreid.fileio import check_output_file

        check_output_file(out, ".md")
    comp = compare_runs(run_dir, paper)
    header, body = rows(comp)
    table = Table(title=f"{comp.table.caption} (ours / paper (difference), %)")
    for h in header:
        table.add_column(h, justify="left" if h == "row" else "right")
    for r in body:
        table.add_row(*r)
    console.print(table)
    for (label, dataset), paths in comp.runs.items():
        for p in paths:
            console.print(f"  {label} ({dataset}): {p}: {comp.protocols[p]}")
    if comp.unmatched:
        console.print(f"  not rows of {paper}: {', '.join(map(str, comp.unmatched))}")
    if out is not None:
        from ccreid.fileio import atomic_write_text

        atomic_write_text(out, markdown(comp))
        console.print(f"wrote {out}")


def unique_labels(paths: list[Path]) -> list[str]:
    """The shortest trailing part of each path that tells it from the others
    (``A/full`` and ``B/full`` stay two runs, not one)."""
    parts = [p.resolve().parts for p in paths]
    for depth in range(1, max(len(p) for p in parts) + 1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    raise typer.BadParameter("the same run folder is given twice")
