"""Paired augmentation: image and parsing map move together (torchvision transforms v2).

CRE is applied after the geometric transforms, on the uint8 image (value 0 = erased),
so the erased copy is pixel-aligned with its original. Random erasing and normalisation
touch images only, never the parsing map.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class AugmentConfig:
    """The paper's recipe by default: flip, pad-10 random crop, random erasing p=0.5."""

    height: int = 256
    width: int = 128
    flip_p: float = 0.5
    pad: int = 10
    random_erasing_p: float = 0.5
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


def geometric_transform(cfg: AugmentConfig, train: bool) -> v2.Transform:
    """Resize (+ flip, pad-and-crop when training) for an (Image, Mask) pair."""
    steps: list[v2.Transform] = [v2.Resize((cfg.height, cfg.width), antialias=True)]
    if train:
        if cfg.flip_p > 0:
            steps.append(v2.RandomHorizontalFlip(cfg.flip_p))
        if cfg.pad > 0:
            steps += [v2.Pad(cfg.pad, fill=0), v2.RandomCrop((cfg.height, cfg.width))]
    return v2.Compose(steps)


def image_transform(cfg: AugmentConfig, train: bool) -> v2.Transform:
    """uint8 image -> normalised float tensor (+ random erasing when training)."""
    steps: list[v2.Transform] = [
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(cfg.mean, cfg.std),
    ]
    if train and cfg.random_erasing_p > 0:
        steps.append(v2.RandomErasing(p=cfg.random_erasing_p, value=0))
    return v2.Compose(steps)


def apply_geometric(
    transform: v2.Transform, image: torch.Tensor, parts: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run one geometric draw over the image and (when given) its parsing map."""
    if parts is None:
        return transform(tv_tensors.Image(image)).as_subclass(torch.Tensor), None
    img, msk = transform(tv_tensors.Image(image), tv_tensors.Mask(parts))
    return img.as_subclass(torch.Tensor), msk.as_subclass(torch.Tensor)
