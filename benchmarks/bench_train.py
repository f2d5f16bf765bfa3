"""End-to-end training throughput against the bare model step, and memory across epochs.

(a) forward + backward + Adam step on tensors already in memory; (b) `run_training` on the
synthetic set with the same model, batch (P x K = 8 x 4, doubled by CRE) and precision,
3 epochs, once with ``data.augment_on=worker`` and once with ``device`` in the same run
(recorded side by side: the ``_device-augment`` entry is the second).

This machine's speed drifts by +-20% over seconds, so (a) is measured in blocks before
training and after every epoch, in a separate process (its memory does not mix with the
trainer's), and each epoch is compared with the blocks just before and after it; the
reported (b)/(a) is the median of those bracketed ratios. The resident memory of the
training process after each epoch shows whether it grows (the trainer gives freed heap
pages back once per epoch). A last block of (a) releases them after every step instead,
for comparison of speed and memory.

Run: python benchmarks/bench_train.py [--backbone resnet18 --height 128 --width 64 --steps 12]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import tempfile
from pathlib import Path

import torch
from _common import bracketed_ratios, peak_rss_mib, record, timed

from ccreid.config import load_config
from ccreid.engine import run_training
from ccreid.inference import select_device
from ccreid.inference.memory import release_freed_memory, resident_mib
from ccreid.inference.precision import autocast, resolve_dtype
from ccreid.losses import ReIDObjective
from ccreid.models import build_model
from ccreid.synthetic import SyntheticConfig, generate

NUM_CLASSES = 40


def bare_step_server(args: argparse.Namespace, conn) -> None:
    """Child process: build the model once, then run a block of steps per request
    (``True``: release freed memory after every step) and send (images/s, RSS per step)."""
    device = select_device()
    torch.manual_seed(0)
    model = build_model(NUM_CLASSES, backbone=args.backbone, attention="bsga")
    model = model.to(device, memory_format=torch.channels_last).train()
    n = 64  # 32 originals + 32 erased copies
    x = torch.randn(n, 3, args.height, args.width, device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    mask = torch.ones(n, 1, args.height, args.width, device=device)
    pids = torch.arange(8, device=device).repeat_interleave(4).repeat(2)
    clothes = torch.arange(n, device=device) % 3
    objective, opt = ReIDObjective(), torch.optim.Adam(model.parameters(), lr=3e-4)
    dtype = resolve_dtype("auto", device)  # what train.precision=auto picks

    def step(release: bool) -> None:
        with autocast(device, dtype):
            out = model(x, mask)
        loss = objective(out.logits, out.features, pids, clothes).total
        opt.zero_grad()
        loss.backward()
        opt.step()
        if release:
            release_freed_memory()

    step(False)  # warm-up
    while (release := conn.recv()) is not None:
        rss: list[int] = []

        def block(release: bool = release, rss: list[int] = rss) -> None:
            for _ in range(args.steps):
                step(release)
                rss.append(round(resident_mib()))
            if device.type == "cuda":
                torch.cuda.synchronize()

        seconds, _ = timed(block)
        conn.send((n * args.steps / seconds, rss))


class BareSteps:
    """Handle on the child process that times bare steps on request."""

    def __init__(self, args: argparse.Namespace) -> None:
        ctx = mp.get_context("spawn")  # no fork of a process whose OpenMP pool is running
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=bare_step_server, args=(args, child), daemon=True)
        self.proc.start()

    def run(self, release: bool = False) -> tuple[float, list[int]]:
        self.conn.send(release)
        return self.conn.recv()

    def close(self) -> None:
        self.conn.send(None)
        self.proc.join()


MODES = ("worker", "device")  # data.augment_on, measured one after the other in one run


def train_mode(args: argparse.Namespace, root: Path, out: Path, mode: str, after_epoch) -> list:
    """3 epochs of `run_training` with ``data.augment_on=mode``; the epochs' logs."""
    cfg = load_config(None, [
        f"data.root={root}", f"data.mask_root={root / 'masks'}", f"data.height={args.height}",
        f"data.width={args.width}", f"data.workers={args.workers}", f"model.backbone={args.backbone}",
        "model.weights=none", "train.epochs=3", "train.eval_every=100", f"name={mode}",
        f"train.max_steps_per_epoch={args.steps}", "train.precision=auto", f"output_dir={out}",
        f"data.augment_on={mode}",
    ])  # fmt: skip
    return run_training(cfg, on_epoch=after_epoch).logs


def mode_figures(epochs: list[float], bare: list[float], rss: list[int]) -> dict:
    """One setting's end-to-end figures against the bare blocks that bracket its epochs."""
    ratios = bracketed_ratios(epochs, bare)
    return {
        "bare_step_img_s": round(statistics.median(bare), 1),
        "bare_blocks_img_s": [round(r, 2) for r in bare],
        "end_to_end_img_s": round(statistics.median(epochs), 1),
        "end_to_end_epochs_img_s": [round(r, 2) for r in epochs],
        "end_to_end_over_bare_per_epoch": [round(r, 3) for r in ratios],
        "end_to_end_over_bare": round(statistics.median(ratios), 2),
        "rss_mib_after_epochs_1_2_3": rss,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--height", type=int, default=128)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--steps", type=int, default=12, help="steps per epoch and per bare block")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    device = select_device()
    bare = BareSteps(args)
    bare_rates = [bare.run()[0]]
    figures, peak = {}, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        root = generate(
            Path(tmp) / "data", SyntheticConfig(train_ids=40, test_ids=8, seed=1), workers=2
        )
        for mode in MODES:  # the bare blocks between them bracket the last and first epochs
            rss: list[int] = []
            first = len(bare_rates) - 1

            def after_epoch(log, rss: list[int] = rss) -> None:
                rss.append(round(resident_mib()))  # the trainer's process, before anything else
                bare_rates.append(bare.run()[0])

            logs = train_mode(args, root, Path(tmp) / "runs", mode, after_epoch)
            rates = [log.images_per_s for log in logs]
            figures[mode] = mode_figures(rates, bare_rates[first:], rss)
            if mode == MODES[0]:  # the process's peak so far: the first setting's alone
                peak = peak_rss_mib()
    _, kept_rss = bare.run(release=False)
    per_step, per_step_rss = bare.run(release=True)
    bare.close()
    dtype = resolve_dtype("auto", device)
    suffix = "_cuda" if device.type == "cuda" else ""
    common = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
        "precision": "fp32" if dtype is None else str(dtype).removeprefix("torch."),
        "steps_per_epoch": args.steps, "data_workers": args.workers,
    }  # fmt: skip
    base = f"train_{args.backbone}_{args.height}x{args.width}"
    record(base + suffix, {
        **common, "augment_on": "worker", **figures["worker"],
        "peak_rss_mib_training": round(peak),
        "device_augment_end_to_end_over_bare": figures["device"]["end_to_end_over_bare"],
        "bare_step_release_every_step_img_s": round(per_step, 1),
        "bare_rss_mib_per_step_without_release": kept_rss,
        "bare_rss_mib_per_step_release_every_step": per_step_rss,
    }, device=str(device))  # fmt: skip
    device_entry = {**common, "augment_on": "device", **figures["device"]}
    record(f"{base}_device-augment{suffix}", device_entry, device=str(device))


if __name__ == "__main__":
    main()
