"""Torch dataset: decoded image, its CRE copy, the body mask and the labels; or, for
augmentation where the model runs, the decoded image, its parsing map and the drawn
parameters (`DeferredItem`)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.io import ImageReadMode, decode_image
from torchvision.transforms import v2

from ccreid.data.augment_params import ParamDraw
from ccreid.data.encoded import ImageReadError, is_jpeg, jpeg_size, read_file_bytes
from ccreid.data.records import Sample, SeededIndex
from ccreid.data.transforms import (
    AugmentConfig,
    apply_geometric,
    geometric_transform,
    pixel_transform,
    resize_is_deferred,
    resize_pair,
)
from ccreid.errors import InputError
from ccreid.parsing import ParsingSchema, body_mask, erase_clothes, get_schema, to_parts
from ccreid.parsing.labelmaps import LabelMapError, read_label_map

_EMPTY = torch.empty(0)


class ReIDItem(NamedTuple):
    """One training/evaluation item. ``erased``/``mask`` are empty tensors when unused."""

    image: torch.Tensor  # (3, H, W) uint8; normalised per batch by InputNormalizer
    erased: torch.Tensor  # (3, H, W) uint8 CRE copy, or empty
    mask: torch.Tensor  # (1, H, W) uint8 body mask in {0, 1}, or empty
    pid: int
    camid: int
    clothes: int
    index: int


class DeferredItem(NamedTuple):
    """A training item whose augmentation runs on its whole batch where the model runs
    (`ccreid.data.batch_augment.BatchAugment`): decoded only, with the parameters its seed
    drew (`ParamDraw`). It keeps its own size when that is no larger than the training size
    (`resize_is_deferred`) and is at the training size otherwise. Clips gain a time axis
    as in `ReIDItem`."""

    image: torch.Tensor  # (3, h, w) uint8, not augmented; or a JPEG's bytes (n,)
    parts: torch.Tensor  # (1, h, w) uint8 7-part map of the same size, or empty
    params: torch.Tensor  # (NUM_PARAMS,) int32, one row for a clip's frames
    pid: int
    camid: int
    clothes: int
    index: int


def at_one_size(items: list[DeferredItem], resize: v2.Transform) -> list[DeferredItem]:
    """Deferred items as they are when their images share one size (their batch is then
    resized in one call where the model runs); otherwise each at the training size, since
    a batch or a clip is one tensor."""
    if len({it.image.shape for it in items}) <= 1:
        return items
    resized = []
    for it in items:
        image, parts = resize_pair(resize, it.image, it.parts)
        resized.append(it._replace(image=image, parts=parts))
    return resized


def read_image(path: str | Path) -> torch.Tensor:
    """Decode an image file to uint8 RGB (3, H, W); grey and RGBA are converted, 16-bit
    images scaled to 8 bits. The one decoder of the project: datasets, ``ccreid search``,
    ``ccreid serve`` and ``model.embed`` all read images through it (or its bytes form)."""
    return decode_image_bytes(read_file_bytes(path), str(path))


def decode_image_bytes(data: bytes | torch.Tensor, name: str = "the image") -> torch.Tensor:
    """`read_image` for an encoded file held in memory (e.g. an upload)."""
    encoded = (
        data
        if isinstance(data, torch.Tensor)
        else torch.frombuffer(bytearray(data), dtype=torch.uint8)
    )
    try:
        image = decode_image(encoded, mode=ImageReadMode.RGB)
    except Exception as exc:  # torchvision raises RuntimeError / ValueError variants
        image = _decode_with_pillow(encoded, name, exc)
    if image.dtype == torch.uint16:
        image = (image.to(torch.int32) // 256).to(torch.uint8)  # uint16 has no shift op
    elif image.dtype != torch.uint8:
        raise ImageReadError(f"image {name} has {image.dtype} pixels: expected 8 or 16 bits")
    return image


def _decode_with_pillow(encoded: torch.Tensor, name: str, error: Exception) -> torch.Tensor:
    """BMP, which torchvision does not decode: read by Pillow, BMP only (every other
    accepted format is torchvision's)."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(encoded.numpy().tobytes()), formats=["BMP"]) as im:
            rgb = np.array(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError):
        raise ImageReadError(f"cannot decode image {name}: {error}") from None
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).contiguous()


def read_parts(path: str | Path, schema: ParsingSchema, size: tuple[int, int]) -> torch.Tensor:
    """Read a label PNG, check its size against the image, merge into the 7 parts (1, H, W)."""
    try:
        labels = read_label_map(path)
    except LabelMapError as exc:
        raise ImageReadError(str(exc)) from None
    if labels.shape != size:
        raise ImageReadError(
            f"mask {path} is {labels.shape[1]}x{labels.shape[0]}, image is {size[1]}x{size[0]}"
        )
    try:
        return torch.from_numpy(np.ascontiguousarray(to_parts(labels, schema)))[None]
    except ValueError as exc:
        raise ImageReadError(f"mask {path}: {exc}") from None


