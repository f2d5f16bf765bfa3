"""A run folder of ``ccreid train`` as one object: the only place that knows its layout.

::

    <run>/config.yaml            the resolved config the run trained with
    <run>/metrics.json, .csv     one row per epoch (losses, lr, speed, validation, probes)
    <run>/results.json, .md      the test sets' metrics, naming the weights they come from
    <run>/checkpoints/last.safetensors, best.safetensors (best: validation data only)
    <run>/tb/                    TensorBoard events
    <run>/log.txt                everything the console showed
    <run>/environment.json       versions, device, precision, machine, command line
    <run>/predicted_masks.json   a mask-head model evaluated on its own masks (demo)

Writers replace files atomically; readers check what they read and name the file when it
is not what ``ccreid train`` writes.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from ccreid.config import ExperimentConfig, read_run_config, to_yaml
from ccreid.errors import InputError
from ccreid.fileio import (
    RunFolderError,
    RunLock,
    atomic_write_text,
    ensure_writable,
    json_kind,
    read_json,
)

CHECKPOINT_SUFFIX = ".safetensors"
RESULTS_WRITER = "written when a run of `ccreid train` finishes"
METRICS_WRITER = "written by `ccreid train` after each epoch"


class RunFolder:
    """The files of one training run, and the lock that keeps a second writer out."""

    CONFIG = "config.yaml"
    METRICS = "metrics.json"
    METRICS_TABLE = "metrics.csv"
    RESULTS = "results.json"
    RESULTS_TABLE = "results.md"
    CHECKPOINTS = "checkpoints"
    TENSORBOARD = "tb"
    LOG = "log.txt"
    ENVIRONMENT = "environment.json"
    PREDICTED_MASKS = "predicted_masks.json"
    RUN_FILES = (CONFIG, METRICS, METRICS_TABLE, RESULTS, RESULTS_TABLE, CHECKPOINTS, TENSORBOARD,
                 LOG, ENVIRONMENT, PREDICTED_MASKS)  # fmt: skip

    def __init__(self, path: str | Path | RunFolder) -> None:
        self.path = path.path if isinstance(path, RunFolder) else Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    # --- layout -----------------------------------------------------------------------
    def checkpoint_path(self, name: str = "last") -> Path:
        return self.path / self.CHECKPOINTS / f"{name}{CHECKPOINT_SUFFIX}"

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / self.TENSORBOARD

    @property
    def log_path(self) -> Path:
        return self.path / self.LOG

    def existing_files(self) -> list[str]:
        return [name for name in self.RUN_FILES if (self.path / name).exists()]

    def is_run(self) -> bool:
        """Whether ``ccreid train`` has written here (its config is the first file)."""
        return (self.path / self.CONFIG).is_file()

    # --- lifecycle --------------------------------------------------------------------
    def ensure_writable(self) -> None:
        """Fail before any long work when the folder cannot be created or written."""
        ensure_writable(self.path)

    def lock(self) -> RunLock:
        """Held for a run's lifetime; a second process is refused, naming the first."""
        return RunLock(self.path)

    def prepare(self, resume: bool, overwrite: bool) -> None:
        """Refuse to write over an existing run unless asked: ``resume`` continues it,
        ``overwrite`` removes its files first (so TensorBoard never mixes two runs)."""
        existing = self.existing_files()
        if not existing or resume:
            return
        if not overwrite:
            raise RunFolderError(
                f"{self.path} already holds a run ({', '.join(existing)}): pass --resume to "
                "continue it, --overwrite to replace it, or choose another name= / output_dir="
            )
        for name in existing:
            target = self.path / name
            shutil.rmtree(target) if target.is_dir() else target.unlink()

    # --- writers ----------------------------------------------------------------------
    def write_config(self, cfg: ExperimentConfig) -> None:
        atomic_write_text(self.path / self.CONFIG, to_yaml(cfg))

    def write_metrics(self, rows: list[dict[str, Any]], table: str) -> None:
        """The per-epoch rows as JSON, and the same rows as CSV (``table``)."""
        atomic_write_text(self.path / self.METRICS, json.dumps(rows, indent=1))
        atomic_write_text(self.path / self.METRICS_TABLE, table)

    def write_results(self, metrics: dict[str, dict[str, float]], evaluated: dict[str, Any],
                      table: str) -> None:  # fmt: skip
        """The test sets' metrics and which weights gave them (``evaluated``)."""
        where = f"Weights: `{evaluated['checkpoint']}` checkpoint, epoch {evaluated['epoch']}."
        atomic_write_text(self.path / self.RESULTS_TABLE, f"{table}\n\n{where}\n")
        payload = {**metrics, "evaluated": evaluated}
        atomic_write_text(self.path / self.RESULTS, json.dumps(payload, indent=1))

    def write_json(self, name: str, payload: Any) -> Path:
        """One of the run's other JSON records (``ENVIRONMENT``, ``PREDICTED_MASKS``)."""
        path = self.path / name
        atomic_write_text(path, json.dumps(payload, indent=1))
        return path

    # --- readers ----------------------------------------------------------------------
    def config(self) -> ExperimentConfig:
        """The resolved config the run trained with, validated."""
        return read_run_config(self.path / self.CONFIG)

    def results(self) -> dict[str, dict[str, float]]:
        """Per evaluation set, its metrics in percent (the ``evaluated`` entry, which names
        the weights, is left out)."""
        path = self.path / self.RESULTS
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

    def metrics(self, need: tuple[str, ...] = ("epoch",)) -> list[dict[str, Any]]:
        """One row per epoch, each with the keys ``need``, every value a number."""
        path = self.path / self.METRICS
        rows = read_json(path, list, METRICS_WRITER)
        for i, row in enumerate(rows, 1):
            if not isinstance(row, dict) or not set(need) <= row.keys():
                raise InputError(f"{path}: row {i} must be an object with {' and '.join(need)}, "
                                 f"found {json.dumps(row)[:80]} ({METRICS_WRITER})")  # fmt: skip
            for key, value in row.items():
                _check_number(path, f"row {i} {key!r}", value, METRICS_WRITER, finite=False)
        return rows

    def has_metrics(self) -> bool:
        return (self.path / self.METRICS).is_file()

    def read_json(self, name: str) -> Any | None:
        """One of the run's other JSON records, or None when the run has none."""
        path = self.path / name
        return read_json(path, dict, "written by ccreid") if path.is_file() else None

    def checkpoint(self, prefer: str = "best") -> Path:
        """The weights to use: ``prefer`` (best, chosen on validation data) when the run has
        it, else ``last``."""
        for name in dict.fromkeys([prefer, "last"]):
            path = self.checkpoint_path(name)
            if path.is_file():
                return path
        raise RunFolderError(f"{self.path} holds no checkpoint ({self.checkpoint_path('last')} "
                             "does not exist): is it a finished run of `ccreid train`?")  # fmt: skip

    def require(self, *names: str) -> None:
        """Refuse a folder that lacks files a finished run has (before any work)."""
        for name in names:
            if not (self.path / name).is_file():
                raise InputError(
                    f"{self.path} is not a finished run of `ccreid train` ({name} is missing)"
                )


def _check_number(path: Path, key: str, value: Any, what: str, finite: bool = True) -> None:
    """A metric is a number (finite where ``finite``), not null, a string or a boolean."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or (finite and not math.isfinite(value)):
        raise InputError(f"{path}: {key} must be a {'finite ' if finite else ''}number, got "
                         f"{json.dumps(value)[:80]} ({what})")  # fmt: skip
