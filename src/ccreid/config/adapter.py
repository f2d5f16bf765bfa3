"""The one place that turns an :class:`ExperimentConfig` into library keyword arguments."""

from __future__ import annotations

from typing import Any

from ccreid.config.schema import ExperimentConfig
from ccreid.data import AugmentConfig


def attention_needs_mask(cfg: ExperimentConfig) -> bool:
    """Asked of the attention module itself (its ``needs_mask``), not of its name."""
    from ccreid.models import ATTENTIONS

    return bool(getattr(ATTENTIONS.get(cfg.model.attention), "needs_mask", False))


def needs_masks(cfg: ExperimentConfig) -> bool:
    """Whether training reads the parser's masks (CRE, BSGA, or the mask head's target)."""
    return cfg.train.cre or attention_needs_mask(cfg) or cfg.model.mask_head


def dataset_kwargs(cfg: ExperimentConfig) -> dict[str, Any]:
    d = cfg.data
    return {"name": d.name, "root": d.root, "mask_root": d.mask_root, "val_ids": d.val_ids,
            **dict(d.options)}  # fmt: skip


def augment_config(cfg: ExperimentConfig) -> AugmentConfig:
    d = cfg.data
    return AugmentConfig(
        height=d.height, width=d.width, flip_p=d.flip, pad=d.pad, random_erasing_p=d.random_erasing
    )


def model_kwargs(cfg: ExperimentConfig, num_classes: int) -> dict[str, Any]:
    m = cfg.model
    return {
        "num_classes": num_classes,
        "backbone": m.backbone,
        "attention": m.attention,
        "weights": m.weights,
        "last_stride": m.last_stride,
        "share_mask_conv": m.share_mask_conv,
        "bsga_init": m.bsga_init,
        "mask_head": m.mask_head,
        "mask_source": m.mask_source,
    }


def objective_kwargs(cfg: ExperimentConfig) -> dict[str, Any]:
    lo = cfg.loss
    return {
        "triplet": lo.triplet,
        "weight": lo.weight,
        "margin": lo.margin,
        "label_smoothing": lo.label_smoothing,
        "distance": lo.distance,
        "mask_weight": lo.mask_weight,
    }


def sampler_kwargs(cfg: ExperimentConfig) -> dict[str, Any]:
    return {
        "num_identities": cfg.data.identities_per_batch,
        "num_instances": cfg.data.num_instances,
        "seed": cfg.train.seed,
    }


def optimizer_kwargs(cfg: ExperimentConfig) -> dict[str, Any]:
    return {"lr": cfg.train.lr, "weight_decay": cfg.train.weight_decay}


def schedule_kwargs(cfg: ExperimentConfig) -> dict[str, Any]:
    t = cfg.train
    return {"step_size": t.step_size, "gamma": t.gamma, "warmup_epochs": t.warmup_epochs}
