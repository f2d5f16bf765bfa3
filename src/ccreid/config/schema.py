"""Typed experiment configuration and the values each enumerated setting takes.

Defaults are the paper's recipe (docs/conventions.md#recipe). This module imports nothing
of ccreid: data, models and inference read the vocabulary below from here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CONFIG_VERSION = 1

# The values of the enumerated settings, in one place (the config checks them, and the
# components that take them refuse anything else).
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SAMPLERS = ("pk", "clothes")
DISTANCES = ("cosine", "euclidean")
CRE_CLOTHES = ("same", "own")
MASK_SOURCES = ("parser", "predicted")
AUGMENT_ON = ("auto", "worker", "device")
DECODE_ON = ("auto", "worker", "device")
MAX_SIDE = 4096  # pixels: a larger input is a typo, not a re-ID crop


@dataclass
class DataConfig:
    name: str = "vcclothes"
    """Registered dataset layout (prcc, vcclothes, ltcc, nkup, market1501, last, deepchange,
    ccvid, manifest)."""
    root: str = "data/synthetic"
    """Dataset folder (or the folder above it)."""
    mask_root: str | None = None
    """Folder of parsing masks mirroring the dataset tree (`ccreid parse` writes one)."""
    schema: str = "atr"
    """Label schema of the masks (atr, lip)."""
    height: int = 256
    """Input height in pixels."""
    width: int = 128
    """Input width in pixels."""
    num_identities: int = 8
    """P: identities per batch."""
    num_instances: int = 4
    """K: images per identity in a batch."""
    batch_size: int | None = None
    """Images per batch instead of P (P = batch_size / K)."""
    sampler: str = "pk"
    """Identity sampler: pk (random images) or clothes (each identity's K images alternate
    over its outfits, so the cross-clothes triplet loss finds positives)."""
    workers: int = 2
    """Data loader worker processes (persistent across epochs)."""
    cache: bool = False
    """Keep decoded images and parsing maps in memory after their first read (per worker);
    with decode_on=device, a JPEG file's bytes instead of its pixels."""
    augment_on: str = "auto"
    """Where training augmentation runs: worker (each data worker augments its samples) or
    device (workers decode, and shrink only images larger than the training size; the
    resize of smaller ones, flips, crops, erasing, CRE and masks run on whole batches where
    the model runs, from the same per-sample draws); auto is device when the model runs on
    a CUDA device, worker otherwise."""
    decode_on: str = "auto"
    """Where JPEG training files are decoded when augmentation runs on the device: worker,
    or device (workers read the bytes; each batch is decoded in one call where the model
    runs, by nvJPEG on CUDA, on the CPU where the device has no decoder; other formats
    are decoded by the workers); auto is device for image datasets on a CUDA device."""
    flip: float = 0.5
    """Probability of a horizontal flip in training."""
    pad: int = 10
    """Padding before the random crop, in pixels."""
    random_erasing: float = 0.5
    """Probability of random erasing in training."""
    val_ids: int = 0
    """Training identities held out as a validation set for model selection."""
    seq_len: int = 8
    """Video datasets: frames per training clip."""
    stride: int = 4
    """Video datasets: frames between two frames of a clip."""
    dense_clips: bool = False
    """Video datasets: cut tracklets into consecutive items of seq_len * stride frames (the
    remainder joins the last), so every frame is trained on."""
    options: dict[str, Any] = field(default_factory=dict)
    """Options of the dataset layout (e.g. PRCC's single_shot, trials)."""

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
    """torchvision backbone (resnet18, resnet34, resnet50), or resnet18_w32: ResNet-18 at half
    its widths, random initialisation only (the demo's small-data backbone)."""
    attention: str = "bsga"
    """Module between stage 2 and 3 (bsga, none, se, cbam, eca, cia, psa)."""
    weights: str = "imagenet1k_v1"
    """Backbone initialisation: imagenet1k_v1 (what the re-ID code of the paper's time
    loads), imagenet1k_v2, none, or a path to a torchvision-named state dict."""
    last_stride: int = 1
    """Stride of stage 4 (1 doubles the final map, the re-ID convention)."""
    attention_options: dict[str, Any] = field(default_factory=dict)
    """Options the attention module declares (BSGA: share_mask_conv, init = body_prior or
    default; see docs/conventions.md#bsga)."""
    mask_head: bool = False
    """Add a head that learns the body mask from the stage-2 features, so BSGA can run
    without a parser at inference (mask_source=predicted)."""
    mask_source: str = "parser"
    """Where BSGA's mask comes from at inference: parser (given masks) or predicted (the
    mask head's); training always uses the parser's."""


