"""JPEG files decoded where the model runs (``data.decode_on=device``).

A data worker then reads a JPEG file's bytes and only its header (for the size its parsing
map must have); the batch's files are decoded together on the model's device, by nvJPEG on
CUDA (`torchvision.io.decode_jpeg` with a list is one batched call there). Other formats,
and any platform whose torchvision cannot decode on the device, are decoded as before:
the worker decodes non-JPEG files itself, and a device without a JPEG decoder falls back
to decoding on the CPU of the main process. On the CPU both paths run the same libjpeg
decoder, so the pixels are the workers' own; nvJPEG may differ from libjpeg by rounding.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torchvision.io import ImageReadMode, decode_jpeg

from ccreid.errors import CCReIDError

JPEG_START = b"\xff\xd8\xff"


class EncodedImageError(CCReIDError, RuntimeError):
    """A JPEG file whose header or data cannot be decoded."""


def read_jpeg_bytes(path: str | Path) -> torch.Tensor | None:
    """The file's bytes as a 1-D uint8 tensor when it is a JPEG, else None (the caller
    decodes it)."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise EncodedImageError(f"cannot read image {path}: {exc.strerror or exc}") from None
    if data[: len(JPEG_START)].tobytes() != JPEG_START:
        return None
    return torch.from_numpy(data)


def jpeg_size(encoded: torch.Tensor, path: str | Path) -> tuple[int, int]:
    """(height, width) from the JPEG's header, without decoding its pixels."""
    try:
        with Image.open(io.BytesIO(encoded.numpy().tobytes()), formats=["JPEG"]) as im:
            return im.height, im.width
    except (UnidentifiedImageError, OSError, ValueError):
        raise EncodedImageError(f"cannot decode image {path}: not a readable JPEG") from None


def decode_on(
    images: Sequence[torch.Tensor], device: torch.device, paths: Sequence[str]
) -> list[torch.Tensor]:
    """Each entry decoded to uint8 RGB (3, H, W) on ``device``: 1-D entries are JPEG
    bytes, decoded in one call; the others are already decoded and only moved."""
    out = [im.to(device, non_blocking=True) if im.ndim > 1 else im for im in images]
    encoded = [i for i, im in enumerate(images) if im.ndim == 1]
    if encoded:
        decoded = _decode([images[i] for i in encoded], device, [paths[i] for i in encoded])
        for i, im in zip(encoded, decoded, strict=True):
            out[i] = im
    return out


def _decode(data: list[torch.Tensor], device: torch.device, paths: Sequence[str]):
    try:
        return _jpeg(data, device)
    except RuntimeError:
        pass  # no decoder on this device, or a bad file: find out item by item on the CPU
    decoded = []
    for item, path in zip(data, paths, strict=True):
        try:
            decoded.append(_jpeg([item], torch.device("cpu"))[0].to(device))
        except RuntimeError as exc:
            raise EncodedImageError(f"cannot decode image {path}: {exc}") from None
    return decoded


def _jpeg(data: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    with warnings.catch_warnings():  # torchvision 0.29 marks its decoders deprecated
        warnings.simplefilter("ignore", category=UserWarning)
        return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
