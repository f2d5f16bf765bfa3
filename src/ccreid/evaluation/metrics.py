"""CMC, mAP and mINP, vectorised over chunks of queries.

Settings (docs/conventions.md#evaluation). A gallery item is *junk* (removed from the
ranking) when it has the query's identity and

- ``general``: the query's camera;
- ``sc``: the query's camera, or different clothes (only same-clothes matches count);
- ``cc``: the query's camera, or the same clothes (only clothes-changing matches count).

Distances are compared in their own precision: float64 as float64, every narrower float
dtype as float32 (to which it converts exactly). Ties are broken by gallery index, so
results are deterministic; +inf (a masked pair) ranks after every finite distance, -inf
before; NaN has no place in a ranking and is an error.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from ccreid.errors import InputError
from ccreid.evaluation.distance import Metric, iter_distance_rows
from ccreid.evaluation.match_ranks import match_ranks

EvalMode = Literal["general", "sc", "cc"]
EVAL_MODES: tuple[str, ...] = ("general", "sc", "cc")

# Elements of the distance matrix handled per block: small enough to stay in cache,
# and with a working set of about 30 bytes per element, at most two blocks per worker
# in flight keep memory to a few hundred MB whatever the problem size.
_CHUNK_ELEMENTS = 1_000_000


@dataclass(frozen=True)
class RetrievalResult:
    """Metrics of one query set against one gallery, as fractions in [0, 1].

    ``mINP`` is the mean inverse negative penalty of Ye et al. (AGW): per valid query, its
    number of true matches over the rank of the hardest (last) one."""

    cmc: np.ndarray
    mAP: float
    num_valid_queries: int
    num_queries: int
    mode: str = "general"
    mINP: float = 0.0

    @property
    def num_skipped_queries(self) -> int:
        """Queries without any valid match in the gallery (not counted in the metrics)."""
        return self.num_queries - self.num_valid_queries

    def top(self, k: int) -> float:
        """CMC at rank ``k`` (1-based) as a fraction."""
        if not 1 <= k <= len(self.cmc):
            raise ValueError(f"rank {k} outside 1..{len(self.cmc)}")
        return float(self.cmc[k - 1])

    def metrics(self) -> dict[str, float]:
        """Every reported metric in percent, rounded to one decimal as papers report them,
        in the order tables show them (``METRIC_NAMES`` gives their display names): the one
        dict every table, report and comparison renders from."""
        out = {f"top{k}": round(100.0 * self.top(k), 1) for k in CMC_RANKS if k <= len(self.cmc)}
        out["mAP"] = round(100.0 * self.mAP, 1)
        out["mINP"] = round(100.0 * self.mINP, 1)
        return out

    def summary(self) -> dict[str, float]:
        """CMC at ranks 1, 5, 10 and mAP in percent: the view of the results before mINP
        was reported (kept for callers of that view; tables use `metrics`)."""
        return {k: v for k, v in self.metrics().items() if k in SUMMARY_KEYS}

    @classmethod
    def mean(cls, results: list[RetrievalResult]) -> RetrievalResult:
        """The average of several trials of one query set (e.g. PRCC's single-shot
        galleries): metrics averaged, query counts those of the first trial."""
        if len(results) == 1:
            return results[0]
        first = results[0]
        return cls(cmc=np.mean([r.cmc for r in results], axis=0),
                   mAP=float(np.mean([r.mAP for r in results])),
                   num_valid_queries=first.num_valid_queries, num_queries=first.num_queries,
                   mode=first.mode, mINP=float(np.mean([r.mINP for r in results])))  # fmt: skip


CMC_RANKS = (1, 5, 10)
SUMMARY_KEYS = ("top1", "top5", "top10", "mAP")
HEADLINE_METRICS = ("top1", "mAP")  # what summaries over many runs lead with
METRIC_NAMES = {"top1": "top-1", "top5": "top-5", "top10": "top-10", "mAP": "mAP", "mINP": "mINP"}


@dataclass(frozen=True)
class Labels:
    """Identity, camera and outfit of each image of a query list or a gallery."""

    pids: np.ndarray
    camids: np.ndarray
    clothes: np.ndarray | None = None


def ranked_without_junk(
    distmat: np.ndarray, query: Labels, gallery: Labels, mode: str = "general", top_k: int = 10
) -> list[np.ndarray]:
    """Per query, the first ``top_k`` gallery indices as the metric ranks them: by distance
    (ties by gallery index), with the setting's junk items left out (what a picture of a
    ranking must show; docs/conventions.md#evaluation)."""
    lab = _Labels.of(query, gallery, mode)
    dist = _distance_array(distmat)
    _all_finite(dist)
    if dist.shape != (len(lab.q_pids), len(lab.g_pids)):
        raise ValueError(f"distmat shape {dist.shape} does not match the labels")
    order = np.argsort(dist, axis=1, kind="stable")
    junk, _ = lab.junk_and_match(slice(None))
    return [row[~junk[i, row]][:top_k] for i, row in enumerate(order)]


