"""A body-mask head on the stage-2 features, so that BSGA can run without a parser.

At inference BSGA needs the body mask of every image. With ``model.mask_head=true`` the
model learns to predict that mask from its own stage-2 features (trained against the
parser's mask, beside L_id and L_BCTri), and ``model.mask_source=predicted`` lets BSGA use
the prediction: one model to ship, no parser at inference.
"""

from __future__ import annotations

import torch
from torch import nn

from ccreid.models.attention import resize_mask


class MaskHead(nn.Module):
    """1x1 conv to ``hidden`` channels, BN, ReLU, 3x3 conv to one logit per position.

    At ResNet-50's stage 2 (512 channels) this is about 8.5 M multiply-adds per 256x128
    image, under 0.2% of the model's.
    """

    def __init__(self, channels: int, hidden: int = 32) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, 1, 3, padding=1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Mask logits, (B, 1, h, w) at the features' resolution."""
        return self.layers(features)


def head_target(masks: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """The parser's body masks ((B, H, W) or (B, 1, H, W)) as the head learns and is
    measured against them: at its output size, resized and binarised as BSGA's M'."""
    return resize_mask(masks.reshape(len(masks), 1, *masks.shape[-2:]).float(), size)


def binary_mask(logits: torch.Tensor) -> torch.Tensor:
    """The predicted body mask in {0, 1} (probability >= 0.5), in the logits' dtype."""
    return (logits >= 0).to(logits.dtype)


def mask_overlap(predicted: torch.Tensor, target: torch.Tensor) -> tuple[int, int]:
    """Intersection and union pixel counts of two {0, 1} masks, summed over the batch
    (sums over batches give a pooled IoU)."""
    p, t = predicted.bool(), target.bool()
    return int((p & t).sum()), int((p | t).sum())
