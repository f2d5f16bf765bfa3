"""Commands on datasets and masks: data stats, parse, masks check, masks show."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from ccreid.cli.app import JsonOption, app, console, data_app, err, masks_app, print_json
from ccreid.data import DATASETS

DatasetName = Annotated[str, typer.Argument(help=f"Dataset name: {', '.join(DATASETS.names())}.")]


@data_app.command("stats")
def data_stats(
    name: DatasetName,
    root: Annotated[Path, typer.Argument(help="Dataset folder.")],
    mask_root: Annotated[Path | None, typer.Option(help="Parsing mask folder.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Identities, images (or tracklets and frames), outfits and cameras per split.

    Example: ccreid data stats vcclothes data/synthetic --mask-root data/synthetic/masks
    """
    from ccreid.data import load_dataset

    data = load_dataset(name, root, mask_root)
    rows = data.stats()
    if as_json:
        print_json({"dataset": name, "root": str(data.root), "splits": rows,
                    "skipped": data.skipped})  # fmt: skip
        return
    table = Table(title=f"{name} ({data.root})")
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
    out: Annotated[Path, typer.Option("--out", "-o", help="Mask folder mirroring ROOT.")],
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
    device: Annotated[
        str, typer.Option(help="Where the parser runs: cpu, cuda or cuda:N.")
    ] = "cpu",
    as_json: JsonOption = False,
) -> None:
    """Write 8-bit label PNGs for every image below ROOT (resumable, atomic).

    Example: ccreid parse data/prcc/rgb --out data/prcc-masks/rgb --model ./segformer_b2_clothes
    """
    import time

    from ccreid.errors import InputError
    from ccreid.parsing.parser import check_parse_options, count_images, parse_folder
    from ccreid.progress import progress

    try:
        check_parse_options(size, batch_size, schema, to_atr)
    except InputError as exc:
        raise typer.BadParameter(str(exc)) from None
    total = count_images(root) if root.is_dir() else None
    start = time.perf_counter()
    with progress(err, "parsing", total) as advance:
        report = parse_folder(root, out, model, schema, batch_size, bf16, size, from_schp, to_atr,
                              device, advance)  # fmt: skip
    rate = report.written / max(time.perf_counter() - start, 1e-9)
    _print_parse_report(report, rate, as_json)


def _print_parse_report(report, rate: float, as_json: bool) -> None:
    failed = [{"path": str(p), "why": why} for p, why in report.failed]
    if as_json:
        print_json({"written": report.written, "kept": report.skipped_existing,
                    "failed": failed, "images_per_s": round(rate, 2)})  # fmt: skip
    else:
        console.print(Text(f"wrote {report.written} masks ({rate:.1f} images/s), kept "
                           f"{report.skipped_existing} valid ones, {len(failed)} failed"))  # fmt: skip
        for f in failed[:10]:
            console.print(Text(f"  failed: {f['path']}: {f['why']}"))
    if report.failed:
        raise typer.Exit(1)


@masks_app.command("check")
def masks_check(
    root: Annotated[Path, typer.Argument(help="Image folder.")],
    mask_root: Annotated[Path, typer.Argument(help="Mask folder mirroring it.")],
    schema: Annotated[str, typer.Option(help="Label schema of the masks (atr or lip).")] = "atr",
    as_json: JsonOption = False,
) -> None:
    """Coverage, size mismatches and part histogram; exit 1 when incomplete.

    Example: ccreid masks check data/synthetic/VC-Clothes data/synthetic/masks/VC-Clothes
    """
    from ccreid.parsing import PART_NAMES
    from ccreid.parsing.masks import check_mask_folders

    res = check_mask_folders(root, mask_root, schema)
    total = max(int(res.part_pixels.sum()), 1)
    shares = {
        name: round(100 * int(n) / total, 1)
        for name, n in zip(PART_NAMES, res.part_pixels, strict=True)
    }
    if as_json:
        print_json({**res.counts(), "part_share_percent": shares,
                    "first_problems": [str(p) for p in res.problems()[:5]]})  # fmt: skip
    else:
        c = res.counts()
        console.print(Text(f"{c['images']} images, {c['masks']} masks; {c['missing']} images without "
                           f"mask, {c['orphans']} masks without image, {c['size_mismatch']} size "
                           f"mismatches, {c['bad_labels']} with labels outside {schema}"))  # fmt: skip
        for p in res.problems()[:5]:
            console.print(Text(f"  {p}"))
        table = Table(title="pixels per part")
        table.add_column("part")
        table.add_column("share", justify="right")
        for name, share in shares.items():
            table.add_row(name, f"{share:.1f}%")
        console.print(table)
    if not res.complete:
        raise typer.Exit(1)


@masks_app.command("show")
def masks_show(
    image: Annotated[Path, typer.Argument(help="An image.")],
    mask: Annotated[Path, typer.Option(help="Its label PNG.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output PNG.")] = Path("mask.png"),
    schema: Annotated[str, typer.Option(help="Label schema of the mask (atr or lip).")] = "atr",
) -> None:
    """Image, 7-part overlay, erased image and body mask side by side.

    Example: ccreid masks show img.jpg --mask img.png --out show.png
    """
    from ccreid.viz import show_mask

    console.print(Text(f"wrote {show_mask(image, mask, out, schema)}"))