class _Labels:
    """Validated label arrays of one query/gallery problem."""

    def __init__(
        self,
        q_pids: Iterable,
        g_pids: Iterable,
        q_camids: Iterable,
        g_camids: Iterable,
        q_clothes: Iterable | None,
        g_clothes: Iterable | None,
        mode: str,
    ) -> None:
        if mode not in EVAL_MODES:
            raise ValueError(f"unknown evaluation mode {mode!r}; expected one of {EVAL_MODES}")
        if mode != "general" and (q_clothes is None or g_clothes is None):
            raise ValueError(f"mode {mode!r} needs clothes labels for both query and gallery")
        self.mode = mode
        self.q_pids, self.q_cams = _as_labels(q_pids, "q_pids"), _as_labels(q_camids, "q_camids")
        self.g_pids, self.g_cams = _as_labels(g_pids, "g_pids"), _as_labels(g_camids, "g_camids")
        _same_length("query", q_pids=self.q_pids, q_camids=self.q_cams)
        _same_length("gallery", g_pids=self.g_pids, g_camids=self.g_cams)
        self.q_clothes = self.g_clothes = None
        if mode != "general":
            self.q_clothes = _as_labels(q_clothes, "q_clothes")
            self.g_clothes = _as_labels(g_clothes, "g_clothes")
            _same_length("query", q_pids=self.q_pids, q_clothes=self.q_clothes)
            _same_length("gallery", g_pids=self.g_pids, g_clothes=self.g_clothes)
        if len(self.q_pids) == 0:
            raise ValueError("the query set is empty")
        if len(self.g_pids) == 0:
            raise ValueError("the gallery is empty")

        self.q_id_cam, self.g_id_cam = _joint_codes(
            self.q_pids, self.q_cams, self.g_pids, self.g_cams
        )
        if mode != "general":
            self.q_id_clo, self.g_id_clo = _joint_codes(
                self.q_pids, self.q_clothes, self.g_pids, self.g_clothes
            )

    @classmethod
    def of(cls, query: Labels, gallery: Labels, mode: str) -> _Labels:
        return cls(query.pids, gallery.pids, query.camids, gallery.camids, query.clothes,
                   gallery.clothes, mode)  # fmt: skip

    def junk_and_match(self, rows: slice) -> tuple[np.ndarray, np.ndarray]:
        """Boolean (b, n_gallery) masks of junk items and of valid matches for query rows."""
        same_id = self.q_pids[rows, None] == self.g_pids[None, :]
        junk = self.q_id_cam[rows, None] == self.g_id_cam[None, :]
        if self.mode == "cc":
            junk |= self.q_id_clo[rows, None] == self.g_id_clo[None, :]
        elif self.mode == "sc":
            junk |= same_id & (self.q_id_clo[rows, None] != self.g_id_clo[None, :])
        return junk, same_id & ~junk


