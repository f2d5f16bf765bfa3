"""Retrieval metrics for re-ID: CMC and mAP in the general, same-clothes and clothes-changing settings."""

from ccreid.evaluation.distance import pairwise_distance
from ccreid.evaluation.metrics import (
    EVAL_MODES,
    Labels,
    RetrievalResult,
    evaluate,
    evaluate_features,
    evaluate_labels,
    ranked_without_junk,
)
from ccreid.evaluation.rerank import k_reciprocal_rerank

__all__ = [
    "EVAL_MODES",
    "Labels",
    "RetrievalResult",
    "evaluate",
    "evaluate_features",
    "evaluate_labels",
    "ranked_without_junk",
    "k_reciprocal_rerank",
    "pairwise_distance",
]
