"""Features of images and tracklets, and the evaluation of every eval set of a dataset.

One function, `forward_batch`, turns a uint8 batch into features; embedding from
Python, from dataset records, in a search or in training's validation all call it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from ccreid.data import (
    AugmentConfig,
    EvalSet,
    InputNormalizer,
    ReIDImageDataset,
    Sample,
    load_batch,
)
from ccreid.data.clips import frame_samples
from ccreid.evaluation import (
    Labels,
    RetrievalResult,
    evaluate_labels,
    k_reciprocal_rerank,
    pairwise_distance,
)
from ccreid.inference.memory import release_freed_memory
from ccreid.inference.precision import autocast
from ccreid.models import ReIDModel
from ccreid.models.reid_model import mask_head_overlap


@dataclass(frozen=True)
class InferenceOptions:
    """How images are fed to a model at inference (see ``inference_options``)."""

    augment: AugmentConfig = AugmentConfig()
    batch_size: int = 128
    workers: int = 0
    flip: bool = False
    schema: str = "atr"
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype | None = None
    channels_last: bool = True


class Shards(Protocol):
    """How the work is split over processes (training under torchrun): rank r embeds rows
    r, r + w, ...; ``gather`` reassembles them in order, ``sync`` shares rank 0's buffers."""

    rank: int
    world_size: int

    def gather(self, local: torch.Tensor, total: int) -> torch.Tensor: ...

    def sync(self, module: torch.nn.Module) -> None: ...


class OneProcess:
    """The single-process case: nothing to split, gather or share."""

    rank, world_size = 0, 1

    def gather(self, local: torch.Tensor, total: int) -> torch.Tensor:
        return local

    def sync(self, module: torch.nn.Module) -> None:
        return None


@torch.no_grad()
def forward_batch(
    model: ReIDModel, images: torch.Tensor, masks: torch.Tensor | None, opts: InferenceOptions
) -> torch.Tensor:
    """f_b (not normalised, fp32, on the CPU) of a uint8 batch; flip fusion sums the
    features of each image and its mirror."""
    model.eval()
    normalize = InputNormalizer(opts.augment.mean, opts.augment.std)
    x = normalize(images, opts.device, opts.channels_last)
    m = masks.to(opts.device).float() if masks is not None else None
    with autocast(opts.device, opts.dtype):
        f = model(x, m).float()
        if opts.flip:
            f = f + model(x.flip(-1), m.flip(-1) if m is not None else None).float()
    return f.cpu()


