"""Retrieval metrics for re-ID: CMC, mAP and mINP in the general, same-clothes and
clothes-changing settings, distances, re-ranking, and the tables that show them."""

from ccreid.evaluation.distance import pairwise_distance
from ccreid.evaluation.metrics import (
    CMC_RANKS,
    EVAL_MODES,
    HEADLINE_METRICS,
    METRIC_NAMES,
    Labels,
    RetrievalResult,
    evaluate,
    evaluate_features,
    evaluate_labels,
    ranked_without_junk,
)
from ccreid.evaluation.rerank import k_reciprocal_rerank
from ccreid.evaluation.tables import format_metrics, metric_name, results_table

__all__ = [
    "CMC_RANKS",
    "EVAL_MODES",
    "HEADLINE_METRICS",
    "METRIC_NAMES",
    "Labels",
    "RetrievalResult",
    "evaluate",
    "evaluate_features",
    "evaluate_labels",
    "format_metrics",
    "k_reciprocal_rerank",
    "metric_name",
    "pairwise_distance",
    "ranked_without_junk",
    "results_table",
]
