"""One build step: every component of a training run, read from the config in one call.

``build_parts(cfg, data)`` is the only place the training config becomes objects (the
model through ``model_from_config``, shared with inference); each builder below reads its
own section directly, so a setting is spelled once from the YAML to the component.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset

from ccreid.config import ExperimentConfig
from ccreid.config.schema import AUGMENT_ON, DECODE_ON
from ccreid.data import AugmentConfig, InputNormalizer, ReIDData, ReIDImageDataset
from ccreid.data.batch_augment import BatchAugment, DeferredCollate
from ccreid.data.clips import ReIDClipDataset, dense_segments
from ccreid.data.samplers import ClothesBalancedSampler, EpochSeeded, PKSampler
from ccreid.engine.distributed import DistInfo
from ccreid.errors import ConfigError
from ccreid.inference import InferenceOptions, inference_options, resolve_dtype, select_device
from ccreid.losses import ReIDObjective
from ccreid.models import ATTENTIONS, ReIDModel, model_from_config


@dataclass(frozen=True)
class StepSettings:
    """How a training step turns a batch into model inputs (see ``step_inputs``)."""

    device: torch.device
    dtype: torch.dtype | None  # autocast dtype, None = fp32
    channels_last: bool
    cre: bool
    normalize: InputNormalizer
    erased_clothes_base: int | None  # train.cre_clothes=own: see step_inputs
    augment: BatchAugment | None = None  # data.augment_on=device; None: the workers augment


@dataclass
class TrainingParts:
    """Everything a training run is made of."""

    model: ReIDModel
    objective: ReIDObjective
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    loader: DataLoader
    sampler: EpochSeeded
    step: StepSettings
    inference: InferenceOptions  # for validation, probes and the final evaluation


def reads_masks(cfg: ExperimentConfig) -> bool:
    """Whether training reads the parser's masks (CRE, a mask-guided attention module, or
    the mask head's target); asked of the attention module, not of its name."""
    needs = bool(getattr(ATTENTIONS.get(cfg.model.attention), "needs_mask", False))
    return cfg.train.cre or needs or cfg.model.mask_head


def augments_on_device(setting: str, device: torch.device) -> bool:
    """``data.augment_on``, resolved once for the run: ``auto`` augments whole batches on a
    CUDA device (the workers then decode and draw parameters) and in the data workers on the
    CPU, where the batch work would take the model's own cores."""
    if setting not in AUGMENT_ON:
        raise ConfigError(f"data.augment_on is {setting!r}; expected one of {AUGMENT_ON}")
    return setting == "device" or (setting == "auto" and device.type == "cuda")


def decodes_on_device(setting: str, augment_on_device: bool, device: torch.device,
                      video: bool) -> bool:  # fmt: skip
    """``data.decode_on``, resolved once for the run: ``auto`` decodes JPEG files where the
    model runs when it also augments there on a CUDA device, for image datasets (clips are
    decoded by the workers)."""
    if setting not in DECODE_ON:
        raise ConfigError(f"data.decode_on is {setting!r}; expected one of {DECODE_ON}")
    if setting == "device":
        if not augment_on_device:
            raise ConfigError("data.decode_on=device needs augmentation on the device "
                              "(data.augment_on=device, or auto on a CUDA device)")  # fmt: skip
        if video:
            raise ConfigError("data.decode_on=device is for image datasets: the frames of "
                              "clips are decoded by the data workers")  # fmt: skip
    return setting == "device" or (
        setting == "auto" and augment_on_device and device.type == "cuda" and not video
    )


def check_training_config(cfg: ExperimentConfig) -> None:
    """Before any folder is made: training that reads masks needs ``data.mask_root``."""
    if reads_masks(cfg) and cfg.data.mask_root is None:
        raise ConfigError(
            "data.mask_root is required when train.cre is on, model.attention needs a body "
            f"mask or model.mask_head is on (train.cre={cfg.train.cre}, model.attention="
            f"{cfg.model.attention}, model.mask_head={cfg.model.mask_head})"
        )


