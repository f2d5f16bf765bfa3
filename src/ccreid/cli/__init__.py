"""The `ccreid` command line: thin wrappers that parse arguments and call the library.

Importing this package registers every command on `app`; `main` is the console
script and the one error boundary."""

from __future__ import annotations

import sys

import typer
from rich.text import Text

from ccreid.cli import datasets, experiments, retrieval, sharing, studies  # noqa: F401  (registers the commands)
from ccreid.cli.app import STATE, app, err, print_deprecations
from ccreid.cli.experiments import unique_labels

__all__ = ["app", "main", "unique_labels"]


def _click_exception() -> type[Exception]:
    """The ClickException class typer really raises (it may vendor its own click)."""
    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def main() -> None:
    """Entry point. Usage mistakes: click's short usage message (exit 2). The project's own
    errors and OS errors: one line (exit 1) unless --debug. Anything else is a bug: its
    traceback and a request to report it."""
    STATE["deprecations"].clear()  # this invocation's notes only (a failed one left its own)
    _run(_click_exception())
    print_deprecations()  # after a successful command; a failed one ends with its error


def _run(click_error: type[Exception]) -> None:
    """The command, with errors turned into exit codes (see :func:`main`)."""
    import traceback

    from ccreid.errors import CCReIDError

    try:
        code = app(standalone_mode=False)  # click returns the code of typer.Exit here
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Exit as exc:
        if not exc.exit_code:
            print_deprecations()
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
        err.print(Text.assemble(("error:", "red"), " ", _message(exc)))
        sys.exit(1)
    except Exception:  # noqa: BLE001 - a bug: keep the traceback, ask for a report
        traceback.print_exc()
        err.print(Text.assemble(
            ("This is a bug in ccreid, not a problem with your input.", "red"),
            " Please report it with the command you ran and the traceback above.",
        ))  # fmt: skip
        sys.exit(1)


def _message(exc: BaseException) -> str:
    """The error as the user should read it, verbatim: OS errors name the file first; a
    KeyError's message loses only the quotes its repr adds."""
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    one_key = isinstance(exc, KeyError) and len(exc.args) == 1
    text = str(exc.args[0]) if one_key else str(exc)
    if "Original Traceback" in text:  # re-raised from a DataLoader worker: its own message
        last = text.strip().splitlines()[-1]
        text = last.split(": ", 1)[1] if ": " in last else last
    return text


if __name__ == "__main__":
    main()
