"""Training augmentation of whole batches where the model runs (``data.augment_on=device``).

The data workers hand over uint8 images and 7-part maps at the training size with each
sample's drawn parameters (`DeferredItem`, `ParamDraw`); `BatchAugment` applies them on the
model's device in a few batched tensor operations, each sample with its own flip, crop
offset and erasing boxes, and derives the CRE copy and the body mask there. Every step is
an exact integer operation (one gather for flip and crop, a comparison, a constant fill), so
the batch equals, bit for bit, the one the workers' own pipeline makes from the same seeds.
Normalisation follows in the training step (`InputNormalizer`) as for worker batches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ccreid.data.augment_params import BatchParams
from ccreid.data.images import DeferredItem, ReIDItem
from ccreid.data.transforms import AugmentConfig, erasing_fill
from ccreid.parsing import body_mask, erase_clothes

_EMPTY = torch.empty(0)


def window_index(p: BatchParams, height: int, width: int, pad: int) -> torch.Tensor:
    """(N, H*W) flat indices into each zero-padded (H + 2 pad, W + 2 pad) image of the
    pixels its flip and crop keep: RandomHorizontalFlip, Pad and RandomCrop as one gather
    (flipping before a symmetric pad is flipping after it)."""
    padded_width = width + 2 * pad
    rows = p.top[:, None] + torch.arange(height, device=p.top.device)
    cols = p.left[:, None] + torch.arange(width, device=p.top.device)
    cols = torch.where(p.flip[:, None], padded_width - 1 - cols, cols)
    return (rows[:, :, None] * padded_width + cols[:, None, :]).flatten(1)


def gather_window(x: torch.Tensor, index: torch.Tensor, pad: int) -> torch.Tensor:
    """(N, C, H, W) cut from the zero-padded batch at `window_index`'s pixels."""
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad)) if pad else x
    return padded.flatten(2).gather(2, index[:, None].expand(n, c, h * w)).view(n, c, h, w)


def erase_boxes(x: torch.Tensor, boxes: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """Fill each sample's box (N, 5: on, top, left, height, width) with ``fill`` (C,)."""
    h, w = x.shape[-2:]
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    on, top, left, bh, bw = (boxes[:, k, None, None] for k in range(5))
    inside = on.bool() & (rows >= top) & (rows < top + bh) & (cols >= left) & (cols < left + bw)
    return torch.where(inside[:, None], fill.to(x.device, x.dtype)[None, :, None, None], x)


class BatchAugment:
    """`DeferredItem` batch -> `ReIDItem` batch (uint8, on ``device``): flip, pad-and-crop,
    the CRE copy (``cre``), random erasing of the copy and of the image, the body mask
    (``masks``). Clips (B, T, ...) use their clip's row for every frame."""

    def __init__(self, cfg: AugmentConfig, cre: bool = False, masks: bool = False) -> None:
        self.flip, self.pad, self.erasing = cfg.flip > 0, cfg.pad, cfg.random_erasing > 0
        self.cre, self.masks = cre, masks
        self.fill = torch.tensor(erasing_fill(cfg), dtype=torch.uint8)

    def __call__(self, batch: DeferredItem, device: torch.device | None = None) -> ReIDItem:
        images = batch.image.to(device, non_blocking=True)
        parts = batch.parts.to(device, non_blocking=True)
        rows = batch.params.to(device, non_blocking=True)
        clip = images.ndim == 5
        if clip:  # frames as samples, each with its clip's row
            frames = images.shape[1]
            images, rows = images.flatten(0, 1), rows.repeat_interleave(frames, 0)
            parts = parts.flatten(0, 1) if parts.numel() else parts
        image, erased, mask = self.apply(images, parts, BatchParams.decode(rows))
        if clip:
            image, erased, mask = (
                t.unflatten(0, (-1, frames)) if t.numel() else t for t in (image, erased, mask)
            )
        empty = images.new_empty((len(batch.pid), 0), dtype=torch.float32)  # as collated
        erased, mask = (t if t.numel() else empty for t in (erased, mask))
        return ReIDItem(image, erased, mask, batch.pid, batch.camid, batch.clothes, batch.index)

    def apply(
        self, images: torch.Tensor, parts: torch.Tensor, p: BatchParams
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images (N, 3, H, W) and maps (N, 1, H, W) or empty -> image, CRE copy, mask."""
        if self.flip or self.pad > 0:
            index = window_index(p, *images.shape[-2:], self.pad)
            images = gather_window(images, index, self.pad)
            parts = gather_window(parts, index, self.pad) if parts.numel() else parts
        erased = erase_clothes(images, parts[:, 0]) if self.cre else _EMPTY
        if self.erasing:
            erased = erase_boxes(erased, p.copy_box, self.fill) if self.cre else erased
            images = erase_boxes(images, p.image_box, self.fill)
        mask = body_mask(parts) if self.masks else _EMPTY
        return images, erased, mask
