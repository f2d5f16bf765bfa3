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


def iter_distance_rows(
    qf: torch.Tensor, gf: torch.Tensor, metric: Metric = "cosine", chunk_size: int = 1024
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start_row, distances)`` blocks of the query x gallery distance matrix.

    Only one block of ``chunk_size`` query rows exists at a time, so a 100k x 100k problem
    never materialises the full matrix.
    """
    _check_features(qf, gf, metric)
    qf = qf.float()
    gf = gf.float()
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
    """Distance matrix (n_query, n_gallery): ``1 - cos`` or Euclidean, computed in row chunks."""
    _check_features(qf, gf, metric)
    out = torch.empty(qf.shape[0], gf.shape[0], dtype=torch.float32)
    for start, block in iter_distance_rows(qf, gf, metric, chunk_size):
        out[start : start + block.shape[0]] = block
    return out
