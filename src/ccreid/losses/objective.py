"""The training objective L = L_id + lambda * L_tri (+ mu * L_mask with a mask head),
assembled by name."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ccreid.losses.mask import mask_loss
from ccreid.losses.triplet import BatchCrossClothesTripletLoss, BatchHardTripletLoss
from ccreid.registry import Registry

TRIPLETS: Registry[type[nn.Module]] = Registry("triplet loss")
TRIPLETS.register("bctri")(BatchCrossClothesTripletLoss)
TRIPLETS.register("tri")(BatchHardTripletLoss)


@dataclass
class LossTerms:
    total: torch.Tensor
    identity: torch.Tensor
    triplet: torch.Tensor
    mask: torch.Tensor  # 0 without a mask head


class ReIDObjective(nn.Module):
    """Cross-entropy on logits (optional label smoothing) plus a weighted triplet term.

    ``triplet="none"`` trains with L_id alone (the paper's "without L_BCTri" row).
    """

    def __init__(
        self,
        triplet: str = "bctri",
        weight: float = 1.0,
        margin: float = 0.3,
        distance: str = "cosine",
        label_smoothing: float = 0.0,
        mask_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.triplet = None if triplet == "none" else TRIPLETS.get(triplet)(margin, distance)
        self.weight, self.label_smoothing = weight, label_smoothing
        self.mask_weight = mask_weight

    def forward(
        self,
        logits: torch.Tensor,
        features: torch.Tensor,
        pids: torch.Tensor,
        clothes: torch.Tensor,
        mask_logits: torch.Tensor | None = None,
        mask_target: torch.Tensor | None = None,
    ) -> LossTerms:
        """``mask_logits`` (the head's) are trained against ``mask_target``, the parser's
        body masks at their resolution (the model's ``ModelOutput.mask_target``)."""
        identity = F.cross_entropy(logits.float(), pids, label_smoothing=self.label_smoothing)
        if self.triplet is None:
            triplet = identity.new_zeros(())
        else:
            triplet = self.triplet(features, pids, clothes)
        total = identity + self.weight * triplet
        mask = identity.new_zeros(())
        if mask_logits is not None:
            if mask_target is None:
                raise ValueError("a mask head is trained against body masks: none were given")
            mask = mask_loss(mask_logits, mask_target)
            total = total + self.mask_weight * mask
        return LossTerms(total, identity.detach(), triplet.detach(), mask.detach())
