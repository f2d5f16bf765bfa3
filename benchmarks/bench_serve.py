"""`ccreid serve` under load: queries/s and latency percentiles with concurrent clients
against a 10k-image index, over HTTP on localhost (uvicorn in this process, one worker).

Each request uploads a query image and its mask; the service decodes it, embeds it with the
model and searches the exact (flat) index. The model is trained for one step on the
synthetic set (its speed, not its accuracy, matters here); the index holds 10,000 random
unit vectors of the model's feature size, so search cost is that of a real 10k gallery.

Run: python benchmarks/bench_serve.py [--gallery 10000 --clients 4 --requests 40 --backbone resnet50]
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
from ccreid.retrieval.searcher import Searcher
from ccreid.retrieval.server import create_app
from ccreid.synthetic import SyntheticConfig, generate


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    import httpx
    import uvicorn

    ap = argparse.ArgumentParser()
    ap.add_argument("--gallery", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--requests", type=int, default=40, help="per client")
    ap.add_argument("--backbone", default="resnet50")
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--width", type=int, default=128)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = generate(Path(tmp) / "data", SyntheticConfig(train_ids=8, test_ids=4, seed=4))
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
        rows = [{"path": gallery[i % len(gallery)].name, "pid": -1, "camid": -1, "clothes": -1}
                for i in range(args.gallery)]  # fmt: skip
        info = {"checkpoint": str(ckpt), "fingerprint": fingerprint(ckpt),
                "gallery_root": str(gallery[0].parent)}  # fmt: skip
        GalleryIndex.create(feats, rows, info).save(Path(tmp) / "idx")
        app = create_app(Searcher(Path(tmp) / "idx"))
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        query = gallery[0]
        mask = root / "masks" / "VC-Clothes" / "gallery" / query.with_suffix(".png").name
        files = {"image": query.read_bytes(), "mask": mask.read_bytes()}
        latencies: list[float] = []
        errors = []

        def client() -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
                for _ in range(args.requests):
                    start = time.perf_counter()
                    res = http.post("/api/search", files=files, data={"top_k": "10"})
                    latencies.append(time.perf_counter() - start)
                    if res.status_code != 200:
                        errors.append(res.status_code)

        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:  # warm-up
            http.post("/api/search", files=files, data={"top_k": "10"})
        workers = [threading.Thread(target=client) for _ in range(args.clients)]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        wall = time.perf_counter() - start
        server.should_exit = True
        thread.join(timeout=10)
    ms = sorted(1000 * t for t in latencies)
    record("serve", {
        "setup": f"{args.backbone} + BSGA {args.height}x{args.width}, flat index of {args.gallery:,} x {dim}-d",
        "clients": args.clients, "requests": len(ms), "errors": len(errors),
        "queries_per_s": round(len(ms) / wall, 2), "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1), "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 1),
    })  # fmt: skip


if __name__ == "__main__":
    main()
