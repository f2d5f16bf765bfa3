"""The mask head's loss: binary cross-entropy plus soft Dice against the parser's body
mask (the target is made by the model, at its head's resolution)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def mask_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy plus soft Dice against a {0, 1} target at the logits' size.

    BCE trains every position; Dice keeps thin or small bodies from being outvoted by the
    background.
    """
    logits = logits.float()
    target = target.float()
    bce = F.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits).flatten(1)
    flat = target.flatten(1)
    dice = 1 - (2 * (prob * flat).sum(1) + 1) / (prob.sum(1) + flat.sum(1) + 1)
    return bce + dice.mean()