def _joint_codes(
    q_a: np.ndarray, q_b: np.ndarray, g_a: np.ndarray, g_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of (a, b) pairs shared by query and gallery: one compare tests both."""
    pairs = np.concatenate([np.stack([q_a, q_b], 1), np.stack([g_a, g_b], 1)])
    codes = np.unique(pairs, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int32)
    return codes[: len(q_a)], codes[len(q_a) :]


def _as_labels(values: Iterable, name: str) -> np.ndarray:
    arr = values.cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _same_length(what: str, **arrays: np.ndarray) -> None:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{what} label lengths differ: {lengths}")


@dataclass
class _Counts:
    """First-match rank histogram and AP sum of some queries; counts of two sets add up."""

    first_hits: np.ndarray
    ap_sum: float = 0.0
    inp_sum: float = 0.0
    num_valid: int = 0
    num_queries: int = 0

    def __iadd__(self, other: _Counts) -> _Counts:
        self.first_hits = self.first_hits + other.first_hits
        self.ap_sum += other.ap_sum
        self.inp_sum += other.inp_sum
        self.num_valid += other.num_valid
        self.num_queries += other.num_queries
        return self

    def result(self, mode: str) -> RetrievalResult:
        if self.num_valid == 0:
            return RetrievalResult(np.zeros(len(self.first_hits)), 0.0, 0, self.num_queries, mode)
        cmc = np.cumsum(self.first_hits) / self.num_valid
        return RetrievalResult(cmc, self.ap_sum / self.num_valid, self.num_valid,
                               self.num_queries, mode, self.inp_sum / self.num_valid)  # fmt: skip


def _distance_array(values: np.ndarray | torch.Tensor) -> np.ndarray:
    """Distances as a writeable float64 (float64 and integer input) or float32 (any
    narrower float: bf16 and fp16 convert to it exactly) array."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu()
        if values.is_complex():
            raise InputError(f"distmat must be real, got a {values.dtype} tensor")
        wide = values.dtype == torch.float64 or not values.is_floating_point()
        return (values.double() if wide else values.float()).numpy()
    arr = np.asarray(values)
    if arr.dtype.kind in "biu" or (arr.dtype.kind == "f" and arr.dtype.itemsize == 8):
        dtype = np.float64
    elif (arr.dtype.kind == "f" and arr.dtype.itemsize < 8) or arr.dtype.name == "bfloat16":
        dtype = np.float32
    else:
        raise InputError(
            f"distmat dtype {arr.dtype} is not supported: expected float64, float32, float16, "
            "bfloat16 or integers"
        )
    arr = arr.astype(dtype, copy=False)
    # A read-only memmap: torch wants memory it may own.
    return arr if arr.flags.writeable else arr.copy()


def _all_finite(dist: np.ndarray, row_offset: int = 0) -> bool:
    """Whether every distance is finite; NaN, which has no place in a ranking, is an error
    naming the first one (+-inf rank last / first)."""
    if np.isfinite(dist).all():
        return True
    nan = np.argwhere(np.isnan(dist))
    if len(nan):
        row, col = nan[0]
        raise InputError(
            f"the distance matrix contains NaN (first at row {row + row_offset}, column "
            f"{col}): every distance must be a number; use +inf for pairs to rank last"
        )
    return False


def _block_counts(
    dist: np.ndarray | torch.Tensor,
    junk: np.ndarray,
    good: np.ndarray,
    max_rank: int,
    row_offset: int = 0,
) -> _Counts:
    """CMC and AP contributions of one block of query rows (``row_offset``: its first)."""
    dist = _distance_array(dist)
    finite = _all_finite(dist, row_offset)
    rows = dist.shape[0]
    counts = _Counts(np.zeros(max_rank, dtype=np.int64), num_queries=rows)
    hit_row, hit_rank = match_ranks(dist, junk, good, finite)
    if hit_row.size == 0:
        return counts
    num_good = np.bincount(hit_row, minlength=rows)
    row_start = np.cumsum(num_good) - num_good
    hit_number = np.arange(hit_row.size) - row_start[hit_row] + 1
    valid = num_good > 0
    counts.num_valid = int(valid.sum())
    first = hit_rank[row_start[valid]]
    counts.first_hits += np.bincount(first[first < max_rank], minlength=max_rank)
    precision_sum = np.bincount(hit_row, weights=hit_number / (hit_rank + 1.0), minlength=rows)
    counts.ap_sum = float((precision_sum[valid] / num_good[valid]).sum())
    hardest = hit_rank[row_start[valid] + num_good[valid] - 1]  # ranks ascend within a row
    counts.inp_sum = float((num_good[valid] / (hardest + 1.0)).sum())
    return counts


@contextmanager
def _torch_threads_as_workers() -> Iterator[int]:
    """Yield torch's thread count as a number of workers, with torch on one thread meanwhile:
    parallel blocks of cache-sized work beat parallel elementwise ops (measured in
    benchmarks/bench_eval.py). Not for `evaluate_features`, whose distance matrix
    products need torch's threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield threads
    finally:
        torch.set_num_threads(threads)


def _rows_per_chunk(num_gallery: int) -> int:
    return max(1, _CHUNK_ELEMENTS // max(1, num_gallery))


def _evaluate_blocks(
    blocks: Iterator[tuple[int, np.ndarray | torch.Tensor]],
    labels: _Labels,
    max_rank: int,
    workers: int,
) -> RetrievalResult:
    """Blocks are counted on ``workers`` threads (numpy and torch release the GIL). At most
    two blocks per thread are in flight, so memory stays bounded."""
    if max_rank < 1:
        raise ValueError(f"max_rank must be >= 1, got {max_rank}")

    def count(start: int, block: np.ndarray | torch.Tensor) -> _Counts:
        junk, good = labels.junk_and_match(slice(start, start + block.shape[0]))
        return _block_counts(block, junk, good, max_rank, start)

    total = _Counts(np.zeros(max_rank, dtype=np.int64))
    with ThreadPoolExecutor(workers) as pool:
        pending: deque[Future[_Counts]] = deque()
        for start, block in blocks:
            pending.append(pool.submit(count, start, block))
            if len(pending) >= 2 * workers:
                total += pending.popleft().result()
        while pending:
            total += pending.popleft().result()
    return total.result(labels.mode)


def evaluate(
    distmat: np.ndarray | torch.Tensor,
    q_pids: Labels | Iterable,
    g_pids: Labels | Iterable,
    q_camids: Iterable | None = None,
    g_camids: Iterable | None = None,
    q_clothes: Iterable | None = None,
    g_clothes: Iterable | None = None,
    mode: EvalMode = "general",
    max_rank: int = 50,
) -> RetrievalResult:
    """CMC, mAP and mINP of a (n_query, n_gallery) distance matrix (smaller = more similar).

    The labels are two `Labels` records, ``evaluate(dist, query, gallery,
    mode="cc")``, or, as CAL-style code calls it, the parallel arrays ``q_pids, g_pids,
    q_camids, g_camids[, q_clothes, g_clothes]``. ``distmat`` may be a numpy memmap or a
    tensor (any float dtype, on any device): it is read a chunk of rows at a time and
    ranked in its own precision (module docstring); +inf ranks last. Queries with no valid
    match are skipped and counted in ``num_valid_queries``.
    """
    if isinstance(q_pids, Labels) or isinstance(g_pids, Labels):
        if not (isinstance(q_pids, Labels) and isinstance(g_pids, Labels)) or any(
            a is not None for a in (q_camids, g_camids, q_clothes, g_clothes)
        ):
            raise InputError("give the labels as two Labels records or as arrays, not both")
        return evaluate_labels(distmat, q_pids, g_pids, mode, max_rank)
    if q_camids is None or g_camids is None:
        raise InputError("evaluate needs the cameras of query and gallery (q_camids, g_camids)")
    query = Labels(_as_labels(q_pids, "q_pids"), _as_labels(q_camids, "q_camids"),
                   None if q_clothes is None else _as_labels(q_clothes, "q_clothes"))  # fmt: skip
    gallery = Labels(_as_labels(g_pids, "g_pids"), _as_labels(g_camids, "g_camids"),
                     None if g_clothes is None else _as_labels(g_clothes, "g_clothes"))  # fmt: skip
    return evaluate_labels(distmat, query, gallery, mode, max_rank)


def evaluate_labels(
    distmat: np.ndarray | torch.Tensor, query: Labels, gallery: Labels, mode: EvalMode = "general",
    max_rank: int = 50,
) -> RetrievalResult:  # fmt: skip
    """`evaluate` with the query and gallery labels as two `Labels` records."""
    labels = _Labels.of(query, gallery, mode)
    return _evaluate_matrix(distmat, labels, max_rank)


def _evaluate_matrix(
    distmat: np.ndarray | torch.Tensor, labels: _Labels, max_rank: int
) -> RetrievalResult:
    if not isinstance(distmat, torch.Tensor):  # a memmap stays one: read a block at a time
        distmat = np.asarray(distmat)
    if distmat.ndim != 2:
        raise ValueError(f"distmat must be 2-D, got shape {distmat.shape}")
    expected = (len(labels.q_pids), len(labels.g_pids))
    if distmat.shape != expected:
        raise ValueError(
            f"distmat shape {distmat.shape} does not match (num queries, num gallery) = {expected}"
        )
    step = _rows_per_chunk(distmat.shape[1])
    # Each block is converted by its worker: a bf16 or GPU tensor is never copied whole.
    blocks = ((s, distmat[s : s + step]) for s in range(0, distmat.shape[0], step))
    with _torch_threads_as_workers() as workers:
        return _evaluate_blocks(blocks, labels, max_rank, workers)


def evaluate_features(
    qf: torch.Tensor,
    gf: torch.Tensor,
    q_pids: Iterable,
    g_pids: Iterable,
    q_camids: Iterable,
    g_camids: Iterable,
    q_clothes: Iterable | None = None,
    g_clothes: Iterable | None = None,
    mode: EvalMode = "general",
    metric: Metric = "cosine",
    max_rank: int = 50,
) -> RetrievalResult:
    """Like `evaluate`, computing distances chunk by chunk from features.

    The full distance matrix never exists, so memory stays bounded for 100k x 100k problems.
    """
    labels = _Labels(q_pids, g_pids, q_camids, g_camids, q_clothes, g_clothes, mode)
    if len(qf) != len(labels.q_pids) or len(gf) != len(labels.g_pids):
        raise ValueError(
            f"features ({len(qf)} query, {len(gf)} gallery) do not match labels "
            f"({len(labels.q_pids)} query, {len(labels.g_pids)} gallery)"
        )
    step = _rows_per_chunk(len(gf))
    blocks = ((s, b.numpy()) for s, b in iter_distance_rows(qf, gf, metric, chunk_size=step))
    return _evaluate_blocks(blocks, labels, max_rank, workers=torch.get_num_threads())
