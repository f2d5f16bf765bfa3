"""k-reciprocal re-ranking (Zhong et al., CVPR 2017).

The final distance mixes the original distance with a Jaccard distance between
k-reciprocal neighbour sets: ``d* = (1 - lambda) * d_J + lambda * d``.
"""

from __future__ import annotations

import numpy as np


def _k_reciprocal(initial_rank: np.ndarray, i: int, k: int) -> np.ndarray:
    """Indices j among i's k nearest whose own k nearest include i."""
    forward = initial_rank[i, : k + 1]
    backward = initial_rank[forward, : k + 1]
    return forward[(backward == i).any(axis=1)]


def k_reciprocal_rerank(
    q_g: np.ndarray,
    q_q: np.ndarray,
    g_g: np.ndarray,
    k1: int = 20,
    k2: int = 6,
    lambda_value: float = 0.3,
) -> np.ndarray:
    """Re-ranked (n_query, n_gallery) distances from query-gallery, query-query, gallery-gallery.

    Memory is O((n_query + n_gallery)^2): meant for evaluation sets, not million-image galleries.
    """
    nq, ng = q_g.shape
    if q_q.shape != (nq, nq) or g_g.shape != (ng, ng):
        raise ValueError(f"inconsistent shapes: q_g {q_g.shape}, q_q {q_q.shape}, g_g {g_g.shape}")
    if k1 < 1 or k2 < 1:
        raise ValueError(f"k1 and k2 must be >= 1, got {k1}, {k2}")
    original = np.block([[q_q, q_g], [q_g.T, g_g]]).astype(np.float64)
    original = np.power(original, 2)
    # Each row is divided by its own maximum (the reference divides by column maxima and
    # transposes, which on this symmetric matrix is the same thing).
    original = original / np.maximum(original.max(axis=1, keepdims=True), 1e-12)
    n = original.shape[0]
    initial_rank = np.argsort(original, axis=1, kind="stable")
    weights = np.zeros_like(original)
    half = int(np.around(k1 / 2.0))
    for i in range(n):
        reciprocal = _k_reciprocal(initial_rank, i, k1)
        expanded = reciprocal
        for candidate in reciprocal:
            cand_set = _k_reciprocal(initial_rank, int(candidate), half)
            if len(np.intersect1d(cand_set, reciprocal)) > 2.0 / 3.0 * len(cand_set):
                expanded = np.append(expanded, cand_set)
        expanded = np.unique(expanded)
        w = np.exp(-original[i, expanded])
        weights[i, expanded] = w / w.sum()
    if k2 > 1:
        weights = weights[initial_rank[:, :k2]].mean(axis=1)
    jaccard = np.empty((nq, n), dtype=np.float64)
    for i in range(nq):
        support = np.flatnonzero(weights[i])
        overlap = np.minimum(weights[i, support][None, :], weights[:, support]).sum(axis=1)
        jaccard[i] = 1.0 - overlap / (2.0 - overlap)
    final = jaccard * (1.0 - lambda_value) + original[:nq] * lambda_value
    return final[:, nq:].astype(np.float32)
