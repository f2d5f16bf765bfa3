"""Dataset layouts; importing this package registers them all."""

from ccreid.data.datasets import ltcc, manifest, market1501, nkup, prcc, vcclothes

__all__ = ["ltcc", "manifest", "market1501", "nkup", "prcc", "vcclothes"]
