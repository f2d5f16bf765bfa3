"""The one training loop. Variants (CRE, BSGA, triplet choice) change what a step
computes through its inputs and objective, never the loop."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from ccreid.data import EpochSeeded, InputNormalizer, ReIDItem
from ccreid.engine.checkpoint import Checkpoint, save_checkpoint
from ccreid.engine.distributed import DistInfo
from ccreid.engine.memory import release_freed_memory
from ccreid.engine.precision import autocast
from ccreid.errors import CCReIDError
from ccreid.losses import LossTerms, ReIDObjective
from ccreid.models import ReIDModel


class TrainingDiverged(CCReIDError, RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class StepResult:
    loss: float
    identity: float
    triplet: float
    images: int
    mask: float = 0.0


@dataclass
class EpochLog:
    epoch: int
    loss: float
    identity: float
    triplet: float
    mask: float  # the mask head's loss (0 without one)
    lr: float
    images_per_s: float
    seconds: float
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # per eval set
    probes: dict[str, dict[str, float]] = field(default_factory=dict)  # e.g. BSGA attention

    def flat(self) -> dict[str, Any]:
        row = {k: v for k, v in self.__dict__.items() if k not in ("metrics", "probes")}
        for name, m in {**self.metrics, **self.probes}.items():
            row.update({f"{name}/{k}": v for k, v in m.items()})
        return row


def step_inputs(
    batch: ReIDItem, cre: bool, device: torch.device, channels_last: bool,
    normalize: InputNormalizer, erased_clothes_base: int | None = None,
):  # fmt: skip
    """Images, masks, pids, clothes and frames per item of one step; CRE appends the
    erased copies (2M).

    An erased copy keeps its original's clothes label, or, with ``erased_clothes_base``
    (``train.cre_clothes=own``), gets the label ``base + pid``: one "erased" outfit per
    identity, so L_BCTri pairs each original with its erased copy across clothes.
    Clips (B, T, 3, H, W) come out as B*T frames, with ``frames`` = T."""
    images, masks = batch.image, batch.mask
    pids, clothes = batch.pid, batch.clothes
    if cre:
        images = torch.cat([images, batch.erased])
        masks = torch.cat([masks, masks]) if masks.numel() else masks
        erased = clothes if erased_clothes_base is None else erased_clothes_base + pids
        pids, clothes = torch.cat([pids, pids]), torch.cat([clothes, erased])
    frames = 1
    if images.ndim == 5:
        frames = images.shape[1]
        images = images.flatten(0, 1)
        masks = masks.flatten(0, 1) if masks.numel() else masks
    images = normalize(images, device, channels_last)
    masks = masks.to(device, non_blocking=True).float() if masks.numel() else None
    return images, masks, pids.to(device), clothes.to(device), frames


@dataclass
class Trainer:
    """Holds what a run needs; :meth:`fit` runs epochs, evaluates and checkpoints."""

    model: ReIDModel
    objective: ReIDObjective
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    loader: DataLoader
    sampler: EpochSeeded
    device: torch.device
    dtype: torch.dtype | None
    cre: bool
    run_dir: Path
    meta: dict[str, Any]
    dist_info: DistInfo = DistInfo()
    channels_last: bool = True
    max_steps: int | None = None
    evaluate: Callable[[], dict[str, dict[str, float]]] | None = None
    probe: Callable[[], dict[str, dict[str, float]]] | None = None  # every epoch, cheap
    eval_every: int = 1
    on_epoch: Callable[[EpochLog], None] | None = None
    progress: Any = None  # a rich Progress or None
    start_epoch: int = 0
    best_score: float = -math.inf
    seed: int = 0
    normalize: InputNormalizer = field(default_factory=InputNormalizer)
    erased_clothes_base: int | None = None  # train.cre_clothes=own: see step_inputs
    release_memory: bool = True  # after each epoch, see ccreid.engine.memory: flat RSS

    def __post_init__(self) -> None:
        self.net = self.model
        if self.dist_info.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        self.scaler = torch.amp.GradScaler(
            enabled=self.dtype == torch.float16 and self.device.type == "cuda"
        )

    def train_step(self, batch: ReIDItem) -> StepResult:
        images, masks, pids, clothes, frames = step_inputs(
            batch, self.cre, self.device, self.channels_last, self.normalize,
            self.erased_clothes_base,
        )  # fmt: skip
        with autocast(self.device, self.dtype):
            out = self.net(images, masks, frames)
        terms: LossTerms = self.objective(
            out.logits, out.features, pids, clothes, out.mask_logits, masks
        )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(terms.total).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return StepResult(
            terms.total.item(), terms.identity.item(), terms.triplet.item(), len(images),
            terms.mask.item(),
        )  # fmt: skip

    def _checkpoint(self, name: str, epoch: int, metrics: dict | None = None) -> None:
        if not self.dist_info.is_main:
            return
        meta = {
            **self.meta,
            "epoch": epoch,
            "best_score": self.best_score if math.isfinite(self.best_score) else None,
            "metrics": metrics or {},
            "scheduler": self.scheduler.state_dict(),
        }
        extra = {"torch_rng": torch.get_rng_state()}
        save_checkpoint(
            self.run_dir / "checkpoints" / f"{name}.safetensors",
            self.model,
            meta,
            self.optimizer,
            extra,
        )

    def restore(self, ckpt: Checkpoint) -> None:
        """Continue a run from its ``last`` checkpoint: weights, optimizer, schedule."""
        from ccreid.engine.checkpoint import load_model_weights

        load_model_weights(self.model, ckpt, "checkpoint", for_eval=False)
        if ckpt.optimizer is not None:
            self.optimizer.load_state_dict(ckpt.optimizer)
        self.scheduler.load_state_dict(ckpt.meta["scheduler"])
        self.start_epoch = int(ckpt.meta["epoch"])
        self.best_score = ckpt.meta.get("best_score") or -math.inf

    def _run_epoch(self, epoch: int) -> EpochLog:
        self.model.train()
        self.sampler.set_epoch(epoch)
        # The sampler seeds each sample's augmentation by (seed, epoch, rank, position); the
        # main process's own draws depend only on (seed, epoch, rank): evaluation between
        # epochs, the number of data workers, or a resume cannot change what an epoch draws.
        torch.manual_seed(self.seed * 1_000_003 + epoch * 1_009 + self.dist_info.rank)
        total = (
            len(self.loader) if self.max_steps is None else min(len(self.loader), self.max_steps)
        )
        task = self.progress.add_task(f"epoch {epoch + 1}", total=total) if self.progress else None
        sums = np.zeros(4)
        images, steps, start = 0, 0, time.perf_counter()
        for step, batch in enumerate(self.loader):
            if step >= total:
                break
            res = self.train_step(batch)
            if not all(math.isfinite(v) for v in (res.loss, res.identity, res.triplet)):
                raise TrainingDiverged(
                    f"loss became {res.loss} at epoch {epoch + 1}, step {step + 1}; "
                    f"the last good checkpoint is kept in {self.run_dir / 'checkpoints'}"
                )
            sums += (res.loss, res.identity, res.triplet, res.mask)
            images += res.images
            steps += 1
            if task is not None:
                rate = images / (time.perf_counter() - start)
                self.progress.update(task, advance=1, description=(
                    f"epoch {epoch + 1} loss {res.loss:.3f} lr {self.scheduler.get_last_lr()[0]:.1e} "
                    f"{rate:.0f} img/s"))  # fmt: skip
        seconds = time.perf_counter() - start
        if task is not None:
            self.progress.remove_task(task)
        if self.release_memory:
            release_freed_memory()
        lr = self.scheduler.get_last_lr()[0]
        self.scheduler.step()
        mean = sums / max(steps, 1)
        return EpochLog(
            epoch + 1, *map(float, mean), lr, images * self.dist_info.world_size / seconds, seconds
        )

    def fit(self, epochs: int) -> list[EpochLog]:
        """Train epochs start_epoch..epochs-1. ``evaluate`` (the validation set) picks ``best``.

        Ctrl-C leaves ``last`` as the end of the last complete epoch: a mid-epoch state
        cannot be resumed exactly, so ``--resume`` repeats the interrupted epoch from there.
        """
        logs = []
        for epoch in range(self.start_epoch, epochs):
            log = self._run_epoch(epoch)
            if self.evaluate is not None and (
                (epoch + 1) % self.eval_every == 0 or epoch + 1 == epochs
            ):
                log.metrics = self.evaluate()
                score = self._score(log.metrics)
                if score is not None and score > self.best_score:
                    self.best_score = score
                    self._checkpoint("best", epoch + 1, log.metrics)
            log.probes = self.probe() if self.probe is not None else {}
            self._checkpoint("last", epoch + 1, log.metrics)
            logs.append(log)
            if self.on_epoch:
                self.on_epoch(log)
        return logs

    @staticmethod
    def _score(metrics: dict[str, dict[str, float]]) -> float | None:
        """Validation mAP: the only number that may choose a checkpoint."""
        return metrics["val"]["mAP"] if "val" in metrics else None
