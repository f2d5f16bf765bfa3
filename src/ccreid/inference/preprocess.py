"""What a trained model reads, from what a user has: image files, PIL images, numpy
arrays or tensors, and their masks as label maps or binary masks.

Every input goes through the same steps as a dataset image in evaluation (decode to uint8
RGB, 16-bit scaled to 8, resize with antialiasing; masks resized by nearest neighbour and
turned into the body mask), so an image embedded from Python, by ``ccreid search`` or by
``ccreid serve`` gives the same feature as in ``ccreid eval``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ccreid.data.images import read_image, read_parts
from ccreid.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    AugmentConfig,
    apply_geometric,
    geometric_transform,
)
from ccreid.errors import InputError
from ccreid.parsing import body_mask, get_schema, to_parts

ImageLike = str | Path | Image.Image | np.ndarray | torch.Tensor
MaskLike = str | Path | Image.Image | np.ndarray | torch.Tensor
BINARY = "binary"  # a mask "schema": values are 0 (background) and 1 (body)


@dataclass(frozen=True)
class Preprocessing:
    """How a model's inputs are made: its image size, normalisation and parsing schema
    (they travel with the model, so no caller decides them again)."""

    height: int
    width: int
    schema: str = "atr"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @property
    def augment(self) -> AugmentConfig:
        """The evaluation transform's settings (resize only)."""
        return AugmentConfig(height=self.height, width=self.width, mean=self.mean, std=self.std)

    def prepare(
        self, images: Sequence[ImageLike], masks: Sequence[MaskLike] | None, mask_schema: str | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """uint8 images (B, 3, H, W) at the model's size and float body masks (B, 1, H, W)
        or None."""
        if masks is not None and len(masks) != len(images):
            raise InputError(f"{len(images)} images but {len(masks)} masks: give one mask each")
        transform = geometric_transform(self.augment, train=False)
        schema = mask_schema or self.schema
        out_images, out_masks = [], []
        for i, image in enumerate(images):
            pixels = as_uint8_image(image, i)
            parts = None if masks is None else mask_parts(masks[i], schema, pixels.shape[-2:], i)
            resized, resized_parts = apply_geometric(transform, pixels, parts)
            out_images.append(resized)
            if resized_parts is not None:
                out_masks.append(body_mask(resized_parts))
        batch_masks = torch.stack(out_masks).float() if out_masks else None
        return torch.stack(out_images), batch_masks


def _name(value: Any, index: int) -> str:
    return str(value) if isinstance(value, (str, Path)) else f"input {index}"


def as_uint8_image(image: ImageLike, index: int = 0) -> torch.Tensor:
    """(3, H, W) uint8 RGB. Files are decoded as datasets are; arrays are (H, W), (H, W, 3)
    or (H, W, 4) and tensors (3, H, W) or (1, H, W); uint16 is scaled to 8 bits and floats
    must lie in [0, 1]."""
    if isinstance(image, (str, Path)):
        return read_image(image)
    if isinstance(image, Image.Image):
        return _from_pil(image, index)
    if isinstance(image, np.ndarray):
        array = image[..., None] if image.ndim == 2 else image
        if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
            raise InputError(f"input {index}: an image array is (H, W[, 1|3|4]), got {image.shape}")
        return _to_uint8(torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1), index)
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] not in (1, 3, 4):
            raise InputError(
                f"input {index}: an image tensor is (3, H, W) or (1, H, W), got {tuple(image.shape)}"
            )
        return _to_uint8(image.detach().cpu(), index)
    raise InputError(
        f"input {index}: cannot read an image from a {type(image).__name__}: give a file path, "
        "a PIL image, a numpy array or a tensor"
    )


def _from_pil(image: Image.Image, index: int) -> torch.Tensor:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image).astype(np.int64).clip(0, 65535).astype(np.uint16)
        return _to_uint8(torch.from_numpy(array)[None], index)
    rgb = np.asarray(image.convert("RGB"))
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)


def _to_uint8(channels: torch.Tensor, index: int) -> torch.Tensor:
    """(C, H, W) of any supported dtype -> (3, H, W) uint8 (grey repeated, alpha dropped)."""
    if channels.shape[0] == 1:
        channels = channels.expand(3, -1, -1)
    channels = channels[:3]
    if channels.dtype == torch.uint8:
        return channels.contiguous()
    if channels.dtype == torch.uint16:  # 16-bit scaled to 8, as read_image does
        return (channels.to(torch.int32) // 256).to(torch.uint8)
    if channels.is_floating_point():
        x = channels.float()
        if not bool(torch.isfinite(x).all()) or x.min() < 0 or x.max() > 1:
            raise InputError(f"input {index}: a float image must hold values in [0, 1]")
        return (x * 255).round_().to(torch.uint8)
    raise InputError(f"input {index}: images of {channels.dtype} are not supported")


def mask_parts(
    mask: MaskLike, schema: str, size: tuple[int, int] | torch.Size, index: int = 0
) -> torch.Tensor:
    """(1, H, W) uint8 map whose non-zero pixels are the body: the 7 parts of a label map
    of ``schema``, or 0/1 for a binary mask (bool or float arrays, or ``schema="binary"``)."""
    size = tuple(size)
    if isinstance(mask, (str, Path)):
        return read_parts(mask, get_schema(schema), size) if schema != BINARY else _binary(
            np.asarray(Image.open(mask)), size, index)  # fmt: skip
    array = _mask_array(mask, index)
    if array.dtype == bool or np.issubdtype(array.dtype, np.floating) or schema == BINARY:
        return _binary(array, size, index)
    if array.shape != size:
        raise InputError(f"{_name(mask, index)}: mask is {array.shape[1]}x{array.shape[0]}, "
                         f"image is {size[1]}x{size[0]}")  # fmt: skip
    try:
        parts = to_parts(array, get_schema(schema))
    except InputError as exc:
        raise InputError(f"mask of {_name(mask, index)}: {exc}") from None
    return torch.from_numpy(np.ascontiguousarray(parts))[None]


def _mask_array(mask: MaskLike, index: int) -> np.ndarray:
    if isinstance(mask, Image.Image):
        if mask.mode not in ("L", "P", "1"):
            raise InputError(f"input {index}: a mask image must be mode L, P or 1, got {mask.mode}")
        return np.asarray(mask)
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    if not isinstance(mask, np.ndarray):
        raise InputError(f"input {index}: cannot read a mask from a {type(mask).__name__}")
    array = mask[0] if mask.ndim == 3 and mask.shape[0] == 1 else mask
    if array.ndim != 2:
        raise InputError(f"input {index}: a mask is (H, W) or (1, H, W), got {mask.shape}")
    return array


def _binary(array: np.ndarray, size: tuple[int, ...], index: int) -> torch.Tensor:
    if array.shape != size:
        raise InputError(f"input {index}: mask is {array.shape[1]}x{array.shape[0]}, "
                         f"image is {size[1]}x{size[0]}")  # fmt: skip
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise InputError(f"input {index}: the mask holds NaN or infinite values")
        body = array >= 0.5
    else:
        if array.dtype != bool and not np.isin(array, (0, 1)).all():
            raise InputError(f"input {index}: a binary mask holds only 0 and 1")
        body = array.astype(bool)
    return torch.from_numpy(body.astype(np.uint8))[None]
