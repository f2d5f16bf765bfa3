"""Runs an experiment from a config: the dataset, one build step, the training loop, one
evaluation of the final weights, and the run folder that records it all."""

from __future__ import annotations

import contextlib
import csv
import io
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.text import Text

from ccreid.config import (
    ExperimentConfig,
    apply_overrides,
    config_changes,
    to_yaml,
    validate_sampling,
)
from ccreid.data import ReIDData, dataset_of
from ccreid.engine.build import TrainingParts, build_parts, check_training_config
from ccreid.engine.distributed import DistInfo, barrier, init_distributed
from ccreid.engine.probes import attention_probe
from ccreid.engine.trainer import EpochLog, Trainer, TrainingHooks
from ccreid.errors import ConfigError, MaskRequiredError
from ccreid.evaluation import HEADLINE_METRICS, RetrievalResult, format_metrics, results_table
from ccreid.hub import resolve_checkpoint
from ccreid.inference import CheckpointError, evaluate_all, load, load_checkpoint, select_device
from ccreid.inference.environment import environment
from ccreid.progress import task_progress
from ccreid.runfolder import RunFolder


@dataclass
class RunResult:
    run: RunFolder
    logs: list[EpochLog]
    results: dict[str, RetrievalResult]

    @property
    def run_dir(self) -> Path:
        return self.run.path


def seed_everything(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


class RunLog:
    """Every line a run shows: printed on its console and appended to its ``log.txt``
    (flushed at once, so the log follows the run off a terminal too)."""

    def __init__(self, console: Console, run: RunFolder | None) -> None:
        self.console, self.run = console, run

    def __call__(self, text: str) -> None:
        self.console.print(Text(text))
        self.console.file.flush()
        if self.run is not None:
            with self.run.log_path.open("a", encoding="utf-8") as fh:
                fh.write(text + "\n")


class _MetricsWriter:
    """The per-epoch rows of the run folder and TensorBoard scalars, rewritten each epoch."""

    def __init__(self, run: RunFolder, resume: bool) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.run = run
        self.rows: list[dict[str, Any]] = run.metrics() if resume and run.has_metrics() else []
        self.tb = SummaryWriter(str(run.tensorboard_dir))

    def __call__(self, log: EpochLog) -> None:
        row = log.flat()
        self.rows = [r for r in self.rows if r["epoch"] < log.epoch] + [row]
        for k, v in row.items():
            if k != "epoch" and isinstance(v, (int, float)):
                self.tb.add_scalar(k, v, log.epoch)
        self.tb.flush()
        keys = list(dict.fromkeys(k for r in self.rows for k in r))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.rows)
        self.run.write_metrics(self.rows, buf.getvalue())


def run_training(
    cfg: ExperimentConfig,
    run_dir: str | Path | None = None,
    resume: bool = False,
    console: Console | None = None,
    data: ReIDData | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
    overwrite: bool = False,
    moved: tuple[str, ...] = (),
) -> RunResult:
    """Train (or resume) one experiment, then evaluate the final weights once on every
    evaluation set of the dataset.

    An existing run folder is refused unless ``resume`` or ``overwrite``; a lock file
    keeps a second process out while this one runs.

    Model selection (``best``) uses the validation set only (PRCC's rgb/val, or
    ``data.val_ids`` held-out training identities); without one there is no ``best``.
    ``on_epoch`` is called with each epoch's log after it is written. ``moved``: settings
    that may differ on resume because they follow a study folder that was moved.
    """
    check_training_config(cfg)
    dist = init_distributed()
    console = console or Console(stderr=True, markup=False, highlight=False)
    run = RunFolder(run_dir if run_dir is not None else Path(cfg.output_dir) / cfg.name)
    if resume:  # every rank reads the same file: all refuse, or none
        check_resume_config(run, cfg, moved)
    if dist.is_main:
        run.ensure_writable()  # before any work, naming the folder
    with run.lock() if dist.is_main else contextlib.nullcontext():
        if dist.is_main:
            run.prepare(resume, overwrite)
        seed_everything(cfg.train.seed, cfg.train.deterministic)
        data = data or dataset_of(cfg.data)
        validate_sampling(cfg, [s.pid for s in data.train], data.name)
        parts = build_parts(cfg, data, dist)
        return _train(cfg, run, resume, console, data, parts, on_epoch, dist)


