"""Commands for deployment: index build/add, search, serve, export onnx."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from ccreid.cli.app import (
    DeviceOption,
    JsonOption,
    ModelOption,
    OldCheckpoint,
    app,
    console,
    deprecated,
    err,
    export_app,
    index_app,
    model_of,
    print_json,
)

MaskSourceOption = Annotated[
    str | None,
    typer.Option(
        "--mask-source",
        help="parser (masks from --mask-root) or predicted (the model's own mask head, no "
        "masks needed); default: the model's model.mask_source.",
    ),
]
IndexModelOption = Annotated[
    Path | None,
    typer.Option(
        "--model", "-m", help="The index's model, if it moved (its fingerprint is checked)."
    ),
]
LayoutOption = Annotated[
    str,
    typer.Option(
        "--layout",
        help="Whose file-name rules give each image's identity, camera and outfit: a dataset "
        "(vcclothes, ltcc, prcc, ...), auto (the one dataset whose rules read every file "
        "name) or none (no labels).",
    ),
]
ExcludeCameraOption = Annotated[
    bool,
    typer.Option("--exclude-same-camera", help="Only results from other cameras than the query's."),
]
OtherClothesOption = Annotated[
    bool,
    typer.Option(
        "--other-clothes-only", help="Drop results of the query's person in the query's outfit."
    ),
]
CameraOption = Annotated[
    list[int] | None, typer.Option("--camera", help="Only results from this camera (repeatable).")
]
LegacyPositionals = Annotated[
    list[Path] | None, typer.Argument(hidden=True, help="The old spelling: MODEL before the rest.")
]


def _tell_waiting(message: str) -> None:
    """An index writer waiting for another's lock says so instead of seeming stuck."""
    err.print(Text(message))


@index_app.command("build")
def index_build(
    paths: Annotated[
        list[Path], typer.Argument(help="GALLERY: a folder of gallery images (recursive).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Index folder to write.")],
    model: ModelOption = None,
    mask_root: Annotated[
        Path | None, typer.Option(help="Masks mirroring GALLERY (BSGA models).")
    ] = None,
    kind: Annotated[
        str, typer.Option(help="flat (exact), ivf or hnsw (approximate, for millions).")
    ] = "flat",
    recall: Annotated[
        float, typer.Option(help="ivf: probe lists until recall@10 vs exact search reaches this.")
    ] = 0.95,
    mask_source: MaskSourceOption = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the index already in --out.")
    ] = False,
    device: DeviceOption = "auto",
    layout: LayoutOption = "auto",
    as_json: JsonOption = False,
) -> None:
    """Embed a gallery folder into a FAISS index with its metadata (each image's identity,
    camera and outfit as --layout reads them from its name). An existing index in --out is
    replaced only with --overwrite; --out must not overlap the gallery folder.

    Example: ccreid index build data/gallery --model best.safetensors --out gallery.idx --mask-root data/gallery-masks
    """
    from ccreid.progress import progress
    from ccreid.retrieval.service import build_index

    if len(paths) == 2:
        deprecated(
            "`ccreid index build MODEL GALLERY`", "`ccreid index build GALLERY --model MODEL`"
        )
        model, paths = paths[0], paths[1:]
    if len(paths) != 1:
        raise typer.BadParameter("give one GALLERY folder (and the model as --model/-m)")
    with progress(err, "embedding the gallery") as advance:
        index = build_index(model_of(model, None), paths[0], out, mask_root, kind, recall,
                            mask_source, overwrite=overwrite, on_wait=_tell_waiting,
                            device=device, progress=advance, layout=layout)  # fmt: skip
    labels = index.info.get("layout") or "none (no layout reads these file names)"
    _print_index(index, out, as_json, f"indexed {index.index.ntotal} images, labels: {labels}")


