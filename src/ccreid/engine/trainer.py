"""The one training loop. Variants (CRE, BSGA, triplet choice) change what a step
computes through its inputs and objective, never the loop."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from ccreid.data import InputNormalizer, ReIDItem
from ccreid.data.batch_augment import BatchAugment
from ccreid.data.images import DeferredItem
from ccreid.engine.build import TrainingParts
from ccreid.engine.distributed import DistInfo
from ccreid.errors import CCReIDError
from ccreid.inference import Checkpoint, autocast, load_model_weights, save_checkpoint
from ccreid.inference.memory import release_freed_memory
from ccreid.losses import LossTerms
from ccreid.models.mask_head import head_target
from ccreid.runfolder import RunFolder


class TrainingDiverged(CCReIDError, RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class StepResult:
    loss: float
    identity: float
    triplet: float
    images: int
    mask: float = 0.0

    def terms(self) -> dict[str, float]:
        """The loss terms by name, as metrics.json records them."""
        return {"loss": self.loss, "identity": self.identity, "triplet": self.triplet,
                "mask": self.mask}  # fmt: skip


@dataclass
class EpochLog:
    epoch: int
    losses: dict[str, float]  # mean over the epoch's steps: loss, identity, triplet, mask
    lr: float
    images_per_s: float
    seconds: float
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # per eval set
    probes: dict[str, dict[str, float]] = field(default_factory=dict)  # e.g. BSGA attention

    def __getattr__(self, name: str) -> float:
        """A loss term by name (``log.loss``, ``log.identity``, ...)."""
        losses = self.__dict__.get("losses", {})
        if name in losses:
            return losses[name]
        raise AttributeError(name)

    def flat(self) -> dict[str, Any]:
        row: dict[str, Any] = {"epoch": self.epoch, **self.losses, "lr": self.lr,
                               "images_per_s": self.images_per_s, "seconds": self.seconds}  # fmt: skip
        for name, m in {**self.metrics, **self.probes}.items():
            row.update({f"{name}/{k}": v for k, v in m.items()})
        return row


def step_inputs(
    batch: ReIDItem | DeferredItem, cre: bool, device: torch.device, channels_last: bool,
    normalize: InputNormalizer, erased_clothes_base: int | None = None,
    augment: BatchAugment | None = None,
):  # fmt: skip
    """Images, masks, pids, clothes and frames per item of one step; CRE appends the
    erased copies (2M). A `DeferredItem` batch (``data.augment_on=device``) is first
    augmented on ``device`` by ``augment``; from there both kinds take one path.

    An erased copy keeps its original's clothes label, or, with ``erased_clothes_base``
    (``train.cre_clothes=own``), gets the label ``base + pid``: one "erased" outfit per
    identity, so L_BCTri pairs each original with its erased copy across clothes.
    Clips (B, T, 3, H, W) come out as B*T frames, with ``frames`` = T."""
    if isinstance(batch, DeferredItem):
        if augment is None:
            raise TypeError("a batch of deferred items needs the step's BatchAugment")
        batch = augment(batch, device)
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
class TrainingHooks:
    """What a run does around the loop: validation (picks ``best``), cheap probes, a
    callback per epoch and a progress display."""

    evaluate: Callable[[], dict[str, dict[str, float]]] | None = None
    probe: Callable[[], dict[str, dict[str, float]]] | None = None  # every epoch, cheap
    on_epoch: Callable[[EpochLog], None] | None = None
    progress: Any = None  # a rich Progress or None


@dataclass
class Trainer:
    """Runs epochs of a run's `TrainingParts`, evaluates and checkpoints into its
    `RunFolder`."""

    parts: TrainingParts
    run: RunFolder
    meta: dict[str, Any]  # stored in every checkpoint (config, classes, dataset)
    dist_info: DistInfo = DistInfo()
    max_steps: int | None = None
    eval_every: int = 1
    seed: int = 0
    hooks: TrainingHooks = field(default_factory=TrainingHooks)
    start_epoch: int = 0
    best_score: float = -math.inf
    release_memory: bool = True  # after each epoch, see ccreid.inference.memory: flat RSS

    def __post_init__(self) -> None:
        self.model = self.parts.model
        self.net = self.model
        step = self.parts.step
        if self.dist_info.enabled:
            ids = [step.device.index] if step.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        self.scaler = torch.amp.GradScaler(
            enabled=step.dtype == torch.float16 and step.device.type == "cuda"
        )

    def train_step(self, batch: ReIDItem | DeferredItem) -> StepResult:
        st, parts = self.parts.step, self.parts
        images, masks, pids, clothes, frames = step_inputs(
            batch, st.cre, st.device, st.channels_last, st.normalize, st.erased_clothes_base,
            st.augment,
        )  # fmt: skip
        with autocast(st.device, st.dtype):
            out = self.net(images, masks, frames)
        target = None  # the mask head learns the parser's mask at its own resolution
        if out.mask_logits is not None and masks is not None:
            target = head_target(masks, out.mask_logits.shape[-2:])
        terms: LossTerms = parts.objective(
            out.logits, out.features, pids, clothes, out.mask_logits, target
        )
        parts.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(terms.total).backward()
        self.scaler.step(parts.optimizer)
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
            "scheduler": self.parts.scheduler.state_dict(),
        }
        extra = {"torch_rng": torch.get_rng_state()}
        save_checkpoint(self.run.checkpoint_path(name), self.model, meta, self.parts.optimizer,
                        extra)  # fmt: skip

    def restore(self, ckpt: Checkpoint) -> None:
        """Continue a run from its ``last`` checkpoint: weights, optimizer, schedule."""
        load_model_weights(self.model, ckpt, "checkpoint", for_eval=False)
        if ckpt.optimizer is not None:
            self.parts.optimizer.load_state_dict(ckpt.optimizer)
        self.parts.scheduler.load_state_dict(ckpt.meta["scheduler"])
        self.start_epoch = int(ckpt.meta["epoch"])
        self.best_score = ckpt.meta.get("best_score") or -math.inf

    def _run_epoch(self, epoch: int) -> EpochLog:
        self.model.train()
        self.parts.sampler.set_epoch(epoch)
        # The sampler seeds each sample's augmentation by (seed, epoch, rank, position); the
        # main process's own draws depend only on (seed, epoch, rank): evaluation between
        # epochs, the number of data workers, or a resume cannot change what an epoch draws.
        torch.manual_seed(self.seed * 1_000_003 + epoch * 1_009 + self.dist_info.rank)
        loader, progress = self.parts.loader, self.hooks.progress
        total = len(loader) if self.max_steps is None else min(len(loader), self.max_steps)
        task = progress.add_task(f"epoch {epoch + 1}", total=total) if progress else None
        sums: dict[str, float] = {}
        images, steps, start = 0, 0, time.perf_counter()
        for step, batch in enumerate(loader):
            if step >= total:
                break
            res = self.train_step(batch)
            if not all(math.isfinite(v) for v in (res.loss, res.identity, res.triplet)):
                raise TrainingDiverged(
                    f"loss became {res.loss} at epoch {epoch + 1}, step {step + 1}; "
                    f"the last good checkpoint is kept in {self.run.checkpoint_path().parent}"
                )
            sums = {k: sums.get(k, 0.0) + v for k, v in res.terms().items()}
            images += res.images
            steps += 1
            if task is not None:
                self._show(task, epoch, res, images / (time.perf_counter() - start))
        seconds = time.perf_counter() - start
        if task is not None:
            progress.remove_task(task)
        if self.release_memory:
            release_freed_memory()
        lr = self.parts.scheduler.get_last_lr()[0]
        self.parts.scheduler.step()
        means = {k: float(v / max(steps, 1)) for k, v in sums.items()}
        rate = images * self.dist_info.world_size / seconds
        return EpochLog(epoch + 1, means, lr, rate, seconds)

    def _show(self, task: Any, epoch: int, res: StepResult, rate: float) -> None:
        lr = self.parts.scheduler.get_last_lr()[0]
        self.hooks.progress.update(task, advance=1, description=(
            f"epoch {epoch + 1} loss {res.loss:.3f} lr {lr:.1e} {rate:.0f} img/s"))  # fmt: skip

    def fit(self, epochs: int) -> list[EpochLog]:
        """Train epochs start_epoch..epochs-1. ``evaluate`` (the validation set) picks ``best``.

        Ctrl-C leaves ``last`` as the end of the last complete epoch: a mid-epoch state
        cannot be resumed exactly, so ``--resume`` repeats the interrupted epoch from there.
        """
        logs = []
        hooks = self.hooks
        for epoch in range(self.start_epoch, epochs):
            log = self._run_epoch(epoch)
            if hooks.evaluate is not None and (
                (epoch + 1) % self.eval_every == 0 or epoch + 1 == epochs
            ):
                log.metrics = hooks.evaluate()
                score = self._score(log.metrics)
                if score is not None and score > self.best_score:
                    self.best_score = score
                    self._checkpoint("best", epoch + 1, log.metrics)
            log.probes = hooks.probe() if hooks.probe is not None else {}
            self._checkpoint("last", epoch + 1, log.metrics)
            logs.append(log)
            if hooks.on_epoch:
                hooks.on_epoch(log)
        return logs

    @staticmethod
    def _score(metrics: dict[str, dict[str, float]]) -> float | None:
        """Validation mAP: the only number that may choose a checkpoint."""
        return metrics["val"]["mAP"] if "val" in metrics else None
