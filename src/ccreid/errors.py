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


class ConfigError(InputError):
    """A config file or override that does not fit the schema (the message names the key)."""


class MaskRequiredError(InputError):
    """A model whose attention needs body masks was asked to embed images without them.

    The one wording of the advice, whichever command or function meets it."""

    def __init__(self, model: object = "this model") -> None:
        super().__init__(
            f"{model} needs body masks (its BSGA attention is guided by them): give the "
            "parsing masks (`ccreid parse` makes them): --mask-root on the command line, set "
            "data.mask_root=<mask folder> in a config, masks= in Python; or use a model "
            "trained with a mask head (model.mask_head=true) with --mask-source predicted "
            "(model.mask_source=predicted)"
        )
