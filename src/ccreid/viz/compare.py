"""`ccreid compare`: run folders laid out as one of the paper's tables, ours beside theirs.

A study's record (the ``study.json`` of ``ccreid study``) stands for all its runs, and a cell
whose runs are one config of a study also shows that config's 95% interval of the mean and
whether the paper's number lies inside it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ccreid.config import ExperimentConfig
from ccreid.data import DATASETS
from ccreid.errors import InputError, UnknownNameError
from ccreid.fileio import atomic_write_text, check_output_file, read_json
from ccreid.runfolder import RunFolder
from ccreid.viz.paper import TABLES, Column, PaperRow, PaperTable

STUDY_WRITER = "a study record, written by `ccreid study`"
LEGEND = ("ours ± h: a study's 95% CI of the mean (Student's t over its seeds); inside / "
          "outside: whether the paper's number lies in that interval")  # fmt: skip
Cell = tuple[str, Column]  # (row label, column)


@dataclass
class Comparison:
    table: PaperTable
    ours: dict[tuple[str, Column], float]  # (row label, column) -> our mean over matching runs
    runs: dict[tuple[str, str], list[Path]]  # (row label, dataset) -> the runs averaged
    protocols: dict[Path, str]
    unmatched: list[Path] = field(default_factory=list)
    intervals: dict[Cell, tuple[float, float]] = field(default_factory=dict)  # (low, high)

    def cell(self, row: PaperRow, column: Column) -> tuple[float | None, float]:
        return self.ours.get((row.label, column)), self.table.paper_value(row, column)

    def interval(self, row: PaperRow, column: Column) -> tuple[float, float] | None:
        """The 95% interval of the mean of a cell that is one config of a study."""
        return self.intervals.get((row.label, column))

    def rows(self) -> tuple[list[str], list[list[str]]]:
        return rows(self)

    def run_lines(self) -> list[str]:
        """One line per run (its row, dataset and protocol), then the runs no row matched."""
        lines = [f"{label} ({dataset}): {p}: {self.protocols[p]}"
                 for (label, dataset), paths in self.runs.items() for p in paths]  # fmt: skip
        if self.unmatched:
            lines.append(f"not rows of this table: {', '.join(map(str, self.unmatched))}")
        return lines

    def as_dict(self) -> dict:
        """The comparison as JSON: each cell ours / paper, and the runs behind them."""
        cells = [{"row": row.label, "column": _header(column), "ours": ours, "paper": paper,
                  **_interval_fields(self.interval(row, column), paper)}
                 for row in self.table.rows for column in self.table.columns
                 for ours, paper in [self.cell(row, column)]]  # fmt: skip
        return {"table": self.table.caption, "cells": cells, "runs": self.run_lines()}


def _interval_fields(interval: tuple[float, float] | None, paper: float) -> dict:
    if interval is None:
        return {}
    low, high = interval
    return {"low": low, "high": high, "paper_inside": low <= paper <= high}


@dataclass(frozen=True)
class _Entry:
    """A run to lay out and where it came from: one config of a study (with that config's
    intervals of the mean, by key such as ``cc/mAP``) or the run folder itself."""

    path: Path
    source: str
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)


def _entries(paths: list[Path]) -> list[_Entry]:
    """The runs given: a ``.json`` file is a study's record and stands for all its runs."""
    out: list[_Entry] = []
    for path in map(Path, paths):
        out += _study_entries(path) if path.suffix == ".json" else [_Entry(path, str(path))]
    return out


def _study_entries(path: Path) -> list[_Entry]:
    """Every run of every config of a study, with the config's intervals."""
    configs = read_json(path, dict, STUDY_WRITER).get("configs")
    if not isinstance(configs, dict) or not all(
        isinstance(c, dict) and isinstance(c.get("runs"), dict) and isinstance(c.get("stats"), dict)
        for c in configs.values()
    ):
        raise InputError(f"{path}: expected 'configs', each with its 'runs' and 'stats' "
                         f"({STUDY_WRITER})")  # fmt: skip
    out = []
    for name, entry in configs.items():
        intervals = {k: (float(v["low"]), float(v["high"])) for k, v in entry["stats"].items()
                     if isinstance(v, dict) and "low" in v and "high" in v}  # fmt: skip
        out += [_Entry(path.parent / str(rel), f"{path}: {name}", intervals)
                for rel in entry["runs"].values()]  # fmt: skip
    return out


