"""Datasets, CRE-aware transforms, identity samplers and the synthetic generator."""

from ccreid.data import datasets as _datasets  # noqa: F401  (registers the layouts)
from ccreid.data.base import (
    DATASETS,
    DatasetError,
    DatasetLayout,
    RawSample,
    ReIDData,
    load_dataset,
)
from ccreid.data.dataset import ImageReadError, ReIDImageDataset, ReIDItem, load_batch, read_image
from ccreid.data.records import EvalSet, Sample
from ccreid.data.samplers import ClothesBalancedSampler, EpochSeeded, PKSampler, SeededIndex
from ccreid.data.transforms import AugmentConfig, InputNormalizer

__all__ = [
    "DATASETS",
    "AugmentConfig",
    "ClothesBalancedSampler",
    "DatasetError",
    "DatasetLayout",
    "EpochSeeded",
    "EvalSet",
    "InputNormalizer",
    "ImageReadError",
    "PKSampler",
    "RawSample",
    "ReIDData",
    "ReIDImageDataset",
    "ReIDItem",
    "Sample",
    "SeededIndex",
    "load_batch",
    "load_dataset",
    "read_image",
]
