"""Sharing a trained model: ``ccreid package`` writes a model folder that ``ccreid.load``
(and every ``--model``) takes, and ``--push`` uploads it to the Hugging Face hub."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from ccreid.cli.app import JsonOption, app, console, print_json


@app.command()
def package(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="RUN_OR_CHECKPOINT",
            help="A run folder of `ccreid train` (the weights its test results were measured "
            "on), a checkpoint or a model folder.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The model folder to write.")],
    overwrite: Annotated[
        bool, typer.Option(help="Replace --out when it exists and is not empty.")
    ] = False,
    push: Annotated[
        str | None,
        typer.Option(
            "--push",
            metavar="REPO_ID",
            help="Then upload the folder to this Hugging Face hub repository (owner/name).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Write a model folder worth sharing: weights, resolved config, preprocessing, test
    metrics with their protocol (and a study's intervals) and a model card (README.md),
    laid out as a Hugging Face model repository. Nothing is uploaded without --push.

    Example: ccreid package runs/prcc-full -o models/prcc-full
    """
    from ccreid.modelfolder import package_model, push_model_folder

    folder = package_model(source, out, overwrite=overwrite, repo_id=push)
    pushed = push_model_folder(folder, push) if push is not None else None
    if as_json:
        print_json({"folder": str(folder), **({"pushed": pushed} if pushed else {})})
        return
    console.print(Text(f"model folder: {folder} (load it with ccreid.load({str(folder)!r}))"))
    if pushed:
        console.print(Text(f"pushed to {push}: {pushed}"))
