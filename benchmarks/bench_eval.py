"""evaluate() in the three settings against per-query loop references (the algorithm of
CAL and torchreid, and a vectorised numpy loop), and peak memory of a 20k x 100k problem.

Run: python benchmarks/bench_eval.py [--queries 2000 --gallery 10000] [--skip-memory]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import numpy as np
from _common import peak_rss_mib, record, timed

from ccreid.evaluation import evaluate


def _junk_and_good(mode, same_id, same_cam, same_clothes):
    junk = same_id & same_cam
    if mode == "sc":
        junk |= same_id & ~same_clothes
    elif mode == "cc":
        junk |= same_id & same_clothes
    return junk, same_id & ~junk


def reference_loop(dist, q_pids, g_pids, q_cams, g_cams, q_clo, g_clo, mode, max_rank=50):
    """The per-query evaluation that CAL and torchreid use: argsort each row, find the good
    and junk gallery indices as index sets (argwhere / setdiff1d / intersect1d), drop junk
    with in1d, cumulate the matches. AP is the cumulative-precision mean of torchreid and
    of this project (CAL's trapezoid variant differs from it by design)."""
    hits, aps = np.zeros(max_rank), []
    for q in range(dist.shape[0]):
        index = np.argsort(dist[q])
        query_index = np.argwhere(g_pids == q_pids[q]).ravel()
        camera_index = np.argwhere(g_cams == q_cams[q]).ravel()
        cloth_index = np.argwhere(g_clo == q_clo[q]).ravel()
        good = np.setdiff1d(query_index, camera_index, assume_unique=True)
        junk = np.intersect1d(query_index, camera_index)
        if mode == "cc":
            good = np.setdiff1d(good, cloth_index, assume_unique=True)
            junk = np.union1d(junk, np.intersect1d(query_index, cloth_index))
        elif mode == "sc":
            good = np.intersect1d(good, cloth_index)
            junk = np.union1d(junk, np.setdiff1d(query_index, cloth_index))
        kept = index[np.isin(index, junk, invert=True)]
        raw = np.isin(kept, good)
        if not raw.any():
            continue
        cmc = raw.cumsum()
        hits += cmc[:max_rank] >= 1
        precision = cmc / np.arange(1, len(cmc) + 1)
        aps.append((precision * raw).sum() / raw.sum())
    return hits / len(aps), float(np.mean(aps))


def numpy_loop(dist, q_pids, g_pids, q_cams, g_cams, q_clo, g_clo, mode, max_rank=50):
    """A per-query loop with every step inside a query vectorised (a fair, modern reference)."""
    hits, aps = np.zeros(max_rank), []
    for q in range(dist.shape[0]):
        order = np.argsort(dist[q])
        same_id = g_pids[order] == q_pids[q]
        junk, good = _junk_and_good(
            mode, same_id, g_cams[order] == q_cams[q], g_clo[order] == q_clo[q]
        )
        raw = good[~junk]
        if not raw.any():
            continue
        ranks = np.flatnonzero(raw)
        if ranks[0] < max_rank:
            hits[ranks[0] :] += 1
        aps.append((np.arange(1, len(ranks) + 1) / (ranks + 1)).mean())
    return hits / len(aps), float(np.mean(aps))


def problem(nq: int, ng: int, seed: int = 0):
    """Random distances; about 20 images per identity, 6 cameras, 3 outfits per identity."""
    rng = np.random.default_rng(seed)
    ids = max(2, ng // 20)
    return (
        rng.random((nq, ng), dtype=np.float32),
        rng.integers(0, ids, nq),
        rng.integers(0, ids, ng),
        rng.integers(0, 6, nq),
        rng.integers(0, 6, ng),
        rng.integers(0, 3, nq),
        rng.integers(0, 3, ng),
    )


def memory_probe(nq: int, ng: int, dim: int) -> None:
    """Child process: evaluate a problem from features, print peak RSS in MiB."""
    import torch

    from ccreid.evaluation import evaluate_features

    gen = torch.Generator().manual_seed(0)
    qf, gf = torch.randn(nq, dim, generator=gen), torch.randn(ng, dim, generator=gen)
    rng = np.random.default_rng(0)
    ids = ng // 20
    res = evaluate_features(
        qf,
        gf,
        rng.integers(0, ids, nq),
        rng.integers(0, ids, ng),
        rng.integers(0, 6, nq),
        rng.integers(0, 6, ng),
    )
    print(f"{peak_rss_mib():.0f} {res.num_valid_queries}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--gallery", type=int, default=10000)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--memory-probe", nargs=3, type=int, metavar=("NQ", "NG", "DIM"))
    args = ap.parse_args()
    if args.memory_probe:
        memory_probe(*args.memory_probe)
        return
    labels = problem(args.queries, args.gallery)
    out: dict[str, object] = {"problem": f"{args.queries} x {args.gallery}"}
    for mode in ("general", "sc", "cc"):
        t_vec, res = timed(lambda m=mode: evaluate(*labels, mode=m), repeat=5)
        t_np, (_, map_np) = timed(lambda m=mode: numpy_loop(*labels, m), repeat=3)
        t_ref, (_, map_ref) = timed(lambda m=mode: reference_loop(*labels, m), repeat=3)
        assert abs(res.mAP - map_np) < 1e-6 and abs(res.mAP - map_ref) < 1e-6, "metrics disagree"
        out.update({
            f"{mode}_evaluate_s": round(t_vec, 3),
            f"{mode}_numpy_loop_s": round(t_np, 2),
            f"{mode}_reference_loop_s": round(t_ref, 2),
            f"{mode}_speedup_vs_numpy_loop": round(t_np / t_vec, 1),
            f"{mode}_speedup_vs_reference_loop": round(t_ref / t_vec, 1),
        })  # fmt: skip
    if not args.skip_memory:
        nq, ng, dim = 20000, 100000, 128
        t_mem, proc = timed(
            lambda: subprocess.run(
                [sys.executable, __file__, "--memory-probe", str(nq), str(ng), str(dim)],
                check=True,
                capture_output=True,
                text=True,
            )
        )
        rss, _valid = proc.stdout.split()
        out.update(
            {
                "large_problem": f"{nq} x {ng} (features dim {dim})",
                "large_peak_rss_mib": int(rss),
                "large_time_s": round(t_mem, 1),
            }
        )
    record("eval", out)


if __name__ == "__main__":
    main()
