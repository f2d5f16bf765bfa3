"""The one way a parsing label PNG is read, wherever masks are used (training, evaluation,
retrieval, `masks check`, plots), so a mask cannot pass one place and mean another."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ccreid.errors import CCReIDError

MAX_MASK_PIXELS = 40_000_000  # a label map larger than this is not a person crop


class LabelMapError(CCReIDError, ValueError):
    """A mask file that is not an 8-bit single-channel label image."""


def read_label_map(path: str | Path) -> np.ndarray:
    """(H, W) uint8 labels. Mode ``L`` stores labels as values; mode ``P`` (palette, as SCHP
    writes) stores them as palette indices, read as indices, never as luminance. RGB, LA
    or 16-bit files are refused: their values are colours, not labels."""
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_MASK_PIXELS:
                raise LabelMapError(
                    f"mask {path} is {im.width}x{im.height}: too large for a label map"
                )
            if im.mode not in ("L", "P"):
                raise LabelMapError(
                    f"mask {path} is a mode-{im.mode} image: expected an 8-bit single-channel "
                    "label PNG (mode L, or P with labels as palette indices)"
                )
            return np.array(im, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise LabelMapError(f"cannot read mask {path}: {exc}") from None