def _print_index(index, folder: Path, as_json: bool, summary: str, skipped: int = 0,
                 details: bool = True) -> None:  # fmt: skip
    info = index.info
    if as_json:
        print_json({"index": str(folder), "size": index.index.ntotal, "skipped": skipped,
                    "layout": info.get("layout"),
                    **{k: info[k] for k in ("dim", "kind", "nprobe", "measured_recall")
                       if k in info}})  # fmt: skip
        return
    if skipped:
        console.print(f"skipped {skipped} image(s) already in the index")
    if not details:
        console.print(Text(summary))
        return
    tuned = (f", nprobe {info['nprobe']} (recall@10 {info['measured_recall']})"
             if info["kind"] == "ivf" else "")  # fmt: skip
    console.print(Text(f"{summary} ({info['dim']}-d, {info['kind']}{tuned}) in {folder}"))


@index_app.command("add")
def index_add(
    index_dir: Annotated[Path, typer.Argument(help="Index folder of `ccreid index build`.")],
    images: Annotated[list[Path], typer.Argument(help="Images or folders to append.")],
    mask_root: Annotated[Path | None, typer.Option(help="Masks mirroring the folder.")] = None,
    model: IndexModelOption = None,
    checkpoint: OldCheckpoint = None,
    device: DeviceOption = "auto",
    as_json: JsonOption = False,
) -> None:
    """Append images to an index (same model only). Two runs at once on one index both
    land: the second waits (up to two minutes) while the first saves.

    Example: ccreid index add gallery.idx new_images/ --mask-root new_masks/
    """
    from ccreid.progress import progress
    from ccreid.retrieval.service import add_to_index

    with progress(err, "embedding the new images") as advance:
        index, skipped = add_to_index(index_dir, images, model_of(model, checkpoint, required=False),
                                      mask_root, _tell_waiting, device=device, progress=advance)  # fmt: skip
    _print_index(index, index_dir, as_json, f"index now holds {index.index.ntotal} images", skipped,
                 details=False)  # fmt: skip


@app.command()
def search(
    index_dir: Annotated[Path, typer.Argument(help="Index folder.")],
    queries: Annotated[list[Path], typer.Argument(help="Query images.")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="Results per query.")] = 10,
    mask_root: Annotated[
        Path | None, typer.Option(help="Folder with <query name>.png masks.")
    ] = None,
    as_json: JsonOption = False,
    plot: Annotated[Path | None, typer.Option(help="Draw the ranked lists to this PNG.")] = None,
    model: IndexModelOption = None,
    checkpoint: OldCheckpoint = None,
    device: DeviceOption = "auto",
    exclude_same_camera: ExcludeCameraOption = False,
    other_clothes_only: OtherClothesOption = False,
    camera: CameraOption = None,
) -> None:
    """Rank the indexed gallery for each query image. The filters use each query's labels
    as the index's layout reads them from its file name.

    Example: ccreid search gallery.idx 0001-3-02-01.jpg --top-k 10 --exclude-same-camera --other-clothes-only
    """
    from dataclasses import asdict

    from ccreid.retrieval.index import index_info
    from ccreid.retrieval.service import query_labels
    from ccreid.retrieval.service import search as run_search

    if top_k < 1:
        raise typer.BadParameter(f"--top-k must be >= 1, got {top_k}")
    if plot is not None:
        from ccreid.fileio import check_output_file

        check_output_file(plot, ".png")  # before the search, not after it
    filters = {"exclude_same_camera": exclude_same_camera, "other_clothes_only": other_clothes_only,
               "cameras": tuple(camera) if camera else None}  # fmt: skip
    samples, hits = run_search(index_dir, queries, top_k, model_of(model, checkpoint, required=False),
                               mask_root, device=device, filters=filters)  # fmt: skip
    layout = index_info(index_dir).get("layout")
    labels = [query_labels(layout, s.path) for s in samples]
    if as_json:
        print_json([{"query": s.path, "labels": asdict(lab), "results": [asdict(h) for h in hs]}
                    for s, lab, hs in zip(samples, labels, hits, strict=True)])  # fmt: skip
    else:
        for s, hs in zip(samples, hits, strict=True):
            console.print(s.path, style="bold")
            for h in hs:
                console.print(Text(f"  {h.rank:>3}  {h.score:.4f}  {h.path}{_labels_text(h)}"))
    if plot is not None:
        from ccreid.viz import plot_hits

        console.print(Text(f"wrote {plot_hits(samples, hits, plot, top_k, labels)}"))


