"""`ccreid serve` under load, side by side with the bare model: queries/s and latency
percentiles with 1, 4 and 16 concurrent clients against a 10k-image index, over HTTP on
localhost (uvicorn in this process, one worker, dynamic batching on), and in the same run
the model's own images/s embedding prepared queries in batches of ``--max-batch``.

Each request uploads a query image and its mask; the service decodes it, embeds it with the
model (batched with the other requests waiting) and searches the exact (flat) index. The
model is trained for one step on the synthetic set (its speed, not its accuracy, matters
here); the index holds random unit vectors of the model's feature size, so search cost is
that of a real gallery of that size.

Run: python benchmarks/bench_serve.py [--gallery 10000 --clients 1 4 16 --requests 24 --backbone resnet50]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _common import record

from ccreid.config import load_config
from ccreid.engine import run_training
from ccreid.retrieval.index import GalleryIndex, fingerprint
from ccreid.retrieval.searcher import Query, Searcher
from ccreid.retrieval.server import create_app
from ccreid.synthetic import SyntheticConfig, generate


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _setup(tmp: Path, args) -> tuple[Path, dict[str, bytes], int]:
    """A one-step model, an index of ``args.gallery`` random vectors, and one query."""
    root = generate(tmp / "data", SyntheticConfig(train_ids=8, test_ids=4, seed=4))
    cfg = load_config(None, [
        f"data.root={root}", f"data.mask_root={root / 'masks'}", f"model.backbone={args.backbone}",
        f"data.height={args.height}", f"data.width={args.width}", "model.weights=none",
        "data.num_identities=4", "data.num_instances=2", "data.workers=0", "train.epochs=1",
        "train.max_steps_per_epoch=1", f"output_dir={tmp}/runs", "name=serve",
    ])  # fmt: skip
    ckpt = run_training(cfg).run_dir / "checkpoints" / "last.safetensors"
    gallery = sorted((root / "VC-Clothes" / "gallery").glob("*.jpg"))
    dim = 2048 if args.backbone == "resnet50" else 512
    feats = np.random.default_rng(0).normal(size=(args.gallery, dim)).astype(np.float32)
    rows = [{"path": gallery[i % len(gallery)].name, "pid": None, "camid": None, "clothes": None}
            for i in range(args.gallery)]  # fmt: skip
    info = {"checkpoint": str(ckpt), "fingerprint": fingerprint(ckpt),
            "gallery_root": str(gallery[0].parent)}  # fmt: skip
    GalleryIndex.create(feats, rows, info).save(tmp / "idx")
    query = gallery[0]
    mask = root / "masks" / "VC-Clothes" / "gallery" / query.with_suffix(".png").name
    return tmp / "idx", {"image": query.read_bytes(), "mask": mask.read_bytes()}, dim


def bare_images_per_s(
    searcher: Searcher, files: dict[str, bytes], batch: int, repeat: int = 5
) -> float:
    """The model alone on prepared queries in batches of ``batch`` (no HTTP, no search)."""
    prepared = [searcher.prepare(Query(files["image"], files["mask"]))] * batch
    searcher.embed(prepared)  # warm-up
    start = time.perf_counter()
    for _ in range(repeat):
        searcher.embed(prepared)
    return batch * repeat / (time.perf_counter() - start)


def under_load(port: int, files: dict[str, bytes], clients: int, requests: int) -> dict:
    """``clients`` threads each sending ``requests`` searches; throughput and latencies."""
    import httpx

    latencies: list[float] = []
    errors: list[int] = []

    def client() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            for _ in range(requests):
                start = time.perf_counter()
                res = http.post("/api/search", files=files, data={"top_k": "10"})
                latencies.append(time.perf_counter() - start)
                if res.status_code != 200:
                    errors.append(res.status_code)

    workers = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - start
    ms = sorted(1000 * t for t in latencies)
    pick = lambda q: round(ms[int(q * (len(ms) - 1))], 1)  # noqa: E731
    return {"clients": clients, "requests": len(ms), "errors": len(errors),
            "queries_per_s": round(len(ms) / wall, 2), "p50_ms": round(statistics.median(ms), 1),
            "p95_ms": pick(0.95), "p99_ms": pick(0.99)}  # fmt: skip


def main() -> None:
    import uvicorn

    ap = argparse.ArgumentParser()
    ap.add_argument("--gallery", type=int, default=10_000)
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--requests", type=int, default=24, help="per client")
    ap.add_argument("--max-batch", type=int, default=16)
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
    ap.add_argument("--backbone", default="resnet50")
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--width", type=int, default=128)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        index, files, dim = _setup(Path(tmp), args)
        searcher = Searcher(index)
        app = create_app(searcher, max_batch=args.max_batch, max_wait_ms=args.max_wait_ms)
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        under_load(port, files, 1, 2)  # warm-up
        runs = []
        for c in args.clients:  # each load run bracketed by bare runs: the same machine state
            before = bare_images_per_s(searcher, files, args.max_batch)
            run = under_load(port, files, c, args.requests)
            after = bare_images_per_s(searcher, files, args.max_batch)
            run["bare_batched_images_per_s"] = round((before + after) / 2, 2)
            run["bare_single_ms"] = round(1000 / bare_images_per_s(searcher, files, 1), 1)
            runs.append(run)
        server.should_exit = True
        thread.join(timeout=10)
    setup = (f"{args.backbone} + BSGA {args.height}x{args.width}, flat index of {args.gallery:,} x "
             f"{dim}-d, max batch {args.max_batch}, max wait {args.max_wait_ms:g} ms")  # fmt: skip
    for run in runs:
        ratio = run["queries_per_s"] / run["bare_batched_images_per_s"]
        record(f"serve/{run['clients']}-clients", {"setup": setup, **run,
                                                   "ratio_to_bare": round(ratio, 3)})  # fmt: skip
        print(run, f"ratio {ratio:.2f} of bare batched")


if __name__ == "__main__":
    main()
