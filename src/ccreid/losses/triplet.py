"""Triplet losses on cosine (or Euclidean) distance, vectorised over the batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def distance_matrix(features: torch.Tensor, distance: str) -> torch.Tensor:
    if distance == "cosine":
        f = F.normalize(features, dim=1)
        return 1.0 - f @ f.T
    if distance == "euclidean":
        return torch.cdist(features, features).clamp(min=1e-12)
    raise ValueError(f"unknown distance {distance!r}; expected 'cosine' or 'euclidean'")


def _hardest_negative(dist: torch.Tensor, same_id: torch.Tensor) -> torch.Tensor:
    """Smallest distance to another identity per anchor (+inf when there is none)."""
    return dist.masked_fill(same_id, float("inf")).min(dim=1).values


class BatchCrossClothesTripletLoss(nn.Module):
    """L_BCTri (paper eq. 7): each anchor with *every* positive of the same identity in
    different clothes, against its hardest negative; the mean over all such
    (anchor, positive) triplets. A batch with none gives a gradient-safe 0."""

    def __init__(self, margin: float = 0.3, distance: str = "cosine") -> None:
        super().__init__()
        self.margin, self.distance = margin, distance

    def forward(
        self, features: torch.Tensor, pids: torch.Tensor, clothes: torch.Tensor
    ) -> torch.Tensor:
        dist = distance_matrix(features.float(), self.distance)
        same_id = pids[:, None] == pids[None, :]
        positive = same_id & (clothes[:, None] != clothes[None, :])
        negative = _hardest_negative(dist, same_id)
        valid = positive & torch.isfinite(negative)[:, None]
        if not valid.any():
            return features.sum() * 0.0
        losses = F.relu(self.margin + dist - negative[:, None])
        return losses[valid].mean()


class BatchHardTripletLoss(nn.Module):
    """L_Tri of Hermans et al.: hardest positive and hardest negative per anchor."""

    def __init__(self, margin: float = 0.3, distance: str = "cosine") -> None:
        super().__init__()
        self.margin, self.distance = margin, distance

    def forward(
        self, features: torch.Tensor, pids: torch.Tensor, clothes: torch.Tensor | None = None
    ) -> torch.Tensor:
        dist = distance_matrix(features.float(), self.distance)
        same_id = pids[:, None] == pids[None, :]
        eye = torch.eye(len(pids), dtype=torch.bool, device=pids.device)
        positive = same_id & ~eye
        hardest_pos = dist.masked_fill(~positive, float("-inf")).max(dim=1).values
        negative = _hardest_negative(dist, same_id)
        valid = positive.any(dim=1) & torch.isfinite(negative)
        if not valid.any():
            return features.sum() * 0.0
        return F.relu(self.margin + hardest_pos - negative)[valid].mean()
