"""Runs an experiment from a config: build data, model, objective; train; evaluate; write
the run folder (resolved config, metrics CSV/JSON, TensorBoard events, checkpoints, table)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from ccreid.config import ExperimentConfig, from_yaml_text, to_yaml, validate_sampling
from ccreid.config import adapter as A
from ccreid.config.loading import ConfigError, config_changes, read_run_config
from ccreid.data import InputNormalizer, ReIDData, load_dataset
from ccreid.engine.builders import (
    build_model_from_config,
    build_optimizer,
    build_scheduler,
    build_train_loader,
    inference_options,
    require_masks_for,
    require_training_masks,
    select_device,
    with_preprocessing_of,
)
from ccreid.engine.checkpoint import CheckpointError, load_checkpoint, load_model_weights
from ccreid.engine.distributed import barrier, init_distributed
from ccreid.engine.inference import InferenceOptions, evaluate_all
from ccreid.engine.precision import resolve_dtype
from ccreid.engine.probes import attention_probe
from ccreid.engine.trainer import EpochLog, Trainer
from ccreid.errors import InputError
from ccreid.evaluation import RetrievalResult
from ccreid.fileio import (
    RunLock,
    atomic_write_text,
    ensure_writable,
    json_kind,
    prepare_run_folder,
    read_json,
)
from ccreid.losses import ReIDObjective
from ccreid.models import ReIDModel


@dataclass
class RunResult:
    run_dir: Path
    logs: list[EpochLog]
    results: dict[str, RetrievalResult]


def seed_everything(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def make_progress(console: Console | None) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True,
    )  # fmt: skip


def results_table(results: dict[str, RetrievalResult]) -> str:
    """Markdown table of top-1/5/10 and mAP per eval set, in percent."""
    lines = [
        "| setting | top-1 | top-5 | top-10 | mAP | valid queries |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        s = r.summary()
        lines.append(
            f"| {name} | {s['top1']:.1f} | {s['top5']:.1f} | {s['top10']:.1f} | {s['mAP']:.1f} "
            f"| {r.num_valid_queries}/{r.num_queries} |"
        )
    return "\n".join(lines)


class _MetricsWriter:
    """metrics.csv, metrics.json and TensorBoard scalars, rewritten atomically each epoch."""

    def __init__(self, run_dir: Path, resume: bool) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir = run_dir
        resumed = resume and (run_dir / "metrics.json").exists()
        self.rows: list[dict[str, Any]] = read_metrics(run_dir) if resumed else []
        self.tb = SummaryWriter(str(run_dir / "tb"))

    def __call__(self, log: EpochLog) -> None:
        row = log.flat()
        self.rows = [r for r in self.rows if r["epoch"] < log.epoch] + [row]
        for k, v in row.items():
            if k != "epoch" and isinstance(v, (int, float)):
                self.tb.add_scalar(k, v, log.epoch)
        self.tb.flush()
        atomic_write_text(self.run_dir / "metrics.json", json.dumps(self.rows, indent=1))
        keys = list(dict.fromkeys(k for r in self.rows for k in r))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.run_dir / "metrics.csv", buf.getvalue())


def run_training(
    cfg: ExperimentConfig,
    run_dir: str | Path | None = None,
    resume: bool = False,
    console: Console | None = None,
    data: ReIDData | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
    overwrite: bool = False,
) -> RunResult:
    """Train (or resume) one experiment, then evaluate the final weights once on every
    evaluation set of the dataset.

    An existing run folder is refused unless ``resume`` or ``overwrite``; a lock file
    keeps a second process out while this one runs.

    Model selection (``best``) uses the validation set only (PRCC's rgb/val, or
    ``data.val_ids`` held-out training identities); without one there is no ``best``.
    ``on_epoch`` is called with each epoch's log after it is written.
    """
    require_training_masks(cfg)
    dist_info = init_distributed()
    console = console or Console(stderr=True, markup=False, highlight=False)
    run_dir = Path(run_dir) if run_dir is not None else Path(cfg.output_dir) / cfg.name
    if dist_info.is_main:
        ensure_writable(run_dir)
    with RunLock(run_dir) if dist_info.is_main else contextlib.nullcontext():
        return _train(cfg, run_dir, resume, overwrite, console, data, on_epoch, dist_info)


def _train(cfg: ExperimentConfig, run_dir: Path, resume: bool, overwrite: bool, console: Console,
           data: ReIDData | None, on_epoch: Callable[[EpochLog], None] | None,
           dist_info) -> RunResult:  # fmt: skip
    if resume:  # every rank reads the same file: all refuse, or none
        check_resume_config(run_dir, cfg)
    if dist_info.is_main:
        prepare_run_folder(run_dir, resume, overwrite)
    seed_everything(cfg.train.seed, cfg.train.deterministic)
    data = data or load_dataset(**A.dataset_kwargs(cfg))
    validate_sampling(cfg, [s.pid for s in data.train], data.name)
    device = select_device(dist_info)
    model = build_model_from_config(cfg, data.num_train_pids).to(device)
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    loader, sampler = build_train_loader(cfg, data, model.trains_on_masks, dist_info,
                                         pin_memory=device.type == "cuda")  # fmt: skip
    optimizer = build_optimizer(cfg, model)
    opts = inference_options(cfg, device)
    trainer = Trainer(
        model=model, objective=ReIDObjective(**A.objective_kwargs(cfg)), optimizer=optimizer,
        scheduler=build_scheduler(cfg, optimizer), loader=loader, sampler=sampler, device=device,
        dtype=resolve_dtype(cfg.train.precision, device), cre=cfg.train.cre, run_dir=run_dir,
        meta={"config": to_yaml(cfg), "num_classes": data.num_train_pids, "dataset": data.name},
        dist_info=dist_info, channels_last=cfg.train.channels_last,
        max_steps=cfg.train.max_steps_per_epoch, evaluate=_validation(model, data, opts, dist_info),
        probe=_attention_probe(model, data, opts), eval_every=cfg.train.eval_every,
        progress=make_progress(console), seed=cfg.train.seed,
        normalize=InputNormalizer.of(A.augment_config(cfg)),
        erased_clothes_base=data.num_train_clothes if cfg.train.cre_clothes == "own" else None,
    )  # fmt: skip
    if resume:
        _restore(trainer, run_dir, data, cfg.train.epochs)
    writer = _MetricsWriter(run_dir, resume) if dist_info.is_main else None
    trainer.on_epoch = _epoch_logger(cfg, writer, console, on_epoch)
    if dist_info.is_main:
        atomic_write_text(run_dir / "config.yaml", to_yaml(cfg))
    with trainer.progress:
        logs = trainer.fit(cfg.train.epochs)
    results = evaluate_all(model, data.eval_sets, opts, dist_info, rerank=cfg.eval.rerank)
    if dist_info.is_main:
        source = {"checkpoint": "last", "epoch": cfg.train.epochs}
        _write_results(run_dir, results, source, logs, writer)
    barrier(dist_info)
    return RunResult(run_dir, logs, results)


def _validation(model: ReIDModel, data: ReIDData, opts: InferenceOptions, dist_info):
    """Metrics of the validation set, for model selection; None without one."""
    if data.val_set is None:
        return None
    val = {"val": data.val_set}
    return lambda: {k: r.summary() for k, r in evaluate_all(model, val, opts, dist_info).items()}


def _attention_probe(model: ReIDModel, data: ReIDData, opts: InferenceOptions):
    """BSGA's mean attention on body vs background of a few test images, every epoch (and
    the mask head's IoU with the parser's masks, when there is a head)."""
    if not (model.attention_needs_mask and hasattr(model.attention, "last_attention")):
        return None
    gallery = data.eval_sets[data.primary_setting].gallery
    return attention_probe(model, gallery[:: max(1, len(gallery) // 64)][:64], opts)


# What a resumed run may change in its config: the schedule's length (train.epochs), and
# what cannot change a single number of it: the data workers (resume is bit-exact with any
# number of them), and name / output_dir (they only say where the run folder is). Any other
# change would mix two recipes in one run under the first one's config.yaml.
RESUMABLE_KEYS = ("train.epochs", "data.workers", "name", "output_dir")


def check_resume_config(run_dir: Path, cfg: ExperimentConfig) -> None:
    """Before any work: ``cfg`` differs from the run's config.yaml only in RESUMABLE_KEYS;
    otherwise a ConfigError lists each change as ``key: old -> new``."""
    stored = Path(run_dir) / "config.yaml"
    if not stored.is_file():
        raise CheckpointError(f"cannot resume: {stored} does not exist (no run of `ccreid "
                              f"train` started in {run_dir})")  # fmt: skip
    changes = config_changes(read_run_config(stored), cfg)
    refused = [f"{k}: {old} -> {new}" for k, (old, new) in changes.items()
               if k not in RESUMABLE_KEYS]  # fmt: skip
    if refused:
        raise ConfigError(
            f"cannot resume {run_dir} with other settings than {stored} (only "
            f"{', '.join(RESUMABLE_KEYS)} may change): pass --overwrite to replace the run, or "
            "choose another name= for a new one; changed:\n  " + "\n  ".join(refused)
        )


def _restore(trainer: Trainer, run_dir: Path, data: ReIDData, epochs: int) -> None:
    last = run_dir / "checkpoints" / "last.safetensors"
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
            f"cannot resume {run_dir} with train.epochs={epochs}: {last} already holds "
            f"{trainer.start_epoch} epochs (give train.epochs >= {trainer.start_epoch})"
        )


def _epoch_logger(cfg: ExperimentConfig, writer: _MetricsWriter | None, console: Console,
                  on_epoch: Callable[[EpochLog], None] | None) -> Callable[[EpochLog], None]:  # fmt: skip
    def log_epoch(log: EpochLog) -> None:
        if on_epoch is not None:
            on_epoch(log)
        if writer is None:  # DDP ranks other than 0 neither write nor print
            return
        writer(log)
        scores = "  ".join(
            f"{k}: top-1 {m['top1']:.1f} mAP {m['mAP']:.1f}" for k, m in log.metrics.items()
        )
        console.print(Text(  # Text: printed verbatim whatever the console's markup setting
            f"epoch {log.epoch}/{cfg.train.epochs}  loss {log.loss:.3f} (id {log.identity:.3f}, "
            f"tri {log.triplet:.3f}{f', mask {log.mask:.3f}' if cfg.model.mask_head else ''})"
            f"  lr {log.lr:.1e}  {log.images_per_s:.0f} img/s  {scores}"
        ))  # fmt: skip

    return log_epoch


def _write_results(run_dir: Path, results: dict[str, RetrievalResult], source: dict[str, Any],
                   logs: list[EpochLog], writer: _MetricsWriter | None) -> None:  # fmt: skip
    """results.md/json name the weights they come from; the last epoch's metrics row gets
    the test numbers too (for curves)."""
    where = f"Weights: `{source['checkpoint']}` checkpoint, epoch {source['epoch']}."
    atomic_write_text(run_dir / "results.md", results_table(results) + f"\n\n{where}\n")
    payload = {k: r.summary() for k, r in results.items()}
    atomic_write_text(
        run_dir / "results.json", json.dumps({**payload, "evaluated": source}, indent=1)
    )
    if writer is not None:
        if logs:
            logs[-1].metrics.update(payload)
            writer(logs[-1])
        writer.tb.close()


RESULTS_WRITER = "written when a run of `ccreid train` finishes"


def read_results(run_dir: str | Path) -> dict[str, dict[str, float]]:
    """A finished run's results.json: per evaluation set, its metrics in percent (the
    ``evaluated`` entry, which names the weights, is left out)."""
    path = Path(run_dir) / "results.json"
    out = {}
    for setting, metrics in read_json(path, dict, RESULTS_WRITER).items():
        if setting == "evaluated":
            continue
        if not isinstance(metrics, dict):
            raise InputError(f"{path}: {setting!r} must be an object of metrics, found "
                             f"{json_kind(metrics)} ({RESULTS_WRITER})")  # fmt: skip
        for name, value in metrics.items():
            _check_number(path, f"{setting}.{name}", value, RESULTS_WRITER)
        out[setting] = metrics
    return out


def read_metrics(run_dir: str | Path, need: tuple[str, ...] = ("epoch",)) -> list[dict[str, Any]]:
    """A run's metrics.json: one row per epoch, each with the keys ``need`` (the curves of a
    report need the loss too), every value a number."""
    path = Path(run_dir) / "metrics.json"
    what = "written by `ccreid train` after each epoch"
    rows = read_json(path, list, what)
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not set(need) <= row.keys():
            raise InputError(f"{path}: row {i} must be an object with {' and '.join(need)}, "
                             f"found {json.dumps(row)[:80]} ({what})")  # fmt: skip
        for key, value in row.items():
            _check_number(path, f"row {i} {key!r}", value, what, finite=False)
    return rows


def _check_number(path: Path, key: str, value: Any, what: str, finite: bool = True) -> None:
    """A metric is a number (finite where ``finite``), not null, a string or a boolean."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or (finite and not math.isfinite(value)):
        raise InputError(f"{path}: {key} must be a {'finite ' if finite else ''}number, got "
                         f"{json.dumps(value)[:80]} ({what})")  # fmt: skip


