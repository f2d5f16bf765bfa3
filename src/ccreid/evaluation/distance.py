"""Chunked pairwise distances between query and gallery features."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import torch
import torch.nn.functional as F

Metric = Literal["cosine", "euclidean"]
METRICS: tuple[str, ...] = ("cosine", "euclidean")


def _check_features(qf: torch.Tensor, gf: torch.Tensor, metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")
    if qf.ndim != 2 or gf.ndim != 2:
        raise ValueError(
            f"features must be 2-D (n, dim); got query {tuple(qf.shape)}, gallery {tuple(gf.shape)}"
        )
    if qf.shape[1] != gf.shape[1]:
        raise ValueError(f"query and gallery feature dims differ: {qf.shape[1]} vs {gf.shape[1]}")


def _distance_dtype(qf: torch.Tensor, gf: torch.Tensor) -> torch.dtype:
    """float64 for float64 features, so near-ties are not merged; float32 otherwise."""
    return torch.float64 if torch.float64 in (qf.dtype, gf.dtype) else torch.float32


def iter_distance_rows(
    qf: torch.Tensor, gf: torch.Tensor, metric: Metric = "cosine", chunk_size: int = 1024
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start_row, distances)`` blocks of the query x gallery distance matrix.

    Only one block of ``chunk_size`` query rows exists at a time, so a 100k x 100k problem
    never materialises the full matrix. Distances are float64 when a feature set is, else
    float32 (bf16 / fp16 features are multiplied in float32).
    """
    _check_features(qf, gf, metric)
    dtype = _distance_dtype(qf, gf)
    qf = qf.to(dtype)
    gf = gf.to(dtype)
    if metric == "cosine":
        gf = F.normalize(gf, dim=1)
    else:
        g_sq = gf.pow(2).sum(dim=1)
    for start in range(0, qf.shape[0], chunk_size):
        q = qf[start : start + chunk_size]
        if metric == "cosine":
            block = 1.0 - F.normalize(q, dim=1) @ gf.T
        else:
            block = q.pow(2).sum(dim=1, keepdim=True) + g_sq[None, :] - 2.0 * (q @ gf.T)
            block = block.clamp_(min=0.0).sqrt_()
        yield start, block


def pairwise_distance(
    qf: torch.Tensor, gf: torch.Tensor, metric: Metric = "cosine", chunk_size: int = 1024
) -> torch.Tensor:
    """Distance matrix (n_query, n_gallery): ``1 - cos`` or Euclidean, computed in row chunks
    (float64 for float64 features, else float32)."""
    _check_features(qf, gf, metric)
    out = torch.empty(qf.shape[0], gf.shape[0], dtype=_distance_dtype(qf, gf))
    for start, block in iter_distance_rows(qf, gf, metric, chunk_size):
        out[start : start + block.shape[0]] = block
    return out
