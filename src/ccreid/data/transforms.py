"""Paired augmentation: image and parsing map move together (torchvision transforms v2).

CRE is applied after the geometric transforms, on the uint8 image (value 0 = erased),
so the erased copy is pixel-aligned with its original. Random erasing touches images only,
never the parsing map. Items stay uint8 until a whole batch is normalised where the model
runs (`InputNormalizer`): a quarter of the bytes between processes, and one
vectorised pass per batch instead of three per image (on a GPU host: on the GPU).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

if TYPE_CHECKING:
    from ccreid.config import DataConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class AugmentConfig:
    """The paper's recipe by default: flip, pad-10 random crop, random erasing p=0.5."""

    height: int = 256
    width: int = 128
    flip: float = 0.5  # probability of a horizontal flip
    pad: int = 10
    random_erasing: float = 0.5  # probability of erasing a random box
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @classmethod
    def of(cls, data: DataConfig) -> AugmentConfig:
        """The augmentation a config's data section describes (the same names)."""
        return cls(height=data.height, width=data.width, flip=data.flip, pad=data.pad,
                   random_erasing=data.random_erasing)  # fmt: skip


def geometric_transform(cfg: AugmentConfig, train: bool) -> v2.Transform:
    """Resize (+ flip, pad-and-crop when training) for an (Image, Mask) pair."""
    steps: list[v2.Transform] = [v2.Resize((cfg.height, cfg.width), antialias=True)]
    if train:
        if cfg.flip > 0:
            steps.append(v2.RandomHorizontalFlip(cfg.flip))
        if cfg.pad > 0:
            steps += [v2.Pad(cfg.pad, fill=0), v2.RandomCrop((cfg.height, cfg.width))]
    return v2.Compose(steps)


def pixel_transform(cfg: AugmentConfig, train: bool) -> v2.Transform | None:
    """Random erasing on the uint8 image when training; it fills with the mean colour,
    which is what erasing with 0 after normalisation gives."""
    if not train or cfg.random_erasing <= 0:
        return None
    return v2.RandomErasing(p=cfg.random_erasing, value=erasing_fill(cfg))


def erasing_fill(cfg: AugmentConfig) -> list[int]:
    """The uint8 colour random erasing writes: the mean, which normalises to 0."""
    return [round(255 * m) for m in cfg.mean]


class InputNormalizer:
    """uint8 batch (B, 3, H, W) -> float ``(x / 255 - mean) / std`` on the model's device."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> None:
        std_t = torch.tensor(std, dtype=torch.float32)
        self.scale = (1.0 / (255.0 * std_t))[:, None, None]
        self.shift = (-torch.tensor(mean, dtype=torch.float32) / std_t)[:, None, None]

    @classmethod
    def of(cls, cfg: AugmentConfig) -> InputNormalizer:
        return cls(cfg.mean, cfg.std)

    def __call__(
        self, images: torch.Tensor, device: torch.device | None = None, channels_last: bool = False
    ) -> torch.Tensor:
        if images.dtype != torch.uint8:
            raise TypeError(f"expected a uint8 image batch, got {images.dtype}")
        x = images.to(device, non_blocking=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = x.float()  # keeps the memory format
        return x.mul_(self.scale.to(x.device)).add_(self.shift.to(x.device))


def resize_is_deferred(size: tuple[int, int], cfg: AugmentConfig) -> bool:
    """With ``data.augment_on=device``, an image no larger than the training size travels
    at its own size and is resized with its whole batch where the model runs: fewer pixels
    to keep, send and resize per sample. A larger one is shrunk by the worker first."""
    return size[0] * size[1] <= cfg.height * cfg.width


def apply_geometric(
    transform: v2.Transform, image: torch.Tensor, parts: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run one geometric draw over the image and (when given) its parsing map."""
    if parts is None:
        return transform(tv_tensors.Image(image)).as_subclass(torch.Tensor), None
    img, msk = transform(tv_tensors.Image(image), tv_tensors.Mask(parts))
    return img.as_subclass(torch.Tensor), msk.as_subclass(torch.Tensor)


def resize_pair(
    resize: v2.Transform, image: torch.Tensor, parts: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """`apply_geometric` for deferred items, whose missing map is an empty tensor."""
    if not parts.numel():
        return apply_geometric(resize, image, None)[0], parts
    resized, resized_parts = apply_geometric(resize, image, parts)
    return resized, resized_parts if resized_parts is not None else parts
