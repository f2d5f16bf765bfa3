"""The command line's shared objects and conventions: the typer app and its groups, the
consoles, the options every command spells alike, and the one place a command's config
is loaded. Commands live in the sibling modules, one per group of commands.

Every command follows these conventions:

- A model is given as `--model/-m`: a checkpoint of `ccreid train`, its run folder (its
  `best` checkpoint when it has one, else `last`) or a model folder of `ccreid package`.
  Where an index knows its model (`index add`, `search`, `serve`), `--model` is only needed
  when the model file moved. The old spellings (`--checkpoint`, a checkpoint given before
  the other arguments) still work for one release, with a warning.
- Every output file or folder is `--out/-o`.
- `--json` prints a command's results as JSON on stdout; messages go to stderr.
- `--device auto|cpu|cuda|cuda:N` says where a model runs (`auto`: a GPU when there is one).
- `-h` is `--help`; `ccreid --version` prints the version; `ccreid --install-completion`
  sets up shell completion.
- Exit codes: 0 done; 1 a problem with the input, said in one line `error: ...`
  (`ccreid --debug ...` shows the traceback); 2 a usage mistake; 130 interrupted. Anything
  else is a bug and shows its traceback.
- Long jobs (training, embedding, parsing) show a progress bar on a terminal, and off one
  (a log file, CI, a cluster job) a plain line every few seconds, flushed at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(help="Clothes-changing person re-identification (CRE + BSGA).", no_args_is_help=True,
                  pretty_exceptions_enable=False, context_settings=HELP)  # fmt: skip
data_app = typer.Typer(help="Dataset utilities.", no_args_is_help=True, context_settings=HELP)
app.add_typer(data_app, name="data")
masks_app = typer.Typer(help="Check and show parsing masks.", no_args_is_help=True,
                        context_settings=HELP)  # fmt: skip
app.add_typer(masks_app, name="masks")
index_app = typer.Typer(help="Build and extend a FAISS gallery index.", no_args_is_help=True,
                        context_settings=HELP)  # fmt: skip
app.add_typer(index_app, name="index")
export_app = typer.Typer(
    help="Export a trained model.", no_args_is_help=True, context_settings=HELP
)
app.add_typer(export_app, name="export")
# Messages carry paths, names and hints that may hold "[...]": these consoles never read
# markup or highlight, and never re-wrap a line, so every message prints verbatim. Style
# goes through ``style=`` or rich Text, never through "[red]...[/red]" in a string.
console = Console(markup=False, highlight=False, soft_wrap=True)
err = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)
STATE: dict = {"debug": False, "deprecations": []}

Overrides = Annotated[
    list[str] | None, typer.Argument(help="key=value overrides, e.g. train.epochs=2")
]
ModelOption = Annotated[
    Path | None,
    typer.Option(
        "--model",
        "-m",
        help="A checkpoint of `ccreid train`, its run folder, or a "
        "model folder of `ccreid package`.",
    ),  # fmt: skip
]
OldCheckpoint = Annotated[
    Path | None, typer.Option("--checkpoint", hidden=True, help="Deprecated: use --model.")
]
DeviceOption = Annotated[
    str,
    typer.Option(
        "--device",
        help="Where the model runs: auto (a GPU when there is one), cpu, cuda or cuda:N.",
    ),  # fmt: skip
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the results as JSON.")]


def _version(value: bool) -> None:
    if value:
        from ccreid import __version__

        console.print(f"ccreid {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    STATE["debug"] = debug


def deprecated(old: str, new: str) -> None:
    """Note that an old spelling was used: it still works for this release, and one line on
    stderr says so when the command succeeds (after its result; a failed command ends with
    its one error line)."""
    STATE["deprecations"].append(f"warning: {old} is deprecated and will be removed in the "
                                 f"next release: use {new}")  # fmt: skip


def print_deprecations() -> None:
    for line in dict.fromkeys(STATE["deprecations"]):
        err.print(Text(line), style="yellow")
    STATE["deprecations"].clear()


def model_of(model: Path | None, old: Path | None, *, required: bool = True) -> Path | None:
    """The ``--model`` of a command, from its old ``--checkpoint`` spelling too."""
    if old is not None:
        if model is not None and model != old:
            raise typer.BadParameter("give the model once: --model (--checkpoint is its old name)")
        deprecated("--checkpoint", "--model/-m")
        model = old
    if model is None and required:
        raise typer.BadParameter("missing --model/-m: a checkpoint, run folder or model folder")
    return model


def split_positionals(values: list[str] | None) -> tuple[list[str], list[str]]:
    """``key=value`` overrides and the plain positional values given before them (the old
    spellings of a model or an output)."""
    overrides = [v for v in values or [] if "=" in v]
    plain = [v for v in values or [] if "=" not in v]
    return plain, overrides


def load_cfg(config: Path | str | None, overrides: list[str]):
    """The one place a command's config is loaded (file or packaged name, then overrides)."""
    from ccreid.config import load_config

    return load_config(config, overrides)


def print_json(payload: object) -> None:
    import json

    console.print_json(json.dumps(payload))