def _train(cfg: ExperimentConfig, run: RunFolder, resume: bool, console: Console, data: ReIDData,
           parts: TrainingParts, on_epoch: Callable[[EpochLog], None] | None,
           dist: DistInfo) -> RunResult:  # fmt: skip
    hooks = TrainingHooks(evaluate=_validation(parts, data, dist), probe=_attention_probe(parts, data),
                          progress=task_progress(console))  # fmt: skip
    log = RunLog(console, run if dist.is_main else None)
    meta = {"config": to_yaml(cfg), "num_classes": data.num_train_pids, "dataset": data.name}
    trainer = Trainer(parts, run, meta, dist, max_steps=cfg.train.max_steps_per_epoch,
                      eval_every=cfg.train.eval_every, seed=cfg.train.seed, hooks=hooks)  # fmt: skip
    if resume:
        _restore(trainer, run, data, cfg.train.epochs)
    writer = _MetricsWriter(run, resume) if dist.is_main else None
    hooks.on_epoch = _epoch_logger(cfg, writer, log, on_epoch)
    if dist.is_main:
        run.write_config(cfg)
        run.write_json(RunFolder.ENVIRONMENT, environment(parts.step.device, parts.step.dtype))
        _start_lines(cfg, run, data, parts, trainer.start_epoch, log)
    with hooks.progress:
        logs = trainer.fit(cfg.train.epochs)
    results = evaluate_all(parts.model, data.eval_sets, parts.inference, dist, cfg.eval.rerank)
    if dist.is_main:
        _write_results(run, results, {"checkpoint": "last", "epoch": cfg.train.epochs}, logs,
                       writer)  # fmt: skip
        log(results_table(results))
    barrier(dist)
    return RunResult(run, logs, results)


def _validation(parts: TrainingParts, data: ReIDData, dist: DistInfo):
    """Metrics of the validation set, for model selection; None without one."""
    if data.val_set is None:
        return None
    val = {"val": data.val_set}

    def evaluate() -> dict[str, dict[str, float]]:
        results = evaluate_all(parts.model, val, parts.inference, dist)
        return {k: r.metrics() for k, r in results.items()}

    return evaluate


