"""The `ccreid` command line: thin wrappers that parse arguments and call the library."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Clothes-changing person re-identification (CRE + BSGA).", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)  # fmt: skip
data_app = typer.Typer(help="Dataset utilities.", no_args_is_help=True)
app.add_typer(data_app, name="data")
console = Console()
err = Console(stderr=True)
STATE = {"debug": False}

Overrides = Annotated[
    list[str] | None, typer.Argument(help="key=value overrides, e.g. train.epochs=2")
]


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    STATE["debug"] = debug


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Output folder (data, runs, report).")] = Path(
        "runs/demo"
    ),
    budget: Annotated[str, typer.Option(help="fast (<= 10 min on 2 cores) or full.")] = "fast",
    seed: Annotated[int, typer.Option(help="Seed of data, sampling and initialisation.")] = 0,
) -> None:
    """Run the paper's ablation on the built-in synthetic dataset and write a report.

    Example: ccreid demo --out runs/demo --budget fast
    """
    from ccreid.demo import BUDGETS, run_demo

    if budget not in BUDGETS:
        raise typer.BadParameter(f"budget must be one of {', '.join(BUDGETS)}")
    run_demo(out, budget, seed, console)


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(help="Output folder.")],
    ids: Annotated[int, typer.Option(help="Number of training identities.")] = 100,
    test_ids: Annotated[int, typer.Option(help="Number of test identities.")] = 50,
    seed: Annotated[int, typer.Option()] = 0,
    workers: Annotated[int, typer.Option(help="Processes.")] = 1,
) -> None:
    """Write the synthetic clothes-changing dataset (VC-Clothes layout + ATR masks).

    Example: ccreid synth data/synthetic --ids 100 --seed 0
    """
    from rich.progress import Progress

    from ccreid.data.synthetic import SyntheticConfig, generate

    cfg = SyntheticConfig(train_ids=ids, test_ids=test_ids, seed=seed)
    total = (ids + test_ids) * cfg.images_per_camera * 4
    with Progress(console=console) as progress:
        task = progress.add_task("drawing", total=total)
        generate(out, cfg, workers=workers, progress=lambda n: progress.advance(task, n))
    console.print(f"wrote {total} images to {out / 'VC-Clothes'} and masks to {out / 'masks'}")
    console.print(f"read it with: load_dataset('vcclothes', '{out}', mask_root='{out / 'masks'}')")


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="YAML config (see configs/).")],
    overrides: Overrides = None,
    resume: Annotated[bool, typer.Option(help="Continue from the run's last checkpoint.")] = False,
) -> None:
    """Train, evaluate on all eval sets, write the run folder.

    Example: ccreid train configs/prcc/full.yaml train.epochs=2 data.root=/data/prcc
    """
    from ccreid.config import load_config
    from ccreid.engine import results_table, run_training

    cfg = load_config(config, overrides or [])
    result = run_training(cfg, resume=resume, console=err)
    console.print(results_table(result.results))
    console.print(f"run folder: {result.run_dir}")


@app.command("eval")
def eval_cmd(
    config: Annotated[Path, typer.Argument(help="YAML config naming the dataset.")],
    checkpoint: Annotated[Path, typer.Option(help="A .safetensors checkpoint of `ccreid train`.")],
    overrides: Overrides = None,
    flip: Annotated[bool, typer.Option(help="Fuse features of the image and its mirror.")] = False,
    rerank: Annotated[bool, typer.Option(help="k-reciprocal re-ranking.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print top-1/5/10 and mAP for every eval set of the dataset.

    Example: ccreid eval configs/prcc/full.yaml --checkpoint runs/prcc-full/checkpoints/best.safetensors
    """
    from ccreid.config import load_config
    from ccreid.engine import results_table, run_evaluation

    cfg = load_config(config, overrides or [])
    results = run_evaluation(cfg, checkpoint, flip=flip, rerank=rerank)
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


@data_app.command("stats")
def data_stats(
    name: Annotated[
        str,
        typer.Argument(help="Dataset name (prcc, vcclothes, ltcc, nkup, market1501, manifest)."),
    ],
    root: Annotated[Path, typer.Argument(help="Dataset folder.")],
    mask_root: Annotated[Path | None, typer.Option(help="Parsing mask folder.")] = None,
) -> None:
    """Identities, images, outfits and cameras per split.

    Example: ccreid data stats vcclothes data/synthetic --mask-root data/synthetic/masks
    """
    from ccreid.data import load_dataset

    data = load_dataset(name, root, mask_root)
    table = Table(title=f"{name} ({data.root})")
    rows = data.stats()
    for col in rows[0]:
        table.add_column(col, justify="left" if col == "split" else "right")
    for r in rows:
        table.add_row(*(str(v) for v in r.values()))
    console.print(table)
    for what, n in data.skipped.items():
        console.print(f"skipped {n} images: {what}")


@app.command()
def visualize(
    run_dir: Annotated[
        list[Path], typer.Argument(help="One or more run folders of `ccreid train`.")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Report folder (default RUN_DIR/report).")
    ] = None,
) -> None:
    """Curves, ranked lists, attention maps and CRE examples of trained runs.

    Example: ccreid visualize runs/prcc-full
    """
    from ccreid.viz.run_report import build_report

    runs = {p.name: p for p in run_dir}
    md, page = build_report(runs, out or run_dir[0] / "report")
    console.print(f"report: {page} and {md}")


def main() -> None:
    """Entry point: one-line errors (exit 1) unless --debug."""
    from ccreid.config import ConfigError
    from ccreid.data import DatasetError, ImageReadError
    from ccreid.engine import CheckpointError, TrainingDiverged

    expected = (ConfigError, DatasetError, ImageReadError, CheckpointError, TrainingDiverged,
                FileNotFoundError, PermissionError, KeyError, ValueError)  # fmt: skip
    try:
        app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the CLI's one error boundary
        if STATE["debug"] or not isinstance(exc, (*expected, __import__("click").ClickException)):
            raise
        if isinstance(exc, __import__("click").ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        message = str(exc).strip("'\"")
        err.print(f"[red]error:[/red] {message}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