@dataclass
class LossConfig:
    triplet: str = "bctri"
    """Triplet term: bctri (the batch cross-clothes triplet loss), tri (batch-hard) or none."""
    weight: float = 1.0
    """lambda: weight of the triplet term."""
    margin: float = 0.3
    """Triplet margin."""
    label_smoothing: float = 0.0
    """Label smoothing of the identity loss."""
    distance: str = "cosine"
    """Distance of the triplet terms: cosine (L_BCTri) or euclidean (batch-hard L_Tri)."""
    mask_weight: float = 1.0
    """Weight of the mask head's BCE + Dice loss (model.mask_head=true)."""


@dataclass
class TrainConfig:
    cre: bool = True
    """Train the clothes-erased copy of every image beside it (CRE)."""
    cre_clothes: str = "same"
    """Clothes label of an erased copy: same (its original's) or own (one erased outfit per
    identity, so L_BCTri pairs original and erased copy)."""
    epochs: int = 60
    """Epochs to train."""
    lr: float = 3e-4
    """Adam learning rate."""
    weight_decay: float = 5e-4
    """Adam weight decay."""
    step_size: int = 20
    """Epochs between two learning-rate decays."""
    gamma: float = 0.1
    """Learning-rate factor at each decay."""
    warmup_epochs: int = 0
    """Epochs of linear learning-rate warm-up."""
    eval_every: int = 10
    """Epochs between two validations (model selection, when there is validation data)."""
    seed: int = 0
    """Seed of initialisation, sampling and augmentation."""
    precision: str = "auto"
    """auto (bf16 where the CPU has it natively, AMP on CUDA), fp32, bf16 or fp16."""
    channels_last: bool = True
    """Channels-last memory format (faster convolutions)."""
    max_steps_per_epoch: int | None = None
    """Cut every epoch short after this many steps (smoke tests)."""
    deterministic: bool = False
    """Ask torch for deterministic algorithms (slower)."""


@dataclass
class EvalConfig:
    batch_size: int = 128
    """Images per batch when embedding."""
    precision: str = "fp32"
    """Precision of the features: fp32 (numbers do not depend on bf16 support), or auto
    (as training chose: faster on CPUs with native bf16)."""
    flip: bool = False
    """Sum the features of each image and its mirror (as CAL does)."""
    rerank: bool = False
    """k-reciprocal re-ranking (Zhong et al.)."""


@dataclass
class ExperimentConfig:
    version: int = CONFIG_VERSION
    """Version of the config format."""
    name: str = "experiment"
    """Run name: the run folder is output_dir/name."""
    output_dir: str = "runs"
    """Folder of run folders."""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


# The values each enumerated key takes (checked when a config loads; the reference page
# lists them).
CHOICES: dict[str, tuple[str, ...]] = {
    "data.sampler": SAMPLERS,
    "data.augment_on": AUGMENT_ON,
    "data.decode_on": DECODE_ON,
    "model.mask_source": MASK_SOURCES,
    "loss.distance": DISTANCES,
    "train.cre_clothes": CRE_CLOTHES,
    "train.precision": PRECISIONS,
    "eval.precision": PRECISIONS,
}