def _attention_probe(parts: TrainingParts, data: ReIDData):
    """BSGA's mean attention on body vs background of a few test images, every epoch (and
    the mask head's IoU with the parser's masks, when there is a head)."""
    model = parts.model
    if not (model.attention_needs_mask and hasattr(model.attention, "last_attention")):
        return None
    gallery = data.eval_sets[data.primary_setting].gallery
    return attention_probe(model, gallery[:: max(1, len(gallery) // 64)][:64], parts.inference)


# What a resumed run may change in its config: the schedule's length (train.epochs); what
# cannot change a single number of it: the data workers (resume is bit-exact with any
# number of them) and the decoded-file cache; where augmentation and decoding run (the
# same tensors on the CPU, the same within rounding on CUDA); and name / output_dir (they
# only say where the run folder is). Any other change would mix two recipes in one run
# under the first one's config.yaml.
RESUMABLE_KEYS = (
    "train.epochs", "data.workers", "data.cache", "data.augment_on", "data.decode_on", "name",
    "output_dir",
)  # fmt: skip


def check_resume_config(run: RunFolder, cfg: ExperimentConfig, moved: tuple[str, ...] = ()) -> None:
    """Before any work: ``cfg`` differs from the run's stored config only in
    RESUMABLE_KEYS (or ``moved``: paths that followed a moved study folder); otherwise a
    ConfigError lists each change as ``key: old -> new``."""
    if not run.is_run():
        raise CheckpointError(f"cannot resume: {run / RunFolder.CONFIG} does not exist (no run "
                              f"of `ccreid train` started in {run.path})")  # fmt: skip
    changes = config_changes(run.config(), cfg)
    refused = [f"{k}: {old} -> {new}" for k, (old, new) in changes.items()
               if k not in RESUMABLE_KEYS and k not in moved]  # fmt: skip
    if refused:
        raise ConfigError(
            f"cannot resume {run.path} with other settings than {run / RunFolder.CONFIG} (only "
            f"{', '.join(RESUMABLE_KEYS)} may change): pass --overwrite to replace the run, or "
            "choose another name= for a new one; changed:\n  " + "\n  ".join(refused)
        )


def _restore(trainer: Trainer, run: RunFolder, data: ReIDData, epochs: int) -> None:
    last = run.checkpoint_path("last")
    if not last.is_file():
        raise CheckpointError(f"cannot resume: {last} does not exist")
    ckpt = load_checkpoint(last)
    if ckpt.meta.get("num_classes") != data.num_train_pids:
        raise CheckpointError(
            f"{last} was trained for {ckpt.meta.get('num_classes')} identities, "
            f"this dataset has {data.num_train_pids}: refusing to resume"
        )
    trainer.restore(ckpt)
    if trainer.start_epoch > epochs:
        raise ConfigError(
            f"cannot resume {run.path} with train.epochs={epochs}: {last} already holds "
            f"{trainer.start_epoch} epochs (give train.epochs >= {trainer.start_epoch})"
        )


def _start_lines(cfg: ExperimentConfig, run: RunFolder, data: ReIDData, parts: TrainingParts,
                 start_epoch: int, log: RunLog) -> None:  # fmt: skip
    """What a run is about to do, before its first step: where, on what, on which data."""
    st = parts.step
    precision = "fp32" if st.dtype is None else str(st.dtype).removeprefix("torch.")
    unit = "tracklets" if data.video else "images"
    steps = len(parts.loader) if cfg.train.max_steps_per_epoch is None else min(
        len(parts.loader), cfg.train.max_steps_per_epoch)  # fmt: skip
    log(f"run folder {run.path}; device {st.device}, precision {precision}"
        f"{', channels-last' if st.channels_last else ''}")  # fmt: skip
    log(f"training on {data.name}: {len(data.train)} {unit} of {data.num_train_pids} identities, "
        f"{parts.loader.batch_size} per batch{' (+ erased copies)' if st.cre else ''}, {steps} "
        f"steps per epoch, epochs {start_epoch + 1}-{cfg.train.epochs}")  # fmt: skip
    sets = ", ".join(f"{k} ({len(es.query)} queries, {len(es.gallery)} gallery)"
                     for k, es in data.eval_sets.items())  # fmt: skip
    log(f"evaluation after training: {sets}"
        f"{'; validation: ' + str(len(data.val_set.query)) + ' queries' if data.val_set else ''}")  # fmt: skip


def _epoch_logger(cfg: ExperimentConfig, writer: _MetricsWriter | None, log: RunLog,
                  on_epoch: Callable[[EpochLog], None] | None) -> Callable[[EpochLog], None]:  # fmt: skip
    def log_epoch(epoch: EpochLog) -> None:
        if on_epoch is not None:
            on_epoch(epoch)
        if writer is None:  # DDP ranks other than 0 neither write nor print
            return
        writer(epoch)
        scores = "  ".join(f"{k}: {format_metrics(m, HEADLINE_METRICS)}"
                           for k, m in epoch.metrics.items())  # fmt: skip
        mask = f", mask {epoch.mask:.3f}" if cfg.model.mask_head else ""
        log(f"epoch {epoch.epoch}/{cfg.train.epochs}  loss {epoch.loss:.3f} (id "
            f"{epoch.identity:.3f}, tri {epoch.triplet:.3f}{mask})  lr {epoch.lr:.1e}  "
            f"{epoch.images_per_s:.0f} img/s  {scores}")  # fmt: skip

    return log_epoch


def _write_results(run: RunFolder, results: dict[str, RetrievalResult], source: dict[str, Any],
                   logs: list[EpochLog], writer: _MetricsWriter | None) -> None:  # fmt: skip
    """results.md/json name the weights they come from; the last epoch's metrics row gets
    the test numbers too (for curves)."""
    payload = {k: r.metrics() for k, r in results.items()}
    run.write_results(payload, source, results_table(results))
    if writer is not None:
        if logs:
            logs[-1].metrics.update(payload)
            writer(logs[-1])
        writer.tb.close()


def run_evaluation(
    cfg: ExperimentConfig | None, checkpoint: str | Path, flip: bool | None = None,
    rerank: bool | None = None, data: ReIDData | None = None,
    progress: Callable[[int], None] | None = None, timings: dict[str, float] | None = None,
    device: str = "auto", overrides: list[str] | None = None, console: Console | None = None,
) -> dict[str, RetrievalResult]:  # fmt: skip
    """Evaluate a model (a checkpoint, its run folder or a model folder) on every eval set
    of the config's dataset; ``cfg`` None evaluates on the model's own training config,
    with ``overrides`` applied.

    ``flip``/``rerank`` default to the config's ``eval.flip``/``eval.rerank``; the image
    size and schema are the model's own (a model sees what it was trained on).
    ``progress`` is called with the number of images embedded; ``timings`` receives the
    extraction and metric seconds (see ``evaluate_all``).
    """
    dist = init_distributed()
    path = resolve_checkpoint(checkpoint)
    model = load(path, select_device(device, dist.local_rank), flip=flip)
    cfg = cfg if cfg is not None else apply_overrides(model.config, overrides or [])
    model = model.run_with(cfg, flip)
    if model.needs_mask and cfg.data.mask_root is None:
        raise MaskRequiredError(path)
    data = data or dataset_of(cfg.data)
    if console is not None and dist.is_main:
        images = len({s.path for es in data.eval_sets.values() for s in (*es.query, *es.gallery)})
        console.print(Text(f"evaluating {path} on {data.name} ({images} images, "
                           f"{len(data.eval_sets)} settings): {_device_line(model.options)}"))  # fmt: skip
    rerank = cfg.eval.rerank if rerank is None else rerank
    return model.evaluate(data.eval_sets, rerank, progress, timings, dist)


def _device_line(opts) -> str:
    precision = "fp32" if opts.dtype is None else str(opts.dtype).removeprefix("torch.")
    return f"device {opts.device}, precision {precision}, batch {opts.batch_size}"
