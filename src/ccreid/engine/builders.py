"""Small builders that assemble a training run from a config, one concern each."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset

from ccreid.config import ExperimentConfig
from ccreid.config import adapter as A
from ccreid.data import ClothesBalancedSampler, EpochSeeded, PKSampler, ReIDData, ReIDImageDataset
from ccreid.data.clips import ReIDClipDataset, dense_segments
from ccreid.engine.distributed import DistInfo
from ccreid.engine.inference import InferenceOptions
from ccreid.engine.precision import resolve_dtype
from ccreid.models import ReIDModel, build_model


def select_device(dist_info: DistInfo = DistInfo()) -> torch.device:
    """This process's GPU under torchrun, the GPU when there is one, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", dist_info.local_rank)
    return torch.device("cpu")


def build_model_from_config(
    cfg: ExperimentConfig, num_classes: int, weights: str | None = None
) -> ReIDModel:
    """The config's model; ``weights`` overrides ``model.weights`` (e.g. "none" when a
    checkpoint's weights follow)."""
    kwargs = A.model_kwargs(cfg, num_classes)
    if weights is not None:
        kwargs["weights"] = weights
    return build_model(**kwargs)


def build_train_loader(
    cfg: ExperimentConfig, data: ReIDData, needs_mask: bool, dist_info: DistInfo,
    pin_memory: bool = False,
) -> tuple[DataLoader, EpochSeeded]:  # fmt: skip
    """The P x K loader; every sample's augmentation is seeded by its place in the epoch.
    A video dataset's items are clips of its tracklets (``data.seq_len``, ``data.stride``)."""
    d = cfg.data
    items = data.train
    if data.video:
        items = dense_segments(items, d.seq_len, d.stride) if d.dense_clips else items
        train_set: Dataset = ReIDClipDataset(items, d.seq_len, d.stride, A.augment_config(cfg),
                                             train=True, cre=cfg.train.cre, masks=needs_mask,
                                             schema=d.schema)  # fmt: skip
    else:
        train_set = ReIDImageDataset(items, A.augment_config(cfg), train=True, cre=cfg.train.cre,
                                     masks=needs_mask, schema=d.schema, cache=d.cache)  # fmt: skip
    pids = [s.pid for s in items]
    skw = {**A.sampler_kwargs(cfg), "rank": dist_info.rank, "world_size": dist_info.world_size}
    if cfg.data.sampler == "clothes":
        inner: PKSampler = ClothesBalancedSampler(pids, [s.clothes for s in items], **skw)
    else:
        inner = PKSampler(pids, **skw)
    sampler = EpochSeeded(inner, cfg.train.seed)
    loader = DataLoader(
        train_set, batch_size=sampler.batch_size, sampler=sampler, num_workers=cfg.data.workers,
        drop_last=True, pin_memory=pin_memory, persistent_workers=cfg.data.workers > 0,
    )  # fmt: skip
    return loader, sampler


def build_optimizer(cfg: ExperimentConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), **A.optimizer_kwargs(cfg))


def build_scheduler(
    cfg: ExperimentConfig, optimizer: torch.optim.Optimizer
) -> torch.optim.lr_scheduler.LRScheduler:
    """Step decay (lr x gamma every step_size epochs) after an optional linear warm-up."""
    return step_schedule(optimizer, **A.schedule_kwargs(cfg))


def step_schedule(
    optimizer: torch.optim.Optimizer, step_size: int, gamma: float, warmup_epochs: int
) -> torch.optim.lr_scheduler.LRScheduler:
    def factor(epoch: int) -> float:
        warm = min(1.0, (epoch + 1) / warmup_epochs) if warmup_epochs > 0 else 1.0
        return warm * gamma ** (epoch // step_size)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def inference_options(
    cfg: ExperimentConfig, device: torch.device, flip: bool | None = None
) -> InferenceOptions:
    return InferenceOptions(
        augment=A.augment_config(cfg), batch_size=cfg.eval.batch_size, workers=cfg.data.workers,
        flip=cfg.eval.flip if flip is None else flip, schema=cfg.data.schema, device=device,
        dtype=eval_dtype(cfg, device), channels_last=cfg.train.channels_last,
    )  # fmt: skip


def eval_dtype(cfg: ExperimentConfig, device: torch.device) -> torch.dtype | None:
    """fp32 features unless eval.precision asks otherwise (auto: as training chose)."""
    precision = cfg.train.precision if cfg.eval.precision == "auto" else cfg.eval.precision
    return resolve_dtype(precision, device)


def with_preprocessing_of(cfg: ExperimentConfig, trained: ExperimentConfig) -> ExperimentConfig:
    """``cfg`` with the image size and parsing schema a checkpoint was trained with: a model
    must see what it was trained on, whatever the evaluation config says."""
    import dataclasses

    data = dataclasses.replace(cfg.data, height=trained.data.height, width=trained.data.width,
                               schema=trained.data.schema)  # fmt: skip
    return dataclasses.replace(cfg, data=data)


def require_masks_for(model: ReIDModel, cfg: ExperimentConfig, checkpoint: object) -> None:
    """A model whose attention needs body masks cannot be run on a config without them."""
    from ccreid.config import ConfigError

    if model.needs_mask and cfg.data.mask_root is None:
        raise ConfigError(
            f"{checkpoint} uses an attention module that needs body masks: set "
            "data.mask_root=<folder of parsing masks> (`ccreid parse` makes them), or train "
            "a mask head (model.mask_head=true) and evaluate with model.mask_source=predicted"
        )


def require_training_masks(cfg: ExperimentConfig) -> None:
    """Training with CRE, BSGA or a mask head reads the parser's masks."""
    from ccreid.config import ConfigError

    if A.needs_masks(cfg) and cfg.data.mask_root is None:
        raise ConfigError(
            "data.mask_root is required when train.cre is on, model.attention needs a body "
            f"mask or model.mask_head is on (train.cre={cfg.train.cre}, model.attention="
            f"{cfg.model.attention}, model.mask_head={cfg.model.mask_head})"
        )
