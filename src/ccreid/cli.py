"""The `ccreid` command line: thin wrappers that parse arguments and call the library."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Clothes-changing person re-identification (CRE + BSGA).", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)  # fmt: skip
data_app = typer.Typer(help="Dataset utilities.", no_args_is_help=True)
app.add_typer(data_app, name="data")
masks_app = typer.Typer(help="Check and show parsing masks.", no_args_is_help=True)
app.add_typer(masks_app, name="masks")
index_app = typer.Typer(help="Build and extend a FAISS gallery index.", no_args_is_help=True)
app.add_typer(index_app, name="index")
export_app = typer.Typer(help="Export a trained model.", no_args_is_help=True)
app.add_typer(export_app, name="export")
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
    budget: Annotated[
        str, typer.Option(help="fast (the README's demo) or full (longer).")
    ] = "fast",
    seed: Annotated[int, typer.Option(help="First seed of data, sampling and initialisation.")] = 0,
    seeds: Annotated[
        int, typer.Option(help="Number of seeds (seed, seed+1, ...): mean and spread.")
    ] = 1,
    overwrite: Annotated[bool, typer.Option(help="Replace an earlier demo in --out.")] = False,
    overrides: Overrides = None,
) -> None:
    """Run the paper's ablation on the built-in synthetic dataset and write a report.

    Example: ccreid demo --out runs/demo --budget fast --seeds 3
    """
    from ccreid.demo import BUDGETS, run_demo

    if budget not in BUDGETS:
        raise typer.BadParameter(f"budget must be one of {', '.join(BUDGETS)}")
    if seeds < 1:
        raise typer.BadParameter(f"--seeds must be >= 1, got {seeds}")
    run_demo(
        out, budget, seed, console, seeds=seeds, overrides=overrides or [], overwrite=overwrite
    )


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

    from ccreid.data.synthetic import SyntheticConfig, generate, min_outfit_pool

    pool = max(SyntheticConfig.outfit_pool, min_outfit_pool(test_ids))  # grows with test ids
    cfg = SyntheticConfig(train_ids=ids, test_ids=test_ids, seed=seed, outfit_pool=pool)
    total = cfg.num_images
    with Progress(console=console) as progress:
        task = progress.add_task("drawing", total=total)
        generate(out, cfg, workers=workers, progress=lambda n: progress.advance(task, n))
    console.print(f"wrote {total} images to {out / 'VC-Clothes'} and masks to {out / 'masks'}")
    console.print(f"read it with: load_dataset('vcclothes', '{out}', mask_root='{out / 'masks'}')")


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
def parse(
    root: Annotated[Path, typer.Argument(help="Image folder (parsed recursively).")],
    out: Annotated[Path, typer.Option("--out", help="Mask folder mirroring ROOT.")],
    model: Annotated[
        str, typer.Option(help="Hugging Face name or local folder of a SegFormer parser.")
    ] = "mattmdjaga/segformer_b2_clothes",
    schema: Annotated[
        str, typer.Option(help="Label schema the model must predict (atr or lip).")
    ] = "atr",
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 16,
    bf16: Annotated[
        bool, typer.Option(help="bf16 autocast (fast only on CPUs with native bf16).")
    ] = False,
    size: Annotated[int, typer.Option(help="Square input size of the parser.")] = 512,
    from_schp: Annotated[
        Path | None,
        typer.Option("--from-schp", help="Import label PNGs of SCHP or another parser instead."),
    ] = None,
    to_atr: Annotated[
        bool, typer.Option(help="With --from-schp --schema lip: convert LIP labels to ATR.")
    ] = False,
) -> None:
    """Write 8-bit label PNGs for every image below ROOT (resumable, atomic).

    Example: ccreid parse data/prcc/rgb --out data/prcc-masks/rgb --model ./segformer_b2_clothes
    """
    import time

    from rich.progress import Progress

    from ccreid.fileio import ensure_writable, refuse_nested_folders
    from ccreid.imagefiles import list_images
    from ccreid.parsing import get_schema
    from ccreid.parsing.parser import SegFormerParser, import_masks, parse_tree

    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    if size < 32 or batch_size < 1:
        raise typer.BadParameter(
            f"--size must be >= 32 and --batch-size >= 1, got {size}, {batch_size}"
        )
    refuse_nested_folders(root, out)  # before any model is loaded or any file written
    if to_atr and schema != "lip":
        raise typer.BadParameter(
            f"--to-atr converts LIP labels to ATR; the masks are read as --schema {schema}, "
            "so there is nothing to convert (use --schema lip for SCHP's LIP model)"
        )
    ensure_writable(out, create=False)  # before loading a model or reading any image
    if from_schp is not None:
        report = import_masks(from_schp, root, out, schema, to_atr)
    else:
        parser = SegFormerParser(model, schema, bf16=bf16, input_size=(size, size))
        total = len(list_images(root, recursive=True))
        start = time.perf_counter()
        with Progress(console=err) as progress:
            task = progress.add_task("parsing", total=total)
            report = parse_tree(root, out, parser, get_schema(schema), batch_size,
                                lambda n: progress.advance(task, n))  # fmt: skip
        rate = report.written / max(time.perf_counter() - start, 1e-9)
        console.print(f"{rate:.1f} images/s")
    console.print(
        f"wrote {report.written} masks, kept {report.skipped_existing} valid ones, {len(report.failed)} failed"
    )
    for path, why in report.failed[:10]:
        console.print(f"  failed: {path}: {why}")
    if report.failed:
        raise typer.Exit(1)


@masks_app.command("check")
def masks_check(
    root: Annotated[Path, typer.Argument(help="Image folder.")],
    mask_root: Annotated[Path, typer.Argument(help="Mask folder mirroring it.")],
    schema: Annotated[str, typer.Option()] = "atr",
) -> None:
    """Coverage, size mismatches and part histogram; exit 1 when incomplete.

    Example: ccreid masks check data/synthetic/VC-Clothes data/synthetic/masks/VC-Clothes
    """
    from ccreid.parsing import PART_NAMES, get_schema
    from ccreid.parsing.masks import check_masks

    for folder in (root, mask_root):
        if not folder.is_dir():
            raise FileNotFoundError(f"folder {folder} does not exist")
    res = check_masks(root, mask_root, get_schema(schema))
    console.print(f"{res.images} images, {res.masks} masks; {len(res.missing)} images without mask, "
                  f"{len(res.orphans)} masks without image, {len(res.size_mismatch)} size mismatches, "
                  f"{len(res.bad_labels)} with labels outside {schema}")  # fmt: skip
    for p in (res.missing + res.size_mismatch + res.bad_labels)[:5]:
        console.print(f"  {p}")
    total = max(int(res.part_pixels.sum()), 1)
    table = Table(title="pixels per part")
    table.add_column("part")
    table.add_column("share", justify="right")
    for name, n in zip(PART_NAMES, res.part_pixels, strict=True):
        table.add_row(name, f"{100 * n / total:.1f}%")
    console.print(table)
    if not res.complete:
        raise typer.Exit(1)


@masks_app.command("show")
def masks_show(
    image: Annotated[Path, typer.Argument(help="An image.")],
    mask: Annotated[Path, typer.Option(help="Its label PNG.")],
    out: Annotated[Path, typer.Option(help="Output PNG.")] = Path("mask.png"),
    schema: Annotated[str, typer.Option()] = "atr",
) -> None:
    """Image, 7-part overlay, erased image and body mask side by side.

    Example: ccreid masks show img.jpg --mask img.png --out show.png
    """
    from ccreid.data import Sample
    from ccreid.viz import cre_examples

    for f in (image, mask):
        if not f.is_file():
            raise FileNotFoundError(f"file {f} does not exist")
    from ccreid.fileio import check_output_file

    check_output_file(out, ".png")
    cre_examples([Sample(str(image), 0, 0, 0, str(mask))], out, schema)
    console.print(f"wrote {out}")


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


@app.command()
def serve(
    index_dir: Annotated[Path, typer.Argument(help="Index folder of `ccreid index build`.")],
    host: Annotated[
        str, typer.Option(help="Address to bind (localhost only by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (each loads the model).")] = 1,
    checkpoint: Annotated[Path | None, typer.Option(help="The index's model, if it moved.")] = None,
    parser: Annotated[
        str | None, typer.Option(help="SegFormer parser (name or folder) that makes query masks.")
    ] = None,
    max_upload_mb: Annotated[int, typer.Option(help="Largest accepted upload.")] = 10,
) -> None:
    """Search an index from a web page (/) and an HTTP API (/api/search, /api/info).

    Example: ccreid serve gallery.idx --port 8000 --parser mattmdjaga/segformer_b2_clothes
    """
    import os

    from ccreid.errors import require
    from ccreid.retrieval.server import ENV_PREFIX, create_app, load_searcher

    uvicorn = require("uvicorn", "serve", "ccreid serve")
    if workers < 1 or not 0 < port < 65536 or max_upload_mb < 1:
        raise typer.BadParameter("--workers and --max-upload-mb must be >= 1, --port in 1..65535")
    limit = max_upload_mb * 2**20
    searcher = load_searcher(index_dir, str(checkpoint) if checkpoint else None, parser)
    err.print(f"serving {searcher.index.index.ntotal} images on http://{host}:{port}/")
    if workers == 1:
        uvicorn.run(create_app(searcher, limit), host=host, port=port, log_level="warning")
        return
    os.environ.update({f"{ENV_PREFIX}INDEX": str(index_dir), f"{ENV_PREFIX}MAX_UPLOAD_BYTES": str(limit),
                       **({f"{ENV_PREFIX}CHECKPOINT": str(checkpoint)} if checkpoint else {}),
                       **({f"{ENV_PREFIX}PARSER": parser} if parser else {})})  # fmt: skip
    uvicorn.run("ccreid.retrieval.server:app_from_env", factory=True, host=host, port=port,
                workers=workers, log_level="warning")  # fmt: skip


@index_app.command("build")
def index_build(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint of `ccreid train`.")],
    gallery: Annotated[Path, typer.Argument(help="Folder of gallery images (recursive).")],
    out: Annotated[Path, typer.Option("--out", help="Index folder to write.")],
    mask_root: Annotated[
        Path | None, typer.Option(help="Masks mirroring GALLERY (BSGA models).")
    ] = None,
    kind: Annotated[
        str, typer.Option(help="flat (exact), ivf or hnsw (approximate, for millions).")
    ] = "flat",
    recall: Annotated[
        float, typer.Option(help="ivf: probe lists until recall@10 vs exact search reaches this.")
    ] = 0.95,
) -> None:
    """Embed a gallery folder into a FAISS index with its metadata.

    Example: ccreid index build best.safetensors data/gallery --out gallery.idx --mask-root data/gallery-masks
    """
    from ccreid.retrieval.service import build_index

    index = build_index(checkpoint, gallery, out, mask_root, kind, recall)
    tuned = (
        f", nprobe {index.info['nprobe']} (recall@10 {index.info['measured_recall']})"
        if kind == "ivf"
        else ""
    )
    console.print(
        f"indexed {index.index.ntotal} images ({index.info['dim']}-d, {kind}{tuned}) in {out}"
    )


@index_app.command("add")
def index_add(
    index_dir: Annotated[Path, typer.Argument(help="Index folder of `ccreid index build`.")],
    images: Annotated[list[Path], typer.Argument(help="Images or folders to append.")],
    mask_root: Annotated[Path | None, typer.Option(help="Masks mirroring the folder.")] = None,
    checkpoint: Annotated[
        Path | None, typer.Option(help="Defaults to the index's own model.")
    ] = None,
) -> None:
    """Append images to an index (same model only).

    Example: ccreid index add gallery.idx new_images/ --mask-root new_masks/
    """
    from ccreid.retrieval.service import add_to_index

    index, skipped = add_to_index(index_dir, images, checkpoint, mask_root)
    if skipped:
        console.print(f"skipped {skipped} image(s) already in the index")
    console.print(f"index now holds {index.index.ntotal} images")


@app.command()
def search(
    index_dir: Annotated[Path, typer.Argument(help="Index folder.")],
    queries: Annotated[list[Path], typer.Argument(help="Query images.")],
    top_k: Annotated[int, typer.Option(help="Results per query.")] = 10,
    mask_root: Annotated[
        Path | None, typer.Option(help="Folder with <query name>.png masks.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    plot: Annotated[Path | None, typer.Option(help="Draw the ranked lists to this PNG.")] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="The index's model, if it moved (its fingerprint is checked)."),
    ] = None,
) -> None:
    """Rank the indexed gallery for each query image.

    Example: ccreid search gallery.idx query.jpg --top-k 10 --mask-root query_masks/ --plot ranks.png
    """
    from dataclasses import asdict

    from ccreid.retrieval.service import search as run_search

    if top_k < 1:
        raise typer.BadParameter(f"--top-k must be >= 1, got {top_k}")
    if plot is not None:
        from ccreid.fileio import check_output_file

        check_output_file(plot, ".png")  # before the search, not after it
    samples, hits = run_search(index_dir, queries, top_k, checkpoint, mask_root)
    if as_json:
        console.print_json(json.dumps([{"query": s.path, "results": [asdict(h) for h in hs]}
                                       for s, hs in zip(samples, hits, strict=True)]))  # fmt: skip
    else:
        for s, hs in zip(samples, hits, strict=True):
            console.print(f"[bold]{s.path}[/bold]")
            for h in hs:
                console.print(f"  {h.rank:>3}  {h.score:.4f}  {h.path}")
    if plot is not None:
        from ccreid.data import Sample
        from ccreid.viz import ranked_lists

        gallery = [Sample(h.path, h.pid, h.camid, h.clothes) for hs in hits for h in hs]
        bounds = np.cumsum([0, *(len(hs) for hs in hits)])
        orders = [np.arange(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        ranked_lists(samples, gallery, {"search": orders}, plot, top_k=top_k)
        console.print(f"wrote {plot}")


@export_app.command("onnx")
def export_onnx_cmd(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint of `ccreid train`.")],
    out: Annotated[Path, typer.Argument(help="Output .onnx file.")],
    opset: Annotated[int, typer.Option(help="ONNX opset.")] = 18,
) -> None:
    """Export (image, mask) -> BN feature with dynamic batch; checked with ONNX Runtime.

    Example: ccreid export onnx runs/prcc-full/checkpoints/best.safetensors prcc.onnx
    """
    from ccreid.retrieval.export import export_onnx

    report = export_onnx(checkpoint, out, opset)
    console.print(
        f"wrote {report.path}; ONNX Runtime vs PyTorch max abs difference {report.max_abs_diff:.2e}"
    )


def unique_labels(paths: list[Path]) -> list[str]:
    """The shortest trailing part of each path that tells it from the others
    (``A/full`` and ``B/full`` stay two runs, not one)."""
    parts = [p.resolve().parts for p in paths]
    for depth in range(1, max(len(p) for p in parts) + 1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    raise typer.BadParameter("the same run folder is given twice")


def _click_exception() -> type[Exception]:
    """The ClickException class typer really raises (it may vendor its own click)."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def main() -> None:
    """Entry point. Usage mistakes: click's short usage message (exit 2). The project's own
    errors and OS errors: one line (exit 1) unless --debug. Anything else is a bug: its
    traceback and a request to report it."""
    import traceback

    from ccreid.errors import CCReIDError

    click_error = _click_exception()
    try:
        code = app(standalone_mode=False)  # click returns the code of typer.Exit here
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted (a training run keeps the checkpoint of its last complete epoch: "
                  "--resume continues from there)")  # fmt: skip
        sys.exit(130)
    except click_error as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (CCReIDError, OSError) as exc:
        if STATE["debug"]:
            raise
        err.print(f"[red]error:[/red] {_message(exc)}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except Exception:  # noqa: BLE001 - a bug: keep the traceback, ask for a report
        traceback.print_exc()
        err.print(
            "[red]This is a bug in ccreid, not a problem with your input.[/red] Please report it "
            "with the command you ran and the traceback above.", highlight=False, soft_wrap=True,
        )  # fmt: skip
        sys.exit(1)


def _message(exc: BaseException) -> str:
    """The error as the user should read it: OS errors name the file first."""
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    text = str(exc).strip("'\"")
    if "Original Traceback" in text:  # re-raised from a DataLoader worker: its own message
        last = text.strip().splitlines()[-1]
        text = last.split(": ", 1)[1] if ": " in last else last
    return text


if __name__ == "__main__":
    main()
