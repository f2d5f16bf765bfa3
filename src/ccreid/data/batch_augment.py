"""Training augmentation of whole batches where the model runs (``data.augment_on=device``).

The data workers hand over decoded uint8 images and 7-part maps with each sample's drawn
parameters (`DeferredItem`, `ParamDraw`), collated by `DeferredCollate`; `BatchAugment`
applies them on the model's device in a few batched tensor operations: the resize of a
batch that arrives below the training size, then each sample's own flip, crop offset and
erasing boxes, and the CRE copy and the body mask. Flip, crop and erasing are exact integer
operations (one gather, a comparison, a constant fill); the resize is torchvision's, which
on the CPU gives each image of a batch the same pixels as resizing it alone. So on the CPU
the batch equals, bit for bit, the one the workers' own pipeline makes from the same seeds;
on CUDA the antialiased resize of uint8 runs in floating point and may differ from the
CPU's by rounding. Normalisation follows in the training step (`InputNormalizer`) as for
worker batches.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import default_collate

from ccreid.data.augment_params import BatchParams
from ccreid.data.encoded import JpegDecoder
from ccreid.data.images import DeferredItem, ReIDItem, at_one_size
from ccreid.data.transforms import AugmentConfig, erasing_fill, geometric_transform, resize_pair
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


class DeferredCollate:
    """The data loader's collation of `DeferredItem`s (in the worker): one batch tensor at
    the items' shared size, or at the training size when their sizes differ. A batch with
    JPEG bytes among its images (``data.decode_on=device``) keeps images and maps as lists,
    decoded and resized where the model runs."""

    def __init__(self, cfg: AugmentConfig) -> None:
        self.resize = geometric_transform(cfg, train=False)

    def __call__(self, items: list[DeferredItem]) -> DeferredItem:
        if all(it.image.ndim > 1 for it in items):
            return default_collate(at_one_size(items, self.resize))
        rest = default_collate([it._replace(image=_EMPTY, parts=_EMPTY) for it in items])
        # Copies: a tensor sent to the main process moves to shared memory in place, and a
        # cached one (``data.cache``) would keep its shared segment open for good.
        return rest._replace(image=[it.image.clone() for it in items],
                             parts=[it.parts.clone() for it in items])  # fmt: skip


class BatchAugment:
    """`DeferredItem` batch -> `ReIDItem` batch (uint8, on ``device``): the resize to the
    training size, flip, pad-and-crop, the CRE copy (``cre``), random erasing of the copy
    and of the image, the body mask (``masks``). Clips (B, T, ...) use their clip's row for
    every frame."""

    def __init__(
        self, cfg: AugmentConfig, cre: bool = False, masks: bool = False,
        paths: Sequence[str] = (),
    ) -> None:  # fmt: skip
        """``paths``: the training samples' files by index, named when one fails to decode
        here (``data.decode_on=device``)."""
        self.flip, self.pad, self.erasing = cfg.flip > 0, cfg.pad, cfg.random_erasing > 0
        self.decode = JpegDecoder(paths)
        self.cre, self.masks = cre, masks
        self.fill = torch.tensor(erasing_fill(cfg), dtype=torch.uint8)
        self.size = (cfg.height, cfg.width)
        self.resize = geometric_transform(cfg, train=False)

    def __call__(self, batch: DeferredItem, device: torch.device | None = None) -> ReIDItem:
        if isinstance(batch.image, list):
            images, parts = self._decoded(batch, torch.device(device or "cpu"))
        else:
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

    def _decoded(
        self, batch: DeferredItem, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of listed images (JPEG bytes among them) decoded on ``device``, each
        with its map at the training size."""
        decoded = self.decode(batch.image, batch.index, device)
        pairs = [resize_pair(self.resize, image, part.to(device))
                 for image, part in zip(decoded, batch.parts, strict=True)]  # fmt: skip
        images, parts = zip(*pairs, strict=True)
        return torch.stack(images), torch.stack(parts) if parts[0].numel() else _EMPTY

    def apply(
        self, images: torch.Tensor, parts: torch.Tensor, p: BatchParams
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images (N, 3, h, w) and maps (N, 1, h, w) or empty -> image, CRE copy, mask at
        the training size."""
        if tuple(images.shape[-2:]) != self.size:
            images, parts = resize_pair(self.resize, images, parts)
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