def load_batch(
    samples: list[Sample], augment: AugmentConfig, schema: str = "atr", masks: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A handful of samples decoded as for evaluation: uint8 images (B, 3, H, W) and, with
    ``masks``, float body masks (B, 1, H, W). For probes and figures, not for training."""
    dataset = ReIDImageDataset(samples, augment, train=False, masks=masks, schema=schema)
    items = [dataset[i] for i in range(len(dataset))]
    images = torch.stack([it.image for it in items])
    return images, torch.stack([it.mask for it in items]).float() if masks else None


class ReIDImageDataset(Dataset[ReIDItem]):
    """Samples -> `ReIDItem`. ``cre`` adds the erased copy, ``masks`` the body mask.

    ``cache`` keeps each decoded image and parsing map in memory after its first read
    (per data worker, so it lasts across epochs with persistent workers): for datasets
    small enough to hold decoded, it removes decoding and mask lookups from later epochs.

    ``device_augment`` (training only) gives `DeferredItem`s: the worker decodes, shrinks
    an image larger than the training size, and draws the parameters; the resize of
    smaller ones, flips, crops, erasing, the CRE copy and the mask are made per batch where
    the model runs. The cache then keeps the pair the worker hands over, whichever of the
    file's size and the training size is smaller. ``device_decode`` (with
    ``device_augment``) hands JPEG files over as their bytes, decoded with their batch
    (`ccreid.data.encoded`); the cache then keeps the bytes.
    """

    def __init__(
        self,
        samples: list[Sample],
        augment: AugmentConfig = AugmentConfig(),
        train: bool = False,
        cre: bool = False,
        masks: bool = False,
        schema: str = "atr",
        cache: bool = False,
        device_augment: bool = False,
        device_decode: bool = False,
    ) -> None:
        if device_augment and not train:
            raise InputError("device_augment is for training items (train=True)")
        if device_decode and not device_augment:
            raise InputError("device_decode needs device_augment (its batch is decoded there)")
        if (cre or masks) and any(s.mask is None for s in samples):
            raise InputError(
                "CRE and body masks need parsing masks: load the dataset with mask_root="
            )
        self.samples = samples
        self.augment = augment
        self.cre, self.masks = cre, masks
        self.schema = get_schema(schema)
        self.geometric = geometric_transform(augment, train)
        self.pixels = pixel_transform(augment, train)
        self.resize = geometric_transform(augment, train=False)
        self.draw = ParamDraw(augment, cre) if device_augment else None
        self.device_decode = device_decode
        self.cache: dict[int, tuple[torch.Tensor, torch.Tensor | None]] | None = (
            {} if cache else None
        )

    def __len__(self) -> int:
        return len(self.samples)

    def _decoded(self, index: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """uint8 image (3, H, W) and 7-part map (1, H, W) or None, from cache or files; when
        the batch is augmented elsewhere, only an image larger than the training size is
        resized here."""
        if self.cache is not None and index in self.cache:
            return self.cache[index]
        s = self.samples[index]
        image, encoded = self._read(s.path)
        parts = None
        if self.cre or self.masks:
            size = jpeg_size(image, s.path) if encoded else tuple(image.shape[-2:])
            parts = read_parts(s.mask, self.schema, size)
        shrink = self.draw is not None and not encoded  # a larger file shrinks here
        if shrink and not resize_is_deferred(tuple(image.shape[-2:]), self.augment):
            image, parts = apply_geometric(self.resize, image, parts)
        if self.cache is not None:
            self.cache[index] = (image, parts)
        return image, parts

    def _read(self, path: str) -> tuple[torch.Tensor, bool]:
        """The decoded image, or with ``device_decode`` a JPEG's bytes (then True)."""
        if not self.device_decode:
            return read_image(path), False
        data = read_file_bytes(path)
        return (data, True) if is_jpeg(data) else (decode_image_bytes(data, path), False)

    def __getitem__(self, key: int | SeededIndex) -> ReIDItem | DeferredItem:
        if isinstance(key, SeededIndex):  # augmentation seeded by its position in the epoch
            with torch.random.fork_rng(devices=[]):
                torch.default_generator.manual_seed(key.seed)
                return self._item(key.index)
        return self._item(key)

    def _item(self, index: int) -> ReIDItem | DeferredItem:
        s = self.samples[index]
        if self.draw is not None:
            image, parts = self._decoded(index)
            parts = _EMPTY if parts is None else parts
            return DeferredItem(image, parts, self.draw(), s.pid, s.camid, s.clothes, index)
        image, parts = apply_geometric(self.geometric, *self._decoded(index))
        erased = self._pixels(erase_clothes(image, parts[0])) if self.cre else _EMPTY
        mask = body_mask(parts) if self.masks else _EMPTY
        return ReIDItem(self._pixels(image), erased, mask, s.pid, s.camid, s.clothes, index)

    def _pixels(self, image: torch.Tensor) -> torch.Tensor:
        return image if self.pixels is None else self.pixels(image)
