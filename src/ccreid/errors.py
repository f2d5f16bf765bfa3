"""The project's error types share one base, so the CLI's error boundary can show these
as one-line messages and let every other exception (a bug) keep its traceback."""

from __future__ import annotations


class CCReIDError(Exception):
    """Base of every error that describes bad input, files or settings, not a bug."""


class UnknownNameError(CCReIDError, KeyError):
    """A registry lookup of a name nobody registered (dataset, attention, backbone...)."""

    def __str__(self) -> str:  # KeyError would print the message with quotes
        return str(self.args[0]) if self.args else ""


class MissingExtraError(CCReIDError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""


def require(module: str, extra: str, purpose: str):
    """Import an optional dependency or say which extra brings it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f"{purpose} needs the '{module}' package: pip install 'ccreid[{extra}]'"
        ) from None


class InputError(CCReIDError, ValueError):
    """An argument, file or setting that the function cannot use (the message says why)."""
