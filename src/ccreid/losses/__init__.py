"""Identity and triplet losses (batch-hard and batch cross-clothes)."""

from ccreid.losses.mask import mask_loss
from ccreid.losses.objective import TRIPLETS, LossTerms, ReIDObjective
from ccreid.losses.triplet import (
    BatchCrossClothesTripletLoss,
    BatchHardTripletLoss,
    distance_matrix,
)

__all__ = [
    "TRIPLETS",
    "BatchCrossClothesTripletLoss",
    "BatchHardTripletLoss",
    "LossTerms",
    "ReIDObjective",
    "distance_matrix",
    "mask_loss",
]