def _labels_text(hit) -> str:
    """A hit's known labels, e.g. "  id 12  cam 3  outfit 2" (nothing when none is known)."""
    parts = [f"{name} {value}" for name, value in
             (("id", hit.pid), ("cam", hit.camid), ("outfit", hit.clothes)) if value is not None]  # fmt: skip
    return "".join(f"  {p}" for p in parts)


@app.command()
def serve(
    index_dir: Annotated[Path, typer.Argument(help="Index folder of `ccreid index build`.")],
    host: Annotated[
        str, typer.Option(help="Address to bind (localhost only by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (each loads the model).")] = 1,
    model: IndexModelOption = None,
    checkpoint: OldCheckpoint = None,
    parser: Annotated[
        str | None, typer.Option(help="SegFormer parser (name or folder) that makes query masks.")
    ] = None,
    max_upload_mb: Annotated[int, typer.Option(help="Largest accepted request body.")] = 10,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="Another host name clients use to reach the server (repeatable); requests "
            "naming any other host than these, the loopback names and --host are refused.",
        ),
    ] = None,
    device: DeviceOption = "auto",
    max_batch: Annotated[
        int, typer.Option(help="Concurrent queries embedded together at most.")
    ] = 16,
    max_wait_ms: Annotated[
        float,
        typer.Option(
            help="How long a batch waits for queries still being decoded (a lone "
            "query never waits)."
        ),
    ] = 5.0,
) -> None:
    """Search an index from a web page (/) and an HTTP API (/api/search, /api/info).

    Example: ccreid serve gallery.idx --port 8000 --parser mattmdjaga/segformer_b2_clothes
    """
    from ccreid.retrieval.server import ServeOptions, run_server

    if workers < 1 or not 0 < port < 65536 or max_upload_mb < 1 or max_batch < 1:
        raise typer.BadParameter(
            "--workers, --max-batch and --max-upload-mb must be >= 1, --port in 1..65535"
        )
    if not 0 <= max_wait_ms <= 1000:
        raise typer.BadParameter(f"--max-wait-ms must be between 0 and 1000, got {max_wait_ms}")
    options = ServeOptions(
        index=index_dir, host=host, port=port, workers=workers,
        checkpoint=model_of(model, checkpoint, required=False), parser=parser,
        max_upload_bytes=max_upload_mb * 2**20, allowed_hosts=tuple(allowed_host or ()),
        device=device, max_batch=max_batch, max_wait_ms=max_wait_ms,
    )  # fmt: skip
    run_server(options, lambda line: err.print(Text(line)))


@export_app.command("onnx")
def export_onnx_cmd(
    legacy: LegacyPositionals = None,
    model: ModelOption = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output .onnx file.")] = None,
    opset: Annotated[int, typer.Option(help="ONNX opset.")] = 18,
    mask_source: MaskSourceOption = None,
    device: Annotated[
        str, typer.Option(help="Where the parity check's PyTorch reference runs: cpu or cuda.")
    ] = "cpu",
    as_json: JsonOption = False,
) -> None:
    """Export (image, mask) -> BN feature with dynamic batch; checked with ONNX Runtime.
    With --mask-source predicted the graph takes the image alone.

    Example: ccreid export onnx --model runs/prcc-full --out prcc.onnx
    """
    from ccreid.retrieval.export import export_onnx

    if legacy:
        deprecated("`ccreid export onnx MODEL OUT`", "`ccreid export onnx --model MODEL --out OUT`")
        model, out = legacy[0], legacy[1] if len(legacy) > 1 else out
    if out is None:
        raise typer.BadParameter("missing --out/-o: the .onnx file to write")
    report = export_onnx(model_of(model, None), out, opset, mask_source=mask_source, device=device)
    if as_json:
        print_json({"onnx": str(report.path), "inputs": list(report.inputs),
                    "max_abs_diff": report.max_abs_diff})  # fmt: skip
    else:
        console.print(Text(f"wrote {report.path}; ONNX Runtime vs PyTorch max abs difference "
                           f"{report.max_abs_diff:.2e}"))  # fmt: skip
