"""FAISS search vs a numpy brute-force matmul, IVF recall@10, ONNX Runtime vs eager PyTorch.

Run: python benchmarks/bench_retrieval.py [--sizes 100000 1000000 --queries 100]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from _common import record, timed

from ccreid.retrieval import make_index


def numpy_topk(gallery: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ gallery.T
    part = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, 1), axis=1)
    return np.take_along_axis(part, order, 1)


def random_gallery(
    n: int, dim: int, per_id: int = 20, seed: int = 0, chunk: int = 50_000
) -> np.ndarray:
    """Unit vectors shaped like a re-ID gallery: ``per_id`` noisy views around each identity's
    centre. Drawn and normalised chunk by chunk (1M x 2048 is 8 GB: no temporaries)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n // per_id + 1, dim), dtype=np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, chunk):
        block = out[s : s + chunk]
        block[:] = rng.standard_normal(block.shape, dtype=np.float32)
        block += centres[np.arange(s, s + len(block)) // per_id]
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    return out


def timed_index_search(
    index, gallery: np.ndarray, queries: np.ndarray, k: int
) -> tuple[float, np.ndarray]:
    """Add the gallery, time the search; the index is freed when this returns."""
    index.add(gallery)
    seconds, (_, ids) = timed(lambda: index.search(queries, k))
    return seconds, ids


def search_bench(n: int, dim: int, nq: int, k: int = 10) -> dict[str, float]:
    """One index in memory at a time beside the gallery (peak about 2 x n x dim x 4 bytes)."""
    rng = np.random.default_rng(1)
    gallery = random_gallery(n, dim)
    queries = gallery[rng.choice(n, nq, replace=False)] + 0.05 * rng.standard_normal(
        (nq, dim), dtype=np.float32
    )
    t_np, exact = timed(lambda: numpy_topk(gallery, queries, k))
    t_flat, ids = timed_index_search(make_index(dim, "flat"), gallery, queries, k)
    assert (ids[:, 0] == exact[:, 0]).mean() > 0.99
    nlist = min(1024, int(4 * np.sqrt(n)))
    ivf = make_index(dim, "ivf", nlist=nlist)
    ivf.train(gallery[rng.choice(n, min(n, 40 * nlist), replace=False)])
    ivf.nprobe = 16
    t_ivf, ivf_ids = timed_index_search(ivf, gallery, queries, k)
    recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(exact, ivf_ids, strict=True)]))
    recall1 = float(np.mean(exact[:, 0] == ivf_ids[:, 0]))
    return {
        f"n{n}_numpy_ms_per_query": round(1000 * t_np / nq, 2),
        f"n{n}_faiss_flat_ms_per_query": round(1000 * t_flat / nq, 2),
        f"n{n}_faiss_flat_speedup_vs_numpy": round(t_np / t_flat, 2),
        f"n{n}_ivf_nprobe16_ms_per_query": round(1000 * t_ivf / nq, 3),
        f"n{n}_ivf_speedup_vs_flat": round(t_flat / t_ivf, 1),
        f"n{n}_ivf_recall_at_10": round(recall, 3),
        f"n{n}_ivf_recall_at_1": round(recall1, 3),
    }


def onnx_bench() -> dict[str, float]:
    import onnxruntime as ort

    from ccreid.models import build_model

    model = build_model(10, backbone="resnet50", attention="bsga").eval()
    x, m = torch.randn(8, 3, 256, 128), torch.ones(8, 1, 256, 128)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        torch.onnx.export(model, (x, m), str(path), dynamo=True, input_names=["image", "mask"])
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feeds = {"image": x.numpy(), "mask": m.numpy()}
        sess.run(None, feeds)
        t_ort, _ = timed(lambda: sess.run(None, feeds), repeat=3)
    with torch.no_grad():
        model(x, m)
        t_torch, _ = timed(lambda: model(x, m), repeat=3)
    return {"onnx_resnet50_bsga_img_s": round(8 / t_ort, 1), "torch_eager_img_s": round(8 / t_torch, 1),
            "onnx_speedup": round(t_torch / t_ort, 2)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--skip-onnx", action="store_true")
    args = ap.parse_args()
    out: dict[str, float | str] = {"dim": args.dim, "queries": args.queries}
    for n in args.sizes:
        out.update(search_bench(n, args.dim, args.queries))
    if not args.skip_onnx:
        out.update(onnx_bench())
    record("retrieval", out)


if __name__ == "__main__":
    main()