def build_parts(
    cfg: ExperimentConfig, data: ReIDData, dist: DistInfo = DistInfo()
) -> TrainingParts:
    """The model on its device, the P x K loader, objective, optimizer and schedule."""
    device = select_device("auto", dist.local_rank)
    model = model_from_config(cfg.model, data.num_train_pids).to(device)
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    on_device = augments_on_device(cfg.data.augment_on, device)
    decode = decodes_on_device(cfg.data.decode_on, on_device, device, data.video)
    masks = model.trains_on_masks
    loader, sampler = build_loader(cfg, data, masks, dist, device.type == "cuda", on_device,
                                   decode)  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr,
                                 weight_decay=cfg.train.weight_decay)  # fmt: skip
    augment = AugmentConfig.of(cfg.data)
    batch_augment = None
    if on_device:
        paths = [s.path for s in data.train] if decode else ()
        batch_augment = BatchAugment(augment, cfg.train.cre, masks, paths)
    step = StepSettings(
        device=device, dtype=resolve_dtype(cfg.train.precision, device),
        channels_last=cfg.train.channels_last, cre=cfg.train.cre,
        normalize=InputNormalizer(augment.mean, augment.std),
        erased_clothes_base=data.num_train_clothes if cfg.train.cre_clothes == "own" else None,
        augment=batch_augment,
    )  # fmt: skip
    return TrainingParts(model, build_objective(cfg), optimizer, build_scheduler(cfg, optimizer),
                         loader, sampler, step, inference_options(cfg, device))  # fmt: skip


def build_objective(cfg: ExperimentConfig) -> ReIDObjective:
    lo = cfg.loss
    return ReIDObjective(triplet=lo.triplet, weight=lo.weight, margin=lo.margin,
                         distance=lo.distance, label_smoothing=lo.label_smoothing,
                         mask_weight=lo.mask_weight)  # fmt: skip


def build_loader(
    cfg: ExperimentConfig, data: ReIDData, masks: bool, dist: DistInfo, pin_memory: bool = False,
    device_augment: bool = False, device_decode: bool = False,
) -> tuple[DataLoader, EpochSeeded]:  # fmt: skip
    """The P x K loader; every sample's augmentation is seeded by its place in the epoch.
    A video dataset's items are clips of its tracklets (``data.seq_len``, ``data.stride``).
    ``device_augment``: items are `DeferredItem`s for the step's `BatchAugment`, with
    JPEG files as their bytes when ``device_decode``."""
    d = cfg.data
    augment = AugmentConfig.of(d)
    items = data.train
    if data.video:
        items = dense_segments(items, d.seq_len, d.stride) if d.dense_clips else items
        train_set: Dataset = ReIDClipDataset(items, d.seq_len, d.stride, augment, train=True,
                                             cre=cfg.train.cre, masks=masks, schema=d.schema,
                                             device_augment=device_augment)  # fmt: skip
    else:
        train_set = ReIDImageDataset(items, augment, train=True, cre=cfg.train.cre, masks=masks,
                                     schema=d.schema, cache=d.cache,
                                     device_augment=device_augment,
                                     device_decode=device_decode)  # fmt: skip
    pids = [s.pid for s in items]
    shape = {"num_identities": d.identities_per_batch, "num_instances": d.num_instances,
             "seed": cfg.train.seed, "rank": dist.rank, "world_size": dist.world_size}  # fmt: skip
    if d.sampler == "clothes":
        inner: PKSampler = ClothesBalancedSampler(pids, [s.clothes for s in items], **shape)
    else:
        inner = PKSampler(pids, **shape)
    sampler = EpochSeeded(inner, cfg.train.seed)
    loader = DataLoader(
        train_set, batch_size=sampler.batch_size, sampler=sampler, num_workers=d.workers,
        drop_last=True, pin_memory=pin_memory, persistent_workers=d.workers > 0,
        collate_fn=DeferredCollate(augment) if device_augment else None,
    )  # fmt: skip
    return loader, sampler


def build_scheduler(
    cfg: ExperimentConfig, optimizer: torch.optim.Optimizer
) -> torch.optim.lr_scheduler.LRScheduler:
    """Step decay (lr x gamma every step_size epochs) after an optional linear warm-up."""
    t = cfg.train

    def factor(epoch: int) -> float:
        warm = min(1.0, (epoch + 1) / t.warmup_epochs) if t.warmup_epochs > 0 else 1.0
        return warm * t.gamma ** (epoch // t.step_size)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
