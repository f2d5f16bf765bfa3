"""Ranks of each query's true matches among the kept gallery items, without sorting rows.

CMC and AP need only, for every true match, how many kept (non-junk) items rank above
it: items with a smaller distance, or an equal distance and a smaller gallery index.
Sorting a whole row to learn this costs O(n log n) per query; counting costs O(n):

1. Each row's distances are mapped to integer bins by a monotone function
   (``floor((d - lo) * scale) + 1``, clamped), fine enough that a bin rarely holds more
   than a few items; ``lo`` and the scale come from the row's smallest and largest
   match distance. Junk items go to an overflow bin.
2. A histogram of the bins, cumulated, counts for every match the kept items in lower
   bins: monotonicity makes all of them rank above it.
3. Items that share a bin with a match (a few per match) are compared with it exactly,
   by (distance, gallery index).

The bin of a match is read from the same array as every other item's bin, so the
arithmetic that makes bins never differs between the two. Each step is separate
elementwise arithmetic (no fused multiply-add), so the mapping is monotone.
"""

from __future__ import annotations

import numpy as np
import torch

_MIN_BINS = 1024
_BINS_PER_MATCH = 128


def match_ranks(
    dist: np.ndarray, junk: np.ndarray, good: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, ranks)`` of every true match of a (b, n) block, row-major and ascending in
    rank within a row; a rank is the 0-based position among the row's kept items.

    ``dist`` is float32 and finite; ``junk`` and ``good`` are boolean masks of the same
    shape (a true match is never junk).
    """
    n_rows, n_gallery = dist.shape
    flat_good = np.flatnonzero(good)  # much faster than a 2-D nonzero
    if flat_good.size == 0:
        return flat_good, flat_good.copy()
    rows, cols = np.divmod(flat_good, n_gallery)
    match_dist = dist[rows, cols]
    # Within a row, nonzero gives ascending gallery index: a stable sort by distance,
    # then by row, orders matches by (distance, index) as the ranking does.
    by_dist = np.argsort(match_dist, kind="stable")
    order = by_dist[np.argsort(rows[by_dist], kind="stable")]
    rows, cols, match_dist = rows[order], cols[order], match_dist[order]

    num_good = np.bincount(rows, minlength=n_rows)
    first = np.cumsum(num_good) - num_good
    has = num_good > 0
    lo = np.zeros(n_rows, np.float32)
    hi = np.zeros(n_rows, np.float32)
    lo[has] = match_dist[first[has]]
    hi[has] = match_dist[first[has] + num_good[has] - 1]
    # Enough bins that few items share one with a match, and never many more than items:
    # the block's histogram has n_rows * (bins + 2) entries.
    bins = int(min(max(_MIN_BINS, _BINS_PER_MATCH * num_good.max()), max(2, 4 * n_gallery)))
    flat_bins = _bin_items(dist, junk, lo, hi, bins)

    width = bins + 2  # bin 0: below lo; bins + 1: above hi, or junk
    match_bins = flat_bins[rows * n_gallery + cols]
    hist = torch.bincount(torch.from_numpy(flat_bins), minlength=n_rows * width).numpy()
    below = np.cumsum(hist) - hist  # kept items in lower bins, counted from block start
    ranks = below[match_bins] - below[rows * width]

    _count_same_bin(ranks, dist, flat_bins, match_bins, match_dist, cols, width)
    return rows, ranks


def _bin_items(
    dist: np.ndarray, junk: np.ndarray, lo: np.ndarray, hi: np.ndarray, bins: int
) -> np.ndarray:
    """Flat int32 bin of every item, offset by row so one histogram serves the block."""
    n_rows = dist.shape[0]
    width = np.maximum(hi - lo, np.maximum(np.abs(hi), np.abs(lo)) * np.float32(1e-3))
    scale = np.float32(bins - 1) / np.maximum(width, np.float32(1e-30))
    scaled = torch.from_numpy(dist) - torch.from_numpy(lo)[:, None]
    scaled.mul_(torch.from_numpy(scale)[:, None])
    scaled.add_(1.0).clamp_(0, bins + 1)
    flat = scaled.to(torch.int32)  # truncation is floor on non-negative values
    flat.masked_fill_(torch.from_numpy(junk), bins + 1)
    flat.add_(torch.arange(0, n_rows * (bins + 2), bins + 2, dtype=torch.int32)[:, None])
    return flat.view(-1).numpy()


def _count_same_bin(
    ranks: np.ndarray,
    dist: np.ndarray,
    flat_bins: np.ndarray,
    match_bins: np.ndarray,
    match_dist: np.ndarray,
    match_cols: np.ndarray,
    width: int,
) -> None:
    """Add to each match's rank the kept items of its own bin that rank above it."""
    shared = np.zeros(dist.shape[0] * width, dtype=bool)
    shared[match_bins] = True
    shared[width - 1 :: width] = False  # the junk/overflow bin of each row
    candidates = np.flatnonzero(
        torch.from_numpy(shared).index_select(0, torch.from_numpy(flat_bins)).numpy()
    )
    cand_bins = flat_bins[candidates]
    cand_dist = dist.reshape(-1)[candidates]
    cand_cols = candidates % dist.shape[1]
    # Matches are sorted by row then (distance, index), hence by flat bin: the matches
    # of one bin are a contiguous run, found by binary search.
    start = np.searchsorted(match_bins, cand_bins, side="left")
    stop = np.searchsorted(match_bins, cand_bins, side="right")
    for offset in range(int((stop - start).max(initial=0))):
        idx = start + offset
        inside = idx < stop
        m, d, c = idx[inside], cand_dist[inside], cand_cols[inside]
        above = (d < match_dist[m]) | ((d == match_dist[m]) & (c < match_cols[m]))
        ranks += np.bincount(m[above], minlength=len(ranks))