@torch.no_grad()
def extract_features(
    model: ReIDModel, samples: list[Sample], opts: InferenceOptions, shards: Shards | None = None,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:  # fmt: skip
    """L2-normalised f_b for each sample (flip fusion optional); sharded across processes.

    A tracklet's f_b is the mean of its frames' f_b: in eval mode BNNeck is affine, so
    this equals BNNeck applied to the temporal average of f_t over the whole tracklet
    (clips of any length, averaged by frames). Frames are embedded in batches, so a
    tracklet of any length fits in memory."""
    shards = shards or OneProcess()
    if samples and samples[0].is_tracklet:
        frames = frame_samples(samples)
        per_frame = _frame_features(model, frames, opts, shards, progress)
        owner = torch.repeat_interleave(torch.tensor([len(t.frames) for t in samples]))
        summed = torch.zeros(len(samples), per_frame.shape[1]).index_add_(0, owner, per_frame)
        return F.normalize(summed, dim=1)  # the mean's direction: dividing by the count is moot
    return F.normalize(_frame_features(model, samples, opts, shards, progress), dim=1)


def _frame_features(
    model: ReIDModel, samples: list[Sample], opts: InferenceOptions, shards: Shards,
    progress: Callable[[int], None] | None,
) -> torch.Tensor:  # fmt: skip
    """f_b (not normalised) of each image, read by ``opts.workers`` data workers."""
    model.eval()
    shards.sync(model)
    dataset = ReIDImageDataset(
        samples, opts.augment, train=False, masks=model.needs_mask, schema=opts.schema
    )
    shard = Subset(dataset, range(shards.rank, len(dataset), shards.world_size))
    loader = DataLoader(shard, batch_size=opts.batch_size, num_workers=opts.workers, shuffle=False)
    feats = []
    for batch in loader:
        feats.append(forward_batch(model, batch.image, batch.mask if model.needs_mask else None,
                                   opts))  # fmt: skip
        if progress:
            progress(len(batch.image) * shards.world_size)
    local = torch.cat(feats) if feats else torch.empty(0, model.feature_dim)
    release_freed_memory()  # activations of the last batches: see ccreid.inference.memory
    return shards.gather(local, len(samples))


def labels_of(items: list[Sample]) -> Labels:
    """The label arrays the metrics take, for a list of samples."""
    return Labels(
        pids=np.array([s.pid for s in items], dtype=np.int64),
        camids=np.array([s.camid for s in items], dtype=np.int64),
        clothes=np.array([s.clothes for s in items], dtype=np.int64),
    )


def evaluate_set(
    es: EvalSet, qf: torch.Tensor, gf: torch.Tensor, rerank: bool = False
) -> RetrievalResult:
    """Metrics of one eval set from its features (averaged over gallery trials if any)."""
    q, g = labels_of(es.query), labels_of(es.gallery)
    trials = es.gallery_trials or [np.arange(len(es.gallery))]
    results = []
    for idx in trials:
        t = torch.as_tensor(idx, dtype=torch.long)
        dist = pairwise_distance(qf, gf[t]).numpy()
        if rerank:
            dist = k_reciprocal_rerank(
                dist, pairwise_distance(qf, qf).numpy(), pairwise_distance(gf[t], gf[t]).numpy()
            )
        trial = Labels(g.pids[idx], g.camids[idx], g.clothes[idx])
        results.append(evaluate_labels(dist, q, trial, mode=es.mode))
    return RetrievalResult.mean(results)


def evaluate_all(
    model: ReIDModel, eval_sets: dict[str, EvalSet], opts: InferenceOptions,
    shards: Shards | None = None, rerank: bool = False,
    progress: Callable[[int], None] | None = None, timings: dict[str, float] | None = None,
) -> dict[str, RetrievalResult]:  # fmt: skip
    """Evaluate every set; each distinct image is embedded once even if sets share it.

    ``timings``, when given, receives ``images``, ``extract_s`` and ``metrics_s``.
    """
    unique: dict[str, Sample] = {}
    for es in eval_sets.values():
        for s in (*es.query, *es.gallery):
            unique.setdefault(s.path, s)
    samples = list(unique.values())
    start = time.perf_counter()
    feats = extract_features(model, samples, opts, shards, progress)
    extracted = time.perf_counter()
    row = {s.path: i for i, s in enumerate(samples)}

    def rows(items: list[Sample]) -> torch.Tensor:
        return feats[torch.tensor([row[s.path] for s in items], dtype=torch.long)]

    results = {
        name: evaluate_set(es, rows(es.query), rows(es.gallery), rerank)
        for name, es in eval_sets.items()
    }
    if timings is not None:
        timings.update(images=len(samples), extract_s=extracted - start,
                       metrics_s=time.perf_counter() - extracted)  # fmt: skip
    return results


@torch.no_grad()
def mask_head_iou(model: ReIDModel, samples: list[Sample], opts: InferenceOptions,
                  chunk: int = 128) -> float:  # fmt: skip
    """The mask head's pooled IoU with the parser's masks over ``samples`` (e.g. a test
    gallery), at the resolution BSGA uses them."""
    model.eval()
    normalize = InputNormalizer(opts.augment.mean, opts.augment.std)
    inter = union = 0
    for start in range(0, len(samples), chunk):
        raw, masks = load_batch(samples[start : start + chunk], opts.augment, opts.schema,
                                masks=True)  # fmt: skip
        images = normalize(raw, opts.device, opts.channels_last)
        with autocast(opts.device, opts.dtype):
            i, u = mask_head_overlap(model, images, masks.to(opts.device))
        inter, union = inter + i, union + u
    return inter / union if union else 1.0
