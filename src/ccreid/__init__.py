"""ccreid: clothes-changing person re-identification (CRE + BSGA + cross-clothes triplet)."""

__version__ = "0.1.0"
