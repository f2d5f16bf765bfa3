"""Datasets (loaders of every supported layout, the domain record, evaluation sets),
CRE-aware transforms, torch datasets of images and clips, and identity samplers.

The samplers are imported on first use: reading a dataset or an image never imports the
training code (a server needs the one, not the other)."""

from __future__ import annotations

from typing import Any

from ccreid.data import datasets as _datasets  # noqa: F401  (registers the layouts)
from ccreid.data.images import ImageReadError, ReIDImageDataset, ReIDItem, load_batch, read_image
from ccreid.data.layouts import (
    DATASETS,
    DatasetError,
    DatasetLayout,
    RawSample,
    ReIDData,
    dataset_of,
    load_dataset,
)
from ccreid.data.records import EvalSet, Sample, SeededIndex
from ccreid.data.transforms import AugmentConfig, InputNormalizer

_SAMPLERS = ("ClothesBalancedSampler", "EpochSeeded", "PKSampler")

__all__ = [
    "DATASETS",
    "AugmentConfig",
    "DatasetError",
    "DatasetLayout",
    "EvalSet",
    "InputNormalizer",
    "ImageReadError",
    "RawSample",
    "ReIDData",
    "ReIDImageDataset",
    "ReIDItem",
    "Sample",
    "SeededIndex",
    "dataset_of",
    "load_batch",
    "load_dataset",
    "read_image",
    *_SAMPLERS,
]


def __getattr__(name: str) -> Any:
    if name in _SAMPLERS:
        from ccreid.data import samplers

        return getattr(samplers, name)
    raise AttributeError(f"module 'ccreid.data' has no attribute {name!r}")
