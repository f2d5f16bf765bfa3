"""Cheap measurements of a model during training, on a fixed handful of test images."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ccreid.data import InputNormalizer, Sample, load_batch
from ccreid.engine.inference import InferenceOptions
from ccreid.engine.precision import autocast
from ccreid.models import ReIDModel, attention_region_means

Probe = Callable[[], dict[str, dict[str, float]]]


def attention_probe(model: ReIDModel, samples: list[Sample], opts: InferenceOptions) -> Probe:
    """Mean BSGA attention on body and background pixels of ``samples`` (decoded once).

    Runs in eval mode (BatchNorm statistics untouched) and consumes no random numbers, so
    probing never changes what training draws next.
    """
    raw, masks = load_batch(samples, opts.augment, opts.schema, masks=True)
    images = InputNormalizer.of(opts.augment)(raw, opts.device, opts.channels_last)
    masks = masks.to(opts.device)

    @torch.no_grad()
    def probe() -> dict[str, dict[str, float]]:
        was_training = model.training
        model.eval()
        with autocast(opts.device, opts.dtype):
            model(images, masks)
        model.train(was_training)
        return {"bsga": attention_region_means(model.attention.last_attention, masks)}

    return probe
