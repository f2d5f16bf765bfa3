"""Commands on datasets and masks: data stats, parse, masks check, masks show."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ccreid.cli.app import app, console, data_app, err, masks_app


@data_app.command("stats")
def data_stats(
    name: Annotated[
        str,
        typer.Argument(
            help="Dataset name (prcc, vcclothes, ltcc, nkup, market1501, last, "
            "deepchange, ccvid, manifest)."
        ),
    ],
    root: Annotated[Path, typer.Argument(help="Dataset folder.")],
    mask_root: Annotated[Path | None, typer.Option(help="Parsing mask folder.")] = None,
) -> None:
    """Identities, images (or tracklets and frames), outfits and cameras per split.

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