def _protocol(cfg: ExperimentConfig) -> str:
    """What a reader needs to know to compare numbers: gallery protocol, flip, re-ranking."""
    bits = [f"{cfg.data.name}", f"{cfg.model.backbone}", f"weights {cfg.model.weights}"]
    if cfg.data.name == "prcc":  # the options as the loader reads them (defaults included)
        prcc = DATASETS.get("prcc")(**cfg.data.options)
        bits.append(f"single-shot gallery, {prcc.trials} trials" if prcc.single_shot
                    else "full camera-A gallery")  # fmt: skip
    bits += [
        f"flip {'on' if cfg.eval.flip else 'off'}",
        f"re-ranking {'on' if cfg.eval.rerank else 'off'}",
    ]
    return ", ".join(bits)


def compare(run_dirs: list[Path], table: str) -> Comparison:
    """Match each run to the table's row its config describes; average runs that share one
    (a cell made of one study config's runs also gets that config's interval)."""
    if table not in TABLES:
        raise UnknownNameError(f"unknown paper table {table!r}; known: {', '.join(TABLES)}")
    spec = TABLES[table]
    datasets = {c[0] for c in spec.columns}
    collected: dict[Cell, list[float]] = {}
    sources: dict[Cell, dict[str, tuple[float, float] | None]] = {}
    runs: dict[tuple[str, str], list[Path]] = {}
    protocols: dict[Path, str] = {}
    unmatched = []
    for entry in _entries(run_dirs):
        folder = RunFolder(entry.path)
        folder.require(RunFolder.CONFIG, RunFolder.RESULTS)
        cfg, results = folder.config(), folder.results()
        row = next((r for r in spec.rows if (r.cre, r.attention, r.triplet) ==
                    (cfg.train.cre, cfg.model.attention, cfg.loss.triplet)), None)  # fmt: skip
        if row is None or cfg.data.name not in datasets:
            unmatched.append(entry.path)
            continue
        protocols[entry.path] = _protocol(cfg)
        runs.setdefault((row.label, cfg.data.name), []).append(entry.path)
        for column in spec.columns:
            dataset, setting, metric = column
            if dataset == cfg.data.name and setting in results and metric in results[setting]:
                collected.setdefault((row.label, column), []).append(
                    float(results[setting][metric])
                )
                sources.setdefault((row.label, column), {})[entry.source] = entry.intervals.get(
                    f"{setting}/{metric}"
                )
    ours = {k: float(np.mean(v)) for k, v in collected.items()}
    intervals = {k: iv for k, by_source in sources.items() if len(by_source) == 1
                 for iv in by_source.values() if iv is not None}  # fmt: skip
    return Comparison(spec, ours, runs, protocols, unmatched, intervals)


def _header(column: Column) -> str:
    dataset, setting, metric = column
    return f"{dataset} {setting} {metric.replace('top', 'top-')}"


def _cell_text(ours: float | None, paper: float, interval: tuple[float, float] | None) -> str:
    """A cell as ours / paper (ours - paper); with an interval, ours ± its half-width and
    whether the paper's number is inside it."""
    if ours is None:
        return f"- / {paper:.1f}"
    if interval is None:
        return f"{ours:.1f} / {paper:.1f} ({ours - paper:+.1f})"
    low, high = interval
    where = "inside" if low <= paper <= high else "outside"
    return f"{ours:.1f} ± {(high - low) / 2:.1f} / {paper:.1f} ({ours - paper:+.1f}, {where})"


def rows(comp: Comparison) -> tuple[list[str], list[list[str]]]:
    """Header and rows: for each column "ours / paper (ours - paper)"; "-" where no run."""
    header = ["row"] + [_header(c) for c in comp.table.columns]
    out = [[row.label, *(_cell_text(*comp.cell(row, c), comp.interval(row, c))
                         for c in comp.table.columns)] for row in comp.table.rows]  # fmt: skip
    return header, out


def markdown(comp: Comparison) -> str:
    header, body = rows(comp)
    lines = [f"## {comp.table.caption}", "", "Each cell: ours / paper (difference), percent.",
             *([f"{LEGEND}."] if comp.intervals else []), ""]  # fmt: skip
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    lines += ["", "Runs:", *(f"- {line}" for line in comp.run_lines())]
    if comp.table.note:
        lines += ["", comp.table.note]
    return "\n".join(lines) + "\n"


def compare_to_paper(run_dirs: list[Path], table: str, out: Path | None = None) -> Comparison:
    """``ccreid compare``: the comparison, written as Markdown to ``out`` when given (the
    output is checked before any run is read)."""
    if out is not None:
        check_output_file(out, ".md")
    comp = compare(run_dirs, table)
    if out is not None:
        atomic_write_text(out, markdown(comp))
    return comp