def load_trained_model(
    checkpoint: str | Path, device: torch.device | None = None, mask_source: str | None = None
) -> tuple[ReIDModel, ExperimentConfig]:
    """Rebuild the model a checkpoint was trained with and load its weights.

    ``mask_source`` (parser | predicted) overrides the trained config's
    ``model.mask_source``: where BSGA's mask comes from is an inference choice."""
    ckpt = load_checkpoint(checkpoint)
    try:
        cfg = from_yaml_text(ckpt.meta["config"])
        num_classes = int(ckpt.meta["num_classes"])
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{checkpoint}: metadata lacks the training config ({exc})") from None
    model = build_model_from_config(cfg, num_classes, weights="none")
    load_model_weights(model, ckpt, checkpoint, for_eval=True)
    if mask_source is not None:
        set_mask_source(model, mask_source, checkpoint)
    model.to(device or select_device()).eval()
    return model, cfg


def set_mask_source(model: ReIDModel, source: str, checkpoint: str | Path) -> None:
    """Where BSGA's mask comes from (parser | predicted); an error names the checkpoint."""
    try:
        model.mask_source = source
    except InputError as exc:
        raise InputError(f"{checkpoint}: {exc}") from None


def run_evaluation(
    cfg: ExperimentConfig, checkpoint: str | Path, flip: bool | None = None,
    rerank: bool | None = None, data: ReIDData | None = None,
    progress: Callable[[int], None] | None = None, timings: dict[str, float] | None = None,
) -> dict[str, RetrievalResult]:  # fmt: skip
    """Evaluate a checkpoint on every eval set of the config's dataset.

    ``flip``/``rerank`` default to the config's ``eval.flip``/``eval.rerank``; the image
    size and schema are the checkpoint's own (see :func:`with_preprocessing_of`).
    ``progress`` is called with the number of images embedded; ``timings`` receives the
    extraction and metric seconds (see :func:`evaluate_all`).
    """
    dist_info = init_distributed()
    device = select_device(dist_info)
    model, trained = load_trained_model(checkpoint, device, cfg.model.mask_source)
    require_masks_for(model, cfg, checkpoint)
    if cfg.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    data = data or load_dataset(**A.dataset_kwargs(cfg))
    opts = inference_options(with_preprocessing_of(cfg, trained), device, flip)
    rerank = cfg.eval.rerank if rerank is None else rerank
    return evaluate_all(model, data.eval_sets, opts, dist_info, rerank=rerank, progress=progress,
                        timings=timings)  # fmt: skip
