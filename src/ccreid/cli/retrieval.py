"""Commands for deployment: index build/add, search, serve, export onnx."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from ccreid.cli.app import app, console, err, export_app, index_app

MaskSourceOption = Annotated[
    str | None,
    typer.Option(
        "--mask-source",
        help="parser (masks from --mask-root) or predicted (the model's own mask head, no "
        "masks needed); default: the checkpoint's model.mask_source.",
    ),
]


def _tell_waiting(message: str) -> None:
    """An index writer waiting for another's lock says so instead of seeming stuck."""
    err.print(message, highlight=False, markup=False, soft_wrap=True)


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
    mask_source: MaskSourceOption = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the index already in --out.")
    ] = False,
) -> None:
    """Embed a gallery folder into a FAISS index with its metadata. An existing index in
    --out is replaced only with --overwrite; --out must not overlap the gallery folder.

    Example: ccreid index build best.safetensors data/gallery --out gallery.idx --mask-root data/gallery-masks
    """
    from ccreid.retrieval.service import build_index

    index = build_index(checkpoint, gallery, out, mask_root, kind, recall, mask_source,
                        overwrite=overwrite, on_wait=_tell_waiting)  # fmt: skip
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
    """Append images to an index (same model only). Two runs at once on one index both
    land: the second waits (up to two minutes) while the first saves.

    Example: ccreid index add gallery.idx new_images/ --mask-root new_masks/
    """
    from ccreid.retrieval.service import add_to_index

    index, skipped = add_to_index(index_dir, images, checkpoint, mask_root, _tell_waiting)
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
            console.print(s.path, style="bold")
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
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="Another host name clients use to reach the server (repeatable); requests "
            "naming any other host than these, the loopback names and --host are refused.",
        ),
    ] = None,
) -> None:
    """Search an index from a web page (/) and an HTTP API (/api/search, /api/info).

    Example: ccreid serve gallery.idx --port 8000 --parser mattmdjaga/segformer_b2_clothes
    """
    import os

    from ccreid.errors import require
    from ccreid.retrieval.server import ENV_PREFIX, create_app, load_searcher, served_hosts

    uvicorn = require("uvicorn", "serve", "ccreid serve")
    if workers < 1 or not 0 < port < 65536 or max_upload_mb < 1:
        raise typer.BadParameter("--workers and --max-upload-mb must be >= 1, --port in 1..65535")
    limit = max_upload_mb * 2**20
    hosts, warning = served_hosts(host, allowed_host or [])
    if warning:
        err.print(warning, markup=False, highlight=False, soft_wrap=True)
    searcher = load_searcher(index_dir, str(checkpoint) if checkpoint else None, parser)
    err.print(f"serving {searcher.index.index.ntotal} images on http://{host}:{port}/")
    if workers == 1:
        uvicorn.run(create_app(searcher, limit, hosts), host=host, port=port, log_level="warning")
        return
    os.environ.update({f"{ENV_PREFIX}INDEX": str(index_dir), f"{ENV_PREFIX}MAX_UPLOAD_BYTES": str(limit),
                       f"{ENV_PREFIX}ALLOWED_HOSTS": ",".join(hosts),
                       **({f"{ENV_PREFIX}CHECKPOINT": str(checkpoint)} if checkpoint else {}),
                       **({f"{ENV_PREFIX}PARSER": parser} if parser else {})})  # fmt: skip
    uvicorn.run("ccreid.retrieval.server:app_from_env", factory=True, host=host, port=port,
                workers=workers, log_level="warning")  # fmt: skip


@export_app.command("onnx")
def export_onnx_cmd(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint of `ccreid train`.")],
    out: Annotated[Path, typer.Argument(help="Output .onnx file.")],
    opset: Annotated[int, typer.Option(help="ONNX opset.")] = 18,
    mask_source: MaskSourceOption = None,
) -> None:
    """Export (image, mask) -> BN feature with dynamic batch; checked with ONNX Runtime.
    With --mask-source predicted the graph takes the image alone.

    Example: ccreid export onnx runs/prcc-full/checkpoints/best.safetensors prcc.onnx
    """
    from ccreid.retrieval.export import export_onnx

    report = export_onnx(checkpoint, out, opset, mask_source=mask_source)
    console.print(
        f"wrote {report.path}; ONNX Runtime vs PyTorch max abs difference {report.max_abs_diff:.2e}"
    )
