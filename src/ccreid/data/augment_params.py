"""One training sample's random augmentation, drawn without touching its pixels.

With ``data.augment_on=device`` a data worker only decodes (and shrinks large images); it
draws the sample's flip, crop offset and random-erasing boxes here, from its seed and in the
order the worker pipeline draws them (flip, crop, the CRE copy's box, the image's box), by
the very transforms that pipeline is made of. So a sample's augmentation does not depend on
where it runs, and resume stays bit-exact either way. The draws travel as one small int32
row per sample (`ParamDraw`), read back per batch as `BatchParams`.
"""

from __future__ import annotations

from typing import NamedTuple, TypeVar

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from ccreid.data.transforms import AugmentConfig, geometric_transform, pixel_transform

# Columns of a parameter row: flip, crop top, crop left, then (on, top, left, height, width)
# of the CRE copy's erasing box and of the image's.
NUM_PARAMS = 13
_NO_BOX = (0, 0, 0, 0, 0)
_T = TypeVar("_T", bound=v2.Transform)


def _step(steps: list[v2.Transform], kind: type[_T]) -> _T | None:
    return next((t for t in steps if isinstance(t, kind)), None)


def _shape_only(height: int, width: int) -> tv_tensors.Image:
    """An image the transforms read the size of (their draws depend on nothing else)."""
    return tv_tensors.Image(torch.empty((3, height, width), dtype=torch.uint8))


def _fires(transform: v2.Transform) -> bool:
    """The coin of a random-apply transform, tossed as torchvision's own forward does."""
    return not bool(torch.rand(1) >= transform.p)


class ParamDraw:
    """Draws a training sample's parameters as a row of `NUM_PARAMS` int32, consuming torch's
    global generator exactly as ``geometric_transform`` then ``pixel_transform`` (on the CRE
    copy, then on the image) consume it in `ReIDImageDataset`."""

    def __init__(self, cfg: AugmentConfig, cre: bool) -> None:
        steps = list(geometric_transform(cfg, train=True).transforms)
        self.flip = _step(steps, v2.RandomHorizontalFlip)
        self.crop = _step(steps, v2.RandomCrop)
        self.erasing = pixel_transform(cfg, train=True)
        self.cre = cre
        self._padded = _shape_only(cfg.height + 2 * cfg.pad, cfg.width + 2 * cfg.pad)
        self._image = _shape_only(cfg.height, cfg.width)

    def __call__(self) -> torch.Tensor:
        flip = self.flip is not None and _fires(self.flip)
        top = left = 0
        if self.crop is not None:
            crop = self.crop.make_params([self._padded])
            top, left = crop["top"], crop["left"]
        copy_box = self._box() if self.cre else _NO_BOX
        image_box = self._box()
        return torch.tensor([int(flip), top, left, *copy_box, *image_box], dtype=torch.int32)

    def _box(self) -> tuple[int, int, int, int, int]:
        """(1, top, left, height, width) of an erased box, or zeros when nothing is erased
        (the coin said no, or no box fitted in ten tries)."""
        if self.erasing is None or not _fires(self.erasing):
            return _NO_BOX
        p = self.erasing.make_params([self._image])
        return _NO_BOX if p["v"] is None else (1, p["i"], p["j"], p["h"], p["w"])


class BatchParams(NamedTuple):
    """A batch of parameter rows by column, as int64 on the rows' device."""

    flip: torch.Tensor  # (N,) bool
    top: torch.Tensor  # (N,) crop offset in the padded image
    left: torch.Tensor
    copy_box: torch.Tensor  # (N, 5): on, top, left, height, width
    image_box: torch.Tensor

    @classmethod
    def decode(cls, rows: torch.Tensor) -> BatchParams:
        if rows.ndim != 2 or rows.shape[1] != NUM_PARAMS:
            raise ValueError(f"expected (N, {NUM_PARAMS}) parameter rows, got {tuple(rows.shape)}")
        r = rows.long()
        return cls(r[:, 0].bool(), r[:, 1], r[:, 2], r[:, 3:8], r[:, 8:13])
