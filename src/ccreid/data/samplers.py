"""Identity samplers: P identities x K images per batch, deterministic and DDP-aware.

The global batch order depends only on (seed, epoch); rank r of w takes batches
r, r + w, ... so ranks see different identities and every epoch draws anew.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from ccreid.data.records import SeededIndex
from ccreid.errors import InputError


class PKSampler(Sampler[int]):
    """Each batch: ``num_identities`` ids, ``num_instances`` images each (paper: 8 x 4)."""

    def __init__(
        self,
        pids: Sequence[int],
        num_identities: int = 8,
        num_instances: int = 4,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        clothes: Sequence[int] | None = None,
    ) -> None:
        if num_identities < 1 or num_instances < 1:
            raise InputError("num_identities and num_instances must be >= 1")
        self.by_pid: dict[int, list[int]] = defaultdict(list)
        for i, p in enumerate(pids):
            self.by_pid[int(p)].append(i)
        if len(self.by_pid) < num_identities:
            raise InputError(
                f"a batch needs {num_identities} identities but the data has {len(self.by_pid)}"
            )
        self.clothes = None if clothes is None else np.asarray(clothes)
        self.P, self.K = num_identities, num_instances
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0
        self._length = len(self._batches()) // world_size * self.P * self.K

    @property
    def batch_size(self) -> int:
        return self.P * self.K

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _identity_order(self, idx: list[int], rng: np.random.Generator) -> list[int]:
        """The order in which one identity's images are cut into groups of K."""
        return list(rng.permutation(idx))

    def _groups(self, rng: np.random.Generator) -> dict[int, list[list[int]]]:
        groups = {}
        for pid, idx in self.by_pid.items():
            if len(idx) < self.K:  # too few images: repeat some, as the paper's sampler does
                idx = list(idx) + list(rng.choice(idx, self.K - len(idx), replace=True))
            order = self._identity_order(idx, rng)
            groups[pid] = [order[i : i + self.K] for i in range(0, len(order) - self.K + 1, self.K)]
        return groups

    def _batches(self) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        groups = self._groups(rng)
        batches = []
        while True:
            available = [p for p, g in groups.items() if g]
            if len(available) < self.P:
                return batches
            chosen = rng.choice(available, self.P, replace=False)
            batches.append([i for p in chosen for i in groups[int(p)].pop()])

    def __iter__(self) -> Iterator[int]:
        batches = self._batches()
        usable = len(batches) // self.world_size * self.world_size
        for b in batches[self.rank : usable : self.world_size]:
            yield from (int(i) for i in b)

    def __len__(self) -> int:
        return self._length


class ClothesBalancedSampler(PKSampler):
    """Like `PKSampler`, but each identity's K images alternate over its outfits,
    so the cross-clothes triplet loss finds positives in every batch it can."""

    def __init__(self, pids: Sequence[int], clothes: Sequence[int], **kwargs: object) -> None:
        super().__init__(pids, clothes=clothes, **kwargs)

    def _identity_order(self, idx: list[int], rng: np.random.Generator) -> list[int]:
        by_outfit: dict[int, list[int]] = defaultdict(list)
        for i in rng.permutation(idx):
            by_outfit[int(self.clothes[i])].append(int(i))
        queues = [by_outfit[c] for c in rng.permutation(sorted(by_outfit))]
        order = []
        while any(queues):  # round robin: outfit 1, outfit 2, ..., outfit 1, ...
            for q in queues:
                if q:
                    order.append(q.pop())
        return order


class EpochSeeded(Sampler[SeededIndex]):
    """Gives every position of every epoch its own seed from (seed, epoch, rank, position).

    Augmentation then depends on nothing else: not on the number of data workers, nor on
    how many epochs a persistent worker has lived, so a resumed run draws exactly what an
    uninterrupted one would.
    """

    def __init__(self, sampler: PKSampler, seed: int) -> None:
        self.sampler, self.seed, self.epoch = sampler, seed, 0

    @property
    def batch_size(self) -> int:
        return self.sampler.batch_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[SeededIndex]:
        base = np.random.SeedSequence([self.seed, self.epoch, self.sampler.rank]).generate_state(1)[
            0
        ]
        for position, index in enumerate(self.sampler):
            yield SeededIndex(index, int(base) * 1_000_003 + position)

    def __len__(self) -> int:
        return len(self.sampler)
