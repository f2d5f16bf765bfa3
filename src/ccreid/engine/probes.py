"""Cheap measurements of a model during training, on a fixed handful of test images."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ccreid.data import InputNormalizer, Sample, load_batch
from ccreid.inference import InferenceOptions, autocast
from ccreid.models import ReIDModel, attention_region_means
from ccreid.models.reid_model import mask_head_overlap

Probe = Callable[[], dict[str, dict[str, float]]]


def attention_probe(model: ReIDModel, samples: list[Sample], opts: InferenceOptions) -> Probe:
    """Mean BSGA attention on body and background pixels of ``samples`` (decoded once),
    and, with a mask head, the IoU of its mask with the parser's.

    Runs in eval mode (BatchNorm statistics untouched) with the parser's masks and
    consumes no random numbers, so probing never changes what training draws next.
    """
    raw, masks = load_batch(samples, opts.augment, opts.schema, masks=True)
    images = InputNormalizer.of(opts.augment)(raw, opts.device, opts.channels_last)
    masks = masks.to(opts.device)

    @torch.no_grad()
    def probe() -> dict[str, dict[str, float]]:
        was_training, source = model.training, model.mask_source
        model.eval()
        model.mask_source = "parser"  # A_f as guided by the parser's mask
        try:
            with autocast(opts.device, opts.dtype):
                model(images, masks)
                out = {"bsga": attention_region_means(model.attention.last_attention, masks)}
                if model.mask_head is not None:
                    inter, union = mask_head_overlap(model, images, masks)
                    out["mask_head"] = {"iou": inter / union if union else 1.0}
        finally:
            model.mask_source = source
            model.train(was_training)
        return out

    return probe
