"""evaluate() against per-query loop references, and peak memory of a 20k x 100k problem.

Run: python benchmarks/bench_eval.py [--queries 5000 --gallery 20000] [--skip-memory]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import numpy as np
from _common import peak_rss_mib, record, timed

from ccreid.evaluation import evaluate


def classic_loop(dist, q_pids, g_pids, q_cams, g_cams, max_rank=50):
    """The widely copied Market-1501 evaluation: a loop over queries, AP via a Python list."""
    indices = np.argsort(dist, axis=1)
    matches = (g_pids[indices] == q_pids[:, None]).astype(np.int32)
    all_cmc, all_ap = [], []
    for q in range(dist.shape[0]):
        order = indices[q]
        remove = (g_pids[order] == q_pids[q]) & (g_cams[order] == q_cams[q])
        raw = matches[q][~remove]
        if not raw.any():
            continue
        cmc = raw.cumsum()
        cmc[cmc > 1] = 1
        all_cmc.append(cmc[:max_rank])
        tmp = [x / (i + 1.0) for i, x in enumerate(raw.cumsum())]
        all_ap.append((np.asarray(tmp) * raw).sum() / raw.sum())
    return np.asarray(all_cmc).mean(0), float(np.mean(all_ap))


def numpy_loop(dist, q_pids, g_pids, q_cams, g_cams, max_rank=50):
    """A per-query loop with every step inside a query vectorised (a fair, modern reference)."""
    hits, aps = np.zeros(max_rank), []
    for q in range(dist.shape[0]):
        order = np.argsort(dist[q])
        same = g_pids[order] == q_pids[q]
        raw = same[~(same & (g_cams[order] == q_cams[q]))]
        if not raw.any():
            continue
        ranks = np.flatnonzero(raw)
        if ranks[0] < max_rank:
            hits[ranks[0] :] += 1
        aps.append((np.arange(1, len(ranks) + 1) / (ranks + 1)).mean())
    return hits / len(aps), float(np.mean(aps))


def problem(nq: int, ng: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = max(2, ng // 20)
    return (
        rng.random((nq, ng), dtype=np.float32),
        rng.integers(0, ids, nq),
        rng.integers(0, ids, ng),
        rng.integers(0, 6, nq),
        rng.integers(0, 6, ng),
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
    ap.add_argument("--queries", type=int, default=5000)
    ap.add_argument("--gallery", type=int, default=20000)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--memory-probe", nargs=3, type=int, metavar=("NQ", "NG", "DIM"))
    args = ap.parse_args()
    if args.memory_probe:
        memory_probe(*args.memory_probe)
        return
    dist, qp, gp, qc, gc = problem(args.queries, args.gallery)
    t_vec, res = timed(lambda: evaluate(dist, qp, gp, qc, gc))
    t_np, (cmc_np, map_np) = timed(lambda: numpy_loop(dist, qp, gp, qc, gc))
    t_classic, (cmc_cl, map_cl) = timed(lambda: classic_loop(dist, qp, gp, qc, gc))
    assert abs(res.mAP - map_np) < 1e-6 and abs(res.mAP - map_cl) < 1e-6, "metrics disagree"
    out = {
        "problem": f"{args.queries} x {args.gallery}",
        "evaluate_s": round(t_vec, 2),
        "numpy_loop_s": round(t_np, 2),
        "classic_loop_s": round(t_classic, 2),
        "speedup_vs_numpy_loop": round(t_np / t_vec, 1),
        "speedup_vs_classic_loop": round(t_classic / t_vec, 1),
    }
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
