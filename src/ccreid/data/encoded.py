"""Image files as bytes, and JPEG files decoded where the model runs (``data.decode_on``).

With ``data.decode_on=device`` a data worker reads a JPEG file's bytes and, when a parsing
map must match it, only its header; the batch's files are decoded together on the model's
device, by nvJPEG on CUDA (`torchvision.io.decode_jpeg` with a list is one batched call
there). Other formats are decoded by the worker as before. A device without a JPEG decoder
falls back, with one warning, to decoding on the CPU of the main process, and a file the
device's decoder refuses is decoded on the CPU alone. On the CPU both paths run the same
libjpeg decoder, so the pixels are the workers' own; nvJPEG may differ by rounding.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torchvision.io import ImageReadMode, decode_jpeg

from ccreid.errors import CCReIDError

JPEG_START = b"\xff\xd8\xff"
_CPU = torch.device("cpu")
log = logging.getLogger(__name__)


class ImageReadError(CCReIDError, RuntimeError):
    """An image or mask file that cannot be read or decoded."""


def read_file_bytes(path: str | Path) -> torch.Tensor:
    """An image file's bytes as a 1-D uint8 tensor; a read failure names the file."""
    try:
        return torch.from_numpy(np.fromfile(path, dtype=np.uint8))
    except OSError as exc:
        raise ImageReadError(f"cannot read image {path}: {exc.strerror or exc}") from None


def is_jpeg(data: torch.Tensor) -> bool:
    return data[: len(JPEG_START)].numpy().tobytes() == JPEG_START


def jpeg_size(encoded: torch.Tensor, path: str | Path) -> tuple[int, int]:
    """(height, width) from the JPEG's header, without decoding its pixels."""
    try:
        with Image.open(io.BytesIO(encoded.numpy().tobytes()), formats=["JPEG"]) as im:
            return im.height, im.width
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageReadError(f"cannot decode image {path}: {exc}") from None


class JpegDecoder:
    """Decodes a batch's entries to uint8 RGB (3, H, W) on one device: 1-D entries are
    JPEG bytes, decoded in one call; the others are already decoded and only moved."""

    def __init__(self, paths: Sequence[str] = ()) -> None:
        self.paths = paths  # the training files by index, named when one fails
        self.device_can_decode = True

    def __call__(
        self, images: Sequence[torch.Tensor], index: torch.Tensor, device: torch.device
    ) -> list[torch.Tensor]:
        out = [im.to(device, non_blocking=True) if im.ndim > 1 else im for im in images]
        encoded = [i for i, im in enumerate(images) if im.ndim == 1]
        if encoded:
            names = [self._name(int(index[i])) for i in encoded]
            decoded = self._decode([images[i] for i in encoded], names, device)
            for i, im in zip(encoded, decoded, strict=True):
                out[i] = im
        return out

    def _name(self, index: int) -> str:
        return self.paths[index] if index < len(self.paths) else f"training item {index}"

    def _decode(
        self, data: list[torch.Tensor], names: list[str], device: torch.device
    ) -> list[torch.Tensor]:
        on_device = device.type != "cpu" and self.device_can_decode
        try:
            return _jpeg(data, device) if on_device else [im.to(device) for im in _jpeg(data, _CPU)]
        except RuntimeError:  # a missing decoder, or a file it refuses: each alone
            pass
        decoded = [_jpeg_or_none(item, device) if on_device else None for item in data]
        if on_device and all(im is None for im in decoded):
            self.device_can_decode = False
            log.warning("%s cannot decode JPEG files here: the CPU decodes them", device)
        return [im if im is not None else _on_cpu(item, name).to(device)
                for im, item, name in zip(decoded, data, names, strict=True)]  # fmt: skip


def _on_cpu(item: torch.Tensor, name: str) -> torch.Tensor:
    try:
        return _jpeg([item], _CPU)[0]
    except RuntimeError as exc:
        raise ImageReadError(f"cannot decode image {name}: {exc}") from None


def _jpeg_or_none(item: torch.Tensor, device: torch.device) -> torch.Tensor | None:
    try:
        return _jpeg([item], device)[0]
    except RuntimeError:
        return None


def _jpeg(data: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    decoded = decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
    if any(im.device.type != device.type for im in decoded):
        raise RuntimeError(f"decode_jpeg gave no images on {device}")
    return decoded
