"""Ranks of each query's true matches among the kept gallery items, without sorting rows.

CMC and AP need only, for every true match, how many kept (non-junk) items rank above
it: items with a smaller distance, or an equal distance and a smaller gallery index.
Sorting a whole row to learn this costs O(n log n) per query; counting costs O(n):

1. Each row's distances are mapped to integer bins by a monotone function
   (``floor((d - lo) * scale) + 2``, clamped), fine enough that a bin rarely holds more
   than a few items; ``lo`` and the scale come from the row's smallest and largest
   finite match distance. -inf, +inf and junk items have bins of their own, below and
   above every finite distance's.
2. A histogram of the bins, cumulated, counts for every match the kept items in lower
   bins: monotonicity makes all of them rank above it.
3. Items that share a bin with a match (a few per match) are compared with it exactly,
   by (distance, gallery index), in the distances' own dtype.

The bin of a match is read from the same array as every other item's bin, so the
arithmetic that makes bins never differs between the two. Each step is separate
elementwise arithmetic (no fused multiply-add) in the distances' dtype, so the mapping
is monotone; an overflow goes to +-inf and is clamped, and the scale is finite and
positive whatever the range, so no step can make a NaN.
"""

from __future__ import annotations

import numpy as np
import torch

_MIN_BINS = 1024
_BINS_PER_MATCH = 128
# Bins of a row around its ``bins`` finite-range bins: -inf, below lo, (range),
# above hi, +inf, junk.
_EXTRA_BINS = 5


def match_ranks(
    dist: np.ndarray, junk: np.ndarray, good: np.ndarray, finite: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, ranks)`` of every true match of a (b, n) block, row-major and ascending in
    rank within a row; a rank is the 0-based position among the row's kept items.

    ``dist`` is float32 or float64 without NaN (+-inf allowed; ``finite`` says the
    caller knows there is none, which saves a pass); ``junk`` and ``good`` are boolean
    masks of the same shape (a true match is never junk).
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
    lo, hi = _finite_match_range(rows, match_dist, num_good)
    # Enough bins that few items share one with a match, and never many more than items:
    # the block's histogram has n_rows * (bins + _EXTRA_BINS) entries.
    bins = int(min(max(_MIN_BINS, _BINS_PER_MATCH * num_good.max()), max(2, 4 * n_gallery)))
    flat_bins = _bin_items(dist, junk, lo, hi, bins, finite)

    width = bins + _EXTRA_BINS
    match_bins = flat_bins[rows * n_gallery + cols]
    hist = torch.bincount(torch.from_numpy(flat_bins), minlength=n_rows * width).numpy()
    below = np.cumsum(hist) - hist  # kept items in lower bins, counted from block start
    ranks = below[match_bins] - below[rows * width]

    _count_same_bin(ranks, dist, flat_bins, match_bins, match_dist, cols, width)
    return rows, ranks


def _finite_match_range(
    rows: np.ndarray, match_dist: np.ndarray, num_good: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the smallest and largest finite match distance (0 where there is none).
    Matches arrive sorted by row, then distance: -inf ones first, +inf ones last."""
    n_rows = len(num_good)
    first = np.cumsum(num_good) - num_good
    below = np.bincount(rows[match_dist == -np.inf], minlength=n_rows)
    above = np.bincount(rows[match_dist == np.inf], minlength=n_rows)
    has = num_good > below + above
    lo = np.zeros(n_rows, match_dist.dtype)
    hi = np.zeros(n_rows, match_dist.dtype)
    lo[has] = match_dist[(first + below)[has]]
    hi[has] = match_dist[(first + num_good - above - 1)[has]]
    return lo, hi


def _bin_scale(lo: np.ndarray, hi: np.ndarray, bins: int) -> np.ndarray:
    """Per row, ``bins - 1`` bins over [lo, hi], finite and positive for any finite lo, hi:
    the half-width cannot overflow, and its floor keeps the quotient finite."""
    info = np.finfo(lo.dtype)
    half = np.maximum(hi * 0.5 - lo * 0.5, np.maximum(np.abs(hi), np.abs(lo)) * 5e-4)
    half = np.maximum(half, info.tiny * 2.0**32).astype(lo.dtype)
    return (lo.dtype.type((bins - 1) * 0.5) / half).astype(lo.dtype)


def _bin_items(
    dist: np.ndarray, junk: np.ndarray, lo: np.ndarray, hi: np.ndarray, bins: int, finite: bool
) -> np.ndarray:
    """Flat int32 bin of every item, offset by row so one histogram serves the block."""
    n_rows = dist.shape[0]
    values = torch.from_numpy(dist)
    scaled = values - torch.from_numpy(lo)[:, None]  # may overflow to +-inf: clamped below
    scaled.mul_(torch.from_numpy(_bin_scale(lo, hi, bins))[:, None])
    scaled.add_(2.0).clamp_(1, bins + 2)  # 1: below lo, bins + 2: above hi
    flat = scaled.to(torch.int32)  # truncation is floor on non-negative values
    if not finite:
        flat.masked_fill_(values == -torch.inf, 0)
        flat.masked_fill_(values == torch.inf, bins + 3)
    flat.masked_fill_(torch.from_numpy(junk), bins + 4)
    width = bins + _EXTRA_BINS
    flat.add_(torch.arange(0, n_rows * width, width, dtype=torch.int32)[:, None])
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
    shared[width - 1 :: width] = False  # the junk bin of each row
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
