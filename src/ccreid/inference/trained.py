"""A trained model as one object: the network and everything needed to feed it.

``ccreid.load(checkpoint)`` gives a `TrainedModel`; every command that runs a model
(eval, extract, index, search, serve, export, reports) goes through it, so the image size,
normalisation, parsing schema, mask source, device, precision and flip fusion are decided
in one place: the checkpoint's own training config, unless the caller overrides them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from ccreid.config import ExperimentConfig, from_yaml_text
from ccreid.data import EvalSet, Sample
from ccreid.errors import InputError, MaskRequiredError
from ccreid.evaluation import RetrievalResult
from ccreid.inference.checkpoint import CheckpointError, load_checkpoint, load_model_weights
from ccreid.inference.device import select_device
from ccreid.inference.features import (
    InferenceOptions,
    Shards,
    evaluate_all,
    extract_features,
    forward_batch,
)
from ccreid.inference.precision import resolve_dtype
from ccreid.inference.preprocess import ImageLike, MaskLike, Preprocessing
from ccreid.models import ReIDModel, model_from_config


def preprocessing_of(cfg: ExperimentConfig) -> Preprocessing:
    return Preprocessing(height=cfg.data.height, width=cfg.data.width, schema=cfg.data.schema)


class TrainedModel:
    """A trained `ccreid.models.ReIDModel` with its preprocessing and how to run it.

    ``embed`` takes images as files, PIL images, arrays or tensors; ``embed_samples`` and
    ``evaluate`` take dataset records. Features are f_b, L2-normalised (compare them by
    cosine similarity, i.e. a dot product).
    """

    def __init__(self, model: ReIDModel, config: ExperimentConfig, options: InferenceOptions,
                 checkpoint: Path | None = None) -> None:  # fmt: skip
        self.model = model.to(options.device).eval()
        if options.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.config, self.options, self.checkpoint = config, options, checkpoint
        self.preprocessing = preprocessing_of(config)

    @property
    def device(self) -> torch.device:
        return self.options.device

    @property
    def needs_mask(self) -> bool:
        """Whether every image must come with its body mask (BSGA on the parser's masks)."""
        return self.model.needs_mask

    @property
    def mask_source(self) -> str:
        return self.model.mask_source

    @property
    def feature_dim(self) -> int:
        return self.model.feature_dim

    def with_options(self, **changes: object) -> TrainedModel:
        """The same network run otherwise (e.g. ``flip=True``, ``batch_size=32``)."""
        return TrainedModel(self.model, self.config, dataclasses.replace(self.options, **changes),
                            self.checkpoint)  # fmt: skip

    def run_with(
        self, cfg: ExperimentConfig, flip: bool | None = None, precision: str | None = None,
        mask_source: str | None = None,
    ) -> TrainedModel:  # fmt: skip
        """The same network run as ``cfg`` says: its eval section (batch size, flip,
        precision), data workers, channels-last and mask source; ``flip``, ``precision``
        and ``mask_source`` override those. The preprocessing stays the model's own."""
        source = mask_source or cfg.model.mask_source
        try:
            self.model.mask_source = source
        except InputError as exc:
            raise InputError(f"{self.checkpoint or 'this model'}: {exc}") from None
        t = self.config
        settings = dataclasses.replace(
            t, eval=cfg.eval, data=dataclasses.replace(t.data, workers=cfg.data.workers),
            train=dataclasses.replace(t.train, precision=cfg.train.precision,
                                      channels_last=cfg.train.channels_last),
        )  # fmt: skip
        options = inference_options(settings, self.device, flip, precision)
        return TrainedModel(self.model, self.config, options, self.checkpoint)

    def _require_masks(self, given: bool) -> None:
        if self.needs_mask and not given:
            raise MaskRequiredError(self.checkpoint or "this model")

    @torch.no_grad()
    def embed(
        self, images: ImageLike | Sequence[ImageLike], masks: MaskLike | Sequence[MaskLike] | None = None,
        mask_schema: str | None = None, batch_size: int | None = None,
    ) -> torch.Tensor:  # fmt: skip
        """(N, D) L2-normalised features of one image or a list of them.

        ``masks`` (one per image) are label maps of the model's parsing schema (or of
        ``mask_schema``), or binary body masks (bool or float arrays, or
        ``mask_schema="binary"``). A model with a mask head and ``mask_source="predicted"``
        needs none; a BSGA model without a head needs them."""
        images, masks = _as_list(images), None if masks is None else _as_list(masks)
        self._require_masks(masks is not None)
        if not self.needs_mask:
            masks = None  # unused: the model makes its own mask or needs none
        step = batch_size or self.options.batch_size
        feats = []
        for start in range(0, len(images), step):
            chunk_masks = None if masks is None else masks[start : start + step]
            pixels, body = self.preprocessing.prepare(images[start : start + step], chunk_masks,
                                                      mask_schema)  # fmt: skip
            feats.append(forward_batch(self.model, pixels, body, self.options))
        if not feats:
            return torch.empty(0, self.feature_dim)
        return F.normalize(torch.cat(feats), dim=1)

    def embed_samples(self, samples: list[Sample], progress: Callable[[int], None] | None = None,
                      shards: Shards | None = None) -> torch.Tensor:  # fmt: skip
        """Features of dataset records (images or tracklets), read by data workers."""
        self._require_masks(all(s.mask is not None for s in samples))
        return extract_features(self.model, samples, self.options, shards, progress)

    def evaluate(
        self, eval_sets: dict[str, EvalSet], rerank: bool = False,
        progress: Callable[[int], None] | None = None, timings: dict[str, float] | None = None,
        shards: Shards | None = None,
    ) -> dict[str, RetrievalResult]:  # fmt: skip
        """Metrics of every evaluation set (each distinct image embedded once)."""
        for es in eval_sets.values():
            self._require_masks(all(s.mask is not None for s in (*es.query, *es.gallery)))
        return evaluate_all(self.model, eval_sets, self.options, shards, rerank, progress, timings)


def _as_list(items: object) -> list:
    if isinstance(items, torch.Tensor) and items.ndim == 4:
        return list(items)  # a batch (B, C, H, W)
    if isinstance(items, (list, tuple)):
        return list(items)
    return [items]


def inference_options(cfg: ExperimentConfig, device: torch.device, flip: bool | None = None,
                      precision: str | None = None) -> InferenceOptions:  # fmt: skip
    """How a config runs a model at inference: its eval batch size, workers, flip fusion and
    precision (``eval.precision``; ``auto`` follows ``train.precision``)."""
    precision = precision or cfg.eval.precision
    if precision == "auto":
        precision = cfg.train.precision
    return InferenceOptions(
        augment=preprocessing_of(cfg).augment, batch_size=cfg.eval.batch_size,
        workers=cfg.data.workers, flip=cfg.eval.flip if flip is None else flip,
        schema=cfg.data.schema, device=device, dtype=resolve_dtype(precision, device),
        channels_last=cfg.train.channels_last,
    )  # fmt: skip


def load(
    checkpoint: str | Path, device: str | torch.device = "auto", mask_source: str | None = None,
    flip: bool | None = None, precision: str | None = None, run_with: ExperimentConfig | None = None,
) -> TrainedModel:  # fmt: skip
    """The model a checkpoint holds, ready to embed images.

    ``mask_source`` (parser | predicted) overrides the trained ``model.mask_source``;
    ``flip`` and ``precision`` override its ``eval.flip`` / ``eval.precision``.
    ``run_with`` takes those run settings (see `TrainedModel.run_with`) from another
    config, e.g. an evaluation config; the preprocessing is always the checkpoint's own,
    since a model must see what it was trained on."""
    path = Path(checkpoint)
    ckpt = load_checkpoint(path)
    try:
        trained = from_yaml_text(ckpt.meta["config"])
        num_classes = int(ckpt.meta["num_classes"])
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: metadata lacks the training config ({exc})") from None
    model = model_from_config(trained.model, num_classes, weights="none")
    load_model_weights(model, ckpt, path, for_eval=True)
    chosen = select_device(device)
    base = TrainedModel(model, trained, inference_options(trained, chosen), path)
    return base.run_with(run_with or trained, flip, precision, mask_source)
