"""Feature extraction and evaluation of every eval set of a dataset."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from ccreid.data import AugmentConfig, EvalSet, InputNormalizer, ReIDImageDataset, Sample
from ccreid.data.clips import frame_samples
from ccreid.engine.distributed import DistInfo, gather_rows, sync_buffers
from ccreid.engine.memory import release_freed_memory
from ccreid.engine.precision import autocast
from ccreid.evaluation import (
    Labels,
    RetrievalResult,
    evaluate_labels,
    k_reciprocal_rerank,
    pairwise_distance,
)
from ccreid.models import ReIDModel


@dataclass(frozen=True)
class InferenceOptions:
    augment: AugmentConfig = AugmentConfig()
    batch_size: int = 128
    workers: int = 0
    flip: bool = False
    schema: str = "atr"
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype | None = None
    channels_last: bool = True


@torch.no_grad()
def extract_features(
    model: ReIDModel,
    samples: list[Sample],
    opts: InferenceOptions,
    dist_info: DistInfo = DistInfo(),
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """L2-normalised f_b for each sample (flip fusion optional); sharded across DDP ranks.

    A tracklet's f_b is the mean of its frames' f_b: in eval mode BNNeck is affine, so
    this equals BNNeck applied to the temporal average of f_t over the whole tracklet
    (clips of any length, averaged by frames). Frames are embedded in batches, so a
    tracklet of any length fits in memory."""
    if samples and samples[0].is_tracklet:
        return _tracklet_features(model, samples, opts, dist_info, progress)
    return F.normalize(_frame_features(model, samples, opts, dist_info, progress), dim=1)


def _tracklet_features(
    model: ReIDModel, tracklets: list[Sample], opts: InferenceOptions, dist_info: DistInfo,
    progress: Callable[[int], None] | None,
) -> torch.Tensor:  # fmt: skip
    frames = frame_samples(tracklets)
    per_frame = _frame_features(model, frames, opts, dist_info, progress)
    owner = torch.repeat_interleave(torch.tensor([len(t.frames) for t in tracklets]))
    summed = torch.zeros(len(tracklets), per_frame.shape[1]).index_add_(0, owner, per_frame)
    return F.normalize(summed, dim=1)  # the mean's direction: dividing by the count is moot


@torch.no_grad()
def _frame_features(
    model: ReIDModel,
    samples: list[Sample],
    opts: InferenceOptions,
    dist_info: DistInfo,
    progress: Callable[[int], None] | None,
) -> torch.Tensor:
    """f_b (not normalised) of each image, flip-fused when asked."""
    model.eval()
    sync_buffers(model, dist_info)
    dataset = ReIDImageDataset(
        samples, opts.augment, train=False, masks=model.needs_mask, schema=opts.schema
    )
    shard = Subset(dataset, range(dist_info.rank, len(dataset), dist_info.world_size))
    loader = DataLoader(shard, batch_size=opts.batch_size, num_workers=opts.workers, shuffle=False)
    normalize = InputNormalizer.of(opts.augment)
    feats = []
    for batch in loader:
        images = normalize(batch.image, opts.device, opts.channels_last)
        masks = batch.mask.to(opts.device).float() if model.needs_mask else None
        with autocast(opts.device, opts.dtype):
            f = model(images, masks).float()
            if opts.flip:
                flipped_masks = masks.flip(-1) if masks is not None else None
                f = f + model(images.flip(-1), flipped_masks).float()
        feats.append(f.cpu())
        if progress:
            progress(len(images) * dist_info.world_size)
    local = torch.cat(feats) if feats else torch.empty(0, model.feature_dim)
    release_freed_memory()  # activations of the last batches: see ccreid.engine.memory
    return gather_rows(local, dist_info, len(samples))


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
    if len(results) == 1:
        return results[0]
    return RetrievalResult(
        cmc=np.mean([r.cmc for r in results], axis=0),
        mAP=float(np.mean([r.mAP for r in results])),
        num_valid_queries=results[0].num_valid_queries,
        num_queries=results[0].num_queries,
        mode=es.mode,
    )


def evaluate_all(
    model: ReIDModel,
    eval_sets: dict[str, EvalSet],
    opts: InferenceOptions,
    dist_info: DistInfo = DistInfo(),
    rerank: bool = False,
    progress: Callable[[int], None] | None = None,
    timings: dict[str, float] | None = None,
) -> dict[str, RetrievalResult]:
    """Evaluate every set; each distinct image is embedded once even if sets share it.

    ``timings``, when given, receives ``images``, ``extract_s`` and ``metrics_s``.
    """
    unique: dict[str, Sample] = {}
    for es in eval_sets.values():
        for s in (*es.query, *es.gallery):
            unique.setdefault(s.path, s)
    samples = list(unique.values())
    start = time.perf_counter()
    feats = extract_features(model, samples, opts, dist_info, progress)
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
