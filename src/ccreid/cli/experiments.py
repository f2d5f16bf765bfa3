"""Commands that train, evaluate and report: demo, synth, train, eval, extract, visualize,
compare."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from ccreid.cli.app import (
    DeviceOption,
    JsonOption,
    ModelOption,
    OldCheckpoint,
    Overrides,
    app,
    console,
    deprecated,
    err,
    load_cfg,
    model_of,
    print_json,
    split_positionals,
)


@app.command()
def demo(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (data, runs, report).")
    ] = Path("runs/demo"),
    budget: Annotated[
        str, typer.Option(help="fast (the README's demo), full (longer) or tiny (a smoke test).")
    ] = "fast",
    seed: Annotated[int, typer.Option(help="First seed of data, sampling and initialisation.")] = 0,
    seeds: Annotated[
        int, typer.Option(help="Number of seeds (seed, seed+1, ...): mean and spread.")
    ] = 1,
    overwrite: Annotated[bool, typer.Option(help="Replace an earlier demo in --out.")] = False,
    resume: Annotated[
        bool,
        typer.Option(
            help="Continue an earlier demo in --out: finished runs are kept, "
            "missing seeds or variants are trained."
        ),
    ] = False,
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
    as_json: JsonOption = False,
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
    if overwrite and resume:
        raise typer.BadParameter("--overwrite starts again and --resume continues: pass one")
    page = run_demo(out, budget, seed, err if as_json else console, seeds=seeds,
                    overrides=overrides or [], overwrite=overwrite, scenes=scenes,
                    variants=variant, video=video, resume=resume)  # fmt: skip
    if as_json:
        import json

        print_json({"report": str(page), **json.loads((out / "summary.json").read_text())})


@app.command()
def synth(
    legacy_out: Annotated[
        Path | None, typer.Argument(hidden=True, help="Deprecated: --out.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder.")] = None,
    ids: Annotated[int, typer.Option(help="Number of training identities.")] = 100,
    test_ids: Annotated[int, typer.Option(help="Number of test identities.")] = 50,
    seed: Annotated[int, typer.Option(help="Seed of the whole drawing.")] = 0,
    workers: Annotated[int, typer.Option(help="Processes.")] = 1,
    video: Annotated[
        bool, typer.Option(help="Each tracklet as a short video, in the CCVID layout.")
    ] = False,
) -> None:
    """Write the synthetic clothes-changing dataset (VC-Clothes layout + ATR masks).

    Example: ccreid synth --out data/synthetic --ids 100 --seed 0
    """
    from ccreid.progress import progress
    from ccreid.synthetic import SyntheticConfig, generate

    if legacy_out is not None:
        deprecated("`ccreid synth OUT`", "`ccreid synth --out OUT`")
    out = out or legacy_out
    if out is None:
        raise typer.BadParameter("missing --out/-o: the folder to write the dataset to")
    cfg = SyntheticConfig(train_ids=ids, test_ids=test_ids, seed=seed, video=video)
    with progress(console, "drawing", cfg.num_images) as advance:
        generate(out, cfg, workers=workers, progress=advance)
    layout, name = ("CCVID", "ccvid") if video else ("VC-Clothes", "vcclothes")
    console.print(
        Text(f"wrote {cfg.num_images} images to {out / layout} and masks to {out / 'masks'}")
    )
    console.print(
        Text(f"read it with: load_dataset('{name}', '{out}', mask_root='{out / 'masks'}')")
    )


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
    as_json: JsonOption = False,
) -> None:
    """Train, evaluate on all eval sets, write the run folder.

    Example: ccreid train prcc/full train.epochs=2 data.root=/data/prcc
    """
    from ccreid.engine import run_training
    from ccreid.engine.distributed import init_distributed

    if resume and overwrite:
        raise typer.BadParameter("--resume continues a run, --overwrite replaces it: pick one")
    cfg = load_cfg(config, overrides or [])
    result = run_training(cfg, resume=resume, console=err if as_json else console,
                          overwrite=overwrite)  # fmt: skip
    if not init_distributed().is_main:  # under torchrun, one table and one folder, not one per rank
        return
    if as_json:
        print_json({"run": str(result.run_dir),
                    "results": {k: r.metrics() for k, r in result.results.items()}})  # fmt: skip
    else:  # the run's log has already shown the table
        console.print(Text(f"run folder: {result.run_dir}"))


@app.command("eval")
def eval_cmd(
    positionals: Annotated[
        list[str] | None,
        typer.Argument(
            help="[CONFIG] naming the dataset (default: the model's own training "
            "config), then key=value overrides."
        ),  # fmt: skip
    ] = None,
    model: ModelOption = None,
    checkpoint: OldCheckpoint = None,
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
    device: DeviceOption = "auto",
    as_json: JsonOption = False,
) -> None:
    """Print every metric for every eval set of the dataset.

    Example: ccreid eval prcc/full --model runs/prcc-full
    """
    from ccreid.engine import run_evaluation
    from ccreid.evaluation import results_table
    from ccreid.progress import progress

    plain, overrides = split_positionals(positionals)
    if len(plain) > 1:
        raise typer.BadParameter(f"one CONFIG at most, got {plain}")
    model_path = model_of(model, checkpoint)
    cfg = load_cfg(plain[0], overrides) if plain else None
    timings: dict[str, float] = {}
    with progress(err, "embedding") as advance:
        results = run_evaluation(cfg, model_path, flip=flip, rerank=rerank, timings=timings,
                                 progress=advance, device=device, overrides=overrides,
                                 console=err if as_json else console)  # fmt: skip
    err.print(Text(
        f"embedded {timings['images']} images in {timings['extract_s']:.1f} s "
        f"({timings['images'] / max(timings['extract_s'], 1e-9):.1f} images/s); "
        f"metrics {timings['metrics_s']:.1f} s"
    ))  # fmt: skip
    if as_json:
        print_json({k: r.metrics() for k, r in results.items()})
    else:
        console.print(results_table(results))


@app.command()
def extract(
    positionals: Annotated[
        list[str] | None,
        typer.Argument(help="key=value overrides (MODEL OUT here is the old spelling)."),
    ] = None,
    model: ModelOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Output .safetensors or .npy (a .csv of metadata beside)."
        ),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Config of the dataset to read.")] = None,
    split: Annotated[
        str, typer.Option(help="train, or <setting>/query or <setting>/gallery.")
    ] = "train",
    device: DeviceOption = "auto",
    as_json: JsonOption = False,
) -> None:
    """Write features of a dataset split to a file plus a metadata CSV.

    Example: ccreid extract --model runs/demo/seed-0/runs/cre-plus-bsga --out feats.safetensors --split cc/gallery
    """
    from ccreid.engine.features_io import extract_split
    from ccreid.progress import progress

    plain, overrides = split_positionals(positionals)
    if plain:
        deprecated("`ccreid extract MODEL OUT`", "`ccreid extract --model MODEL --out OUT`")
        model, out = (Path(plain[0]), Path(plain[1]) if len(plain) > 1 else out)
    model = model_of(model, None)
    if out is None:
        raise typer.BadParameter("missing --out/-o: the .safetensors or .npy file to write")
    with progress(err, "embedding") as advance:
        path, n = extract_split(model, out, config, split, overrides, device, advance)
    if as_json:
        print_json({"features": str(path), "metadata": str(path.with_suffix(".csv")), "count": n})
    else:
        console.print(Text(f"wrote {n} features to {path}"))


@app.command()
def visualize(
    run_dir: Annotated[
        list[Path], typer.Argument(help="One or more run folders of `ccreid train`.")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Report folder (default RUN_DIR/report).")
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
    console.print(Text(f"report: {page} and {md}"))


@app.command()
def compare(
    run_dir: Annotated[
        list[Path],
        typer.Argument(
            help="Run folders of `ccreid train`, or the study.json of a `ccreid "
            "study` (all its runs, with their intervals)."
        ),
    ],
    paper: Annotated[str, typer.Option(help="table3 (NKUP), table4, table5 or table6.")] = "table4",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write the table as Markdown here.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Lay run folders out as one of the paper's tables: ours / paper (difference).

    Example: ccreid compare runs/prcc-* runs/vcclothes-* --paper table4 --out table4.md

    A study's cells also show its 95% CI and whether the paper's number lies inside it:
    ccreid compare runs/prcc-study/study.json --paper table4
    """
    from ccreid.viz.compare import LEGEND, compare_to_paper

    comp = compare_to_paper(run_dir, paper, out)
    if as_json:
        print_json(comp.as_dict())
        return
    table = Table(title=f"{comp.table.caption} (ours / paper (difference), %)")
    header, body = comp.rows()
    for h in header:
        table.add_column(h, justify="left" if h == "row" else "right")
    for r in body:
        table.add_row(*r)
    console.print(table)
    if comp.intervals:
        console.print(Text(LEGEND))
    for line in comp.run_lines():
        console.print(Text(f"  {line}"))
    if out is not None:
        console.print(Text(f"wrote {out}"))


def unique_labels(paths: list[Path]) -> list[str]:
    """The shortest trailing part of each path that tells it from the others
    (``A/full`` and ``B/full`` stay two runs, not one)."""
    parts = [p.resolve().parts for p in paths]
    for depth in range(1, max(len(p) for p in parts) + 1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    raise typer.BadParameter("the same run folder is given twice")
