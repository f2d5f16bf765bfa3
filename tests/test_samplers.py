"""P x K batches, determinism, DDP sharding and the clothes-balanced draw."""

from __future__ import annotations

import numpy as np
import pytest

from ccreid.data import ClothesBalancedSampler, PKSampler

PIDS = np.repeat(np.arange(10), 8)  # 10 ids x 8 images
CLOTHES = np.tile([0, 0, 0, 0, 0, 0, 1, 1], 10) + 2 * PIDS  # 6 of outfit A, 2 of outfit B


def batches(sampler, size: int) -> list[list[int]]:
    order = list(sampler)
    return [order[i : i + size] for i in range(0, len(order), size)]


def test_each_batch_has_p_distinct_ids_with_k_images() -> None:
    s = PKSampler(PIDS, num_identities=4, num_instances=2, seed=0)
    bs = batches(s, 8)
    assert len(bs) * 8 == len(s) and bs
    for b in bs:
        ids = PIDS[b]
        assert len(set(ids)) == 4 and all((ids == i).sum() == 2 for i in set(ids))


def test_seed_and_epoch_fix_the_draw() -> None:
    a, b = PKSampler(PIDS, 4, 2, seed=1), PKSampler(PIDS, 4, 2, seed=1)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b)


def test_ranks_get_different_batches() -> None:
    r0 = PKSampler(PIDS, 4, 2, seed=0, rank=0, world_size=2)
    r1 = PKSampler(PIDS, 4, 2, seed=0, rank=1, world_size=2)
    whole = batches(PKSampler(PIDS, 4, 2, seed=0), 8)
    assert batches(r0, 8) == whole[0::2][: len(r0) // 8]
    assert batches(r1, 8) == whole[1::2][: len(r1) // 8]
    assert len(r0) == len(r1)


def test_clothes_balanced_spreads_k_over_outfits() -> None:
    plain = PKSampler(PIDS, 4, 2, seed=0)
    balanced = ClothesBalancedSampler(PIDS, CLOTHES, num_identities=4, num_instances=2, seed=0)

    def cross_clothes_pairs(sampler) -> int:
        return sum(
            len(set(CLOTHES[b[i : i + 2]])) == 2
            for b in batches(sampler, 8)
            for i in range(0, 8, 2)
        )

    assert cross_clothes_pairs(balanced) > cross_clothes_pairs(plain)


def test_too_few_identities_is_an_error() -> None:
    with pytest.raises(ValueError, match="needs 8 identities but the data has 3"):
        PKSampler([0, 1, 2], num_identities=8)
