"""Pairwise distances and re-ranking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ccreid.evaluation import evaluate, k_reciprocal_rerank, pairwise_distance


def test_cosine_distance_is_one_minus_cosine() -> None:
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    g = torch.tensor([[1.0, 0.0], [1.0, 1.0], [-3.0, 0.0]])
    d = pairwise_distance(q, g, "cosine")
    expected = torch.tensor([[0.0, 1 - 2**-0.5, 2.0], [1.0, 1 - 2**-0.5, 1.0]])
    torch.testing.assert_close(d, expected, atol=1e-6, rtol=0)


def test_euclidean_matches_cdist_across_chunks() -> None:
    gen = torch.Generator().manual_seed(0)
    q, g = torch.randn(37, 8, generator=gen), torch.randn(11, 8, generator=gen)
    d = pairwise_distance(q, g, "euclidean", chunk_size=5)
    torch.testing.assert_close(d, torch.cdist(q, g), atol=1e-4, rtol=1e-4)


def test_distance_rejects_mismatched_dims_and_unknown_metric() -> None:
    with pytest.raises(ValueError, match="dims differ"):
        pairwise_distance(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="unknown metric"):
        pairwise_distance(torch.zeros(2, 3), torch.zeros(2, 3), metric="manhattan")


def test_rerank_improves_a_problem_with_a_clear_neighbourhood_structure() -> None:
    # Two tight clusters per identity; the raw query feature is noisy, so a gallery
    # neighbour of the right identity is best found through its neighbours.
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 32)) * 3
    g_pids = np.repeat(np.arange(6), 5)
    gf = centres[g_pids] + rng.normal(size=(30, 32)) * 0.5
    q_pids = np.arange(6)
    qf = centres[q_pids] + rng.normal(size=(6, 32)) * 2.5
    qf_t, gf_t = torch.tensor(qf), torch.tensor(gf)
    q_g = pairwise_distance(qf_t, gf_t, "euclidean").numpy()
    q_q = pairwise_distance(qf_t, qf_t, "euclidean").numpy()
    g_g = pairwise_distance(gf_t, gf_t, "euclidean").numpy()
    final = k_reciprocal_rerank(q_g, q_q, g_g, k1=4, k2=2, lambda_value=0.3)
    assert final.shape == (6, 30)
    cams = (np.zeros(6), np.ones(30))
    before = evaluate(q_g, q_pids, g_pids, *cams).mAP
    after = evaluate(final, q_pids, g_pids, *cams).mAP
    assert after >= before


def test_rerank_rejects_inconsistent_shapes() -> None:
    with pytest.raises(ValueError, match="inconsistent shapes"):
        k_reciprocal_rerank(np.zeros((2, 3)), np.zeros((2, 2)), np.zeros((2, 2)))
