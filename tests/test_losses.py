"""Triplet losses against loop references written here, and the combined objective."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ccreid.losses import BatchCrossClothesTripletLoss, BatchHardTripletLoss, ReIDObjective


def cos_dist(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(1 - torch.dot(a, b) / (a.norm() * b.norm()))


def bctri_reference(f, pids, clothes, margin=0.3) -> float:
    terms = []
    for i in range(len(f)):
        negs = [cos_dist(f[i], f[k]) for k in range(len(f)) if pids[k] != pids[i]]
        if not negs:
            continue
        for j in range(len(f)):
            if pids[j] == pids[i] and clothes[j] != clothes[i]:
                terms.append(max(0.0, margin + cos_dist(f[i], f[j]) - min(negs)))
    return sum(terms) / len(terms) if terms else 0.0


def hard_reference(f, pids, margin=0.3) -> float:
    terms = []
    for i in range(len(f)):
        pos = [cos_dist(f[i], f[j]) for j in range(len(f)) if j != i and pids[j] == pids[i]]
        neg = [cos_dist(f[i], f[k]) for k in range(len(f)) if pids[k] != pids[i]]
        if pos and neg:
            terms.append(max(0.0, margin + max(pos) - min(neg)))
    return sum(terms) / len(terms) if terms else 0.0


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 12), st.integers(1, 4), st.integers(1, 3), st.integers(0, 10_000))
def test_losses_match_loop_references(n, ids, outfits, seed) -> None:
    gen = torch.Generator().manual_seed(seed)
    f = torch.randn(n, 6, generator=gen)
    pids = torch.randint(0, ids, (n,), generator=gen)
    clothes = pids * 10 + torch.randint(0, outfits, (n,), generator=gen)
    assert float(BatchCrossClothesTripletLoss()(f, pids, clothes)) == pytest.approx(
        bctri_reference(f, pids, clothes), abs=1e-5
    )
    assert float(BatchHardTripletLoss()(f, pids)) == pytest.approx(
        hard_reference(f, pids), abs=1e-5
    )


def test_no_cross_clothes_positive_gives_zero_with_gradient() -> None:
    f = torch.randn(4, 8, requires_grad=True)
    loss = BatchCrossClothesTripletLoss()(f, torch.tensor([0, 0, 1, 1]), torch.tensor([5, 5, 6, 6]))
    assert float(loss) == 0.0
    loss.backward()
    assert f.grad is not None and torch.all(f.grad == 0)


def test_cross_clothes_pulls_different_outfits_together() -> None:
    f = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]], requires_grad=True)
    loss = BatchCrossClothesTripletLoss(margin=0.3)(
        f, torch.tensor([0, 0, 1]), torch.tensor([0, 1, 2])
    )
    loss.backward()
    assert float(loss) > 0 and f.grad.abs().sum() > 0


def test_objective_combines_terms_by_name() -> None:
    logits, feats = torch.randn(4, 3), torch.randn(4, 5)
    pids, clothes = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 2, 3])
    full = ReIDObjective("bctri", weight=2.0)(logits, feats, pids, clothes)
    assert float(full.total) == pytest.approx(float(full.identity + 2.0 * full.triplet), rel=1e-5)
    id_only = ReIDObjective("none")(logits, feats, pids, clothes)
    assert float(id_only.triplet) == 0.0
    with pytest.raises(KeyError, match="unknown triplet loss 'quad'; known: bctri, tri"):
        ReIDObjective("quad")
