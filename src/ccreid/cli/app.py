"""The command line's shared objects: the typer app and its groups, the consoles, the
``--debug`` state. Commands live in the sibling modules, one per group of commands."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

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
# Messages carry paths, names and hints that may hold "[...]": these consoles never read
# markup or highlight, and never re-wrap a line, so every message prints verbatim. Style
# goes through ``style=`` or rich Text, never through "[red]...[/red]" in a string.
console = Console(markup=False, highlight=False, soft_wrap=True)
err = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)
STATE = {"debug": False}

Overrides = Annotated[
    list[str] | None, typer.Argument(help="key=value overrides, e.g. train.epochs=2")
]


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    STATE["debug"] = debug
