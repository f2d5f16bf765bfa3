"""Typed experiment configuration. Defaults are the paper's recipe (SPEC section 4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CONFIG_VERSION = 1


@dataclass
class DataConfig:
    name: str = "vcclothes"
    root: str = "data/synthetic"
    mask_root: str | None = None
    schema: str = "atr"
    height: int = 256
    width: int = 128
    num_identities: int = 8  # P
    num_instances: int = 4  # K
    batch_size: int | None = None  # alternative to P: batch_size / K identities per batch
    sampler: str = "pk"  # pk | clothes
    workers: int = 2
    cache: bool = False  # keep decoded images + parsing maps in memory (per worker)
    flip: float = 0.5
    pad: int = 10
    random_erasing: float = 0.5
    val_ids: int = 0  # hold out N training ids for model selection (PRCC ships rgb/val)
    # Video datasets (ccvid): a training item is a clip of seq_len frames, stride apart;
    # dense_clips splits long tracklets into consecutive items of seq_len * stride frames.
    seq_len: int = 8
    stride: int = 4
    dense_clips: bool = False
    options: dict[str, Any] = field(default_factory=dict)  # dataset-specific (e.g. single_shot)

    @property
    def identities_per_batch(self) -> int:
        """P: given directly, or as ``batch_size`` / K (validated to divide exactly)."""
        return (
            self.num_identities
            if self.batch_size is None
            else self.batch_size // self.num_instances
        )


@dataclass
class ModelConfig:
    backbone: str = "resnet50"
    attention: str = "bsga"  # none | bsga | se | cbam | eca
    # ImageNet initialisation: imagenet1k_v1 (the re-ID code of the paper's time, CAL
    # included, loads torchvision's V1 weights), imagenet1k_v2, none, or a path to a
    # torchvision-named state dict (.pth / .safetensors).
    weights: str = "imagenet1k_v1"
    last_stride: int = 1
    share_mask_conv: bool = False
    bsga_init: str = "body_prior"  # body_prior | default (SPEC section 2; README: measured)
    # A head on the stage-2 features that learns the body mask (loss.mask_weight), so that
    # BSGA can use its own prediction at inference (mask_source=predicted): no parser.
    mask_head: bool = False
    mask_source: str = "parser"  # parser | predicted (inference only; training uses the parser's)


@dataclass
class LossConfig:
    triplet: str = "bctri"  # bctri | tri | none
    weight: float = 1.0
    margin: float = 0.3
    label_smoothing: float = 0.0
    distance: str = "cosine"  # cosine (the paper's L_BCTri) | euclidean (Hermans et al.'s L_Tri)
    mask_weight: float = 1.0  # weight of the mask head's BCE + Dice (model.mask_head=true)


@dataclass
class TrainConfig:
    cre: bool = True
    # Clothes label of an erased copy: same (its original's) or own (one "erased" outfit
    # per identity, so L_BCTri treats original and erased copy as a cross-clothes pair).
    cre_clothes: str = "same"
    epochs: int = 60
    lr: float = 3e-4
    weight_decay: float = 5e-4
    step_size: int = 20
    gamma: float = 0.1
    warmup_epochs: int = 0
    eval_every: int = 10
    seed: int = 0
    precision: str = "auto"  # auto | fp32 | bf16 | fp16
    channels_last: bool = True
    max_steps_per_epoch: int | None = None
    deterministic: bool = False


@dataclass
class EvalConfig:
    batch_size: int = 128
    # Features in fp32 whatever the training precision (reported numbers do not depend on
    # the CPU's bf16 support); auto follows train.precision's choice (faster on bf16 CPUs).
    precision: str = "fp32"
    flip: bool = False
    rerank: bool = False


@dataclass
class ExperimentConfig:
    version: int = CONFIG_VERSION
    name: str = "experiment"
    output_dir: str = "runs"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
