"""Dataset layouts; importing this package registers them all."""

from ccreid.data.datasets import (
    ccvid,
    deepchange,
    last,
    ltcc,
    manifest,
    market1501,
    nkup,
    prcc,
    vcclothes,
)

__all__ = ["ccvid", "deepchange", "last", "ltcc", "manifest", "market1501", "nkup", "prcc",
           "vcclothes"]  # fmt: skip
