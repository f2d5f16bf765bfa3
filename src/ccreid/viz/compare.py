"""`ccreid compare`: run folders laid out as one of the paper's tables, ours beside theirs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ccreid.config import ExperimentConfig
from ccreid.data import DATASETS
from ccreid.errors import UnknownNameError
from ccreid.fileio import atomic_write_text, check_output_file
from ccreid.runfolder import RunFolder
from ccreid.viz.paper import TABLES, Column, PaperRow, PaperTable


@dataclass
class Comparison:
    table: PaperTable
    ours: dict[tuple[str, Column], float]  # (row label, column) -> our mean over matching runs
    runs: dict[tuple[str, str], list[Path]]  # (row label, dataset) -> the runs averaged
    protocols: dict[Path, str]
    unmatched: list[Path] = field(default_factory=list)

    def cell(self, row: PaperRow, column: Column) -> tuple[float | None, float]:
        return self.ours.get((row.label, column)), self.table.paper_value(row, column)

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
        cells = [{"row": row.label, "column": _header(column), "ours": ours, "paper": paper}
                 for row in self.table.rows for column in self.table.columns
                 for ours, paper in [self.cell(row, column)]]  # fmt: skip
        return {"table": self.table.caption, "cells": cells, "runs": self.run_lines()}


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
    """Match each run to the table's row its config describes; average runs that share one."""
    if table not in TABLES:
        raise UnknownNameError(f"unknown paper table {table!r}; known: {', '.join(TABLES)}")
    spec = TABLES[table]
    datasets = {c[0] for c in spec.columns}
    collected: dict[tuple[str, Column], list[float]] = {}
    runs: dict[tuple[str, str], list[Path]] = {}
    protocols: dict[Path, str] = {}
    unmatched = []
    for run in run_dirs:
        folder = RunFolder(run)
        folder.require(RunFolder.CONFIG, RunFolder.RESULTS)
        cfg, results = folder.config(), folder.results()
        row = next((r for r in spec.rows if (r.cre, r.attention, r.triplet) ==
                    (cfg.train.cre, cfg.model.attention, cfg.loss.triplet)), None)  # fmt: skip
        if row is None or cfg.data.name not in datasets:
            unmatched.append(run)
            continue
        protocols[run] = _protocol(cfg)
        runs.setdefault((row.label, cfg.data.name), []).append(run)
        for column in spec.columns:
            dataset, setting, metric = column
            if dataset == cfg.data.name and setting in results and metric in results[setting]:
                collected.setdefault((row.label, column), []).append(
                    float(results[setting][metric])
                )
    ours = {k: float(np.mean(v)) for k, v in collected.items()}
    return Comparison(spec, ours, runs, protocols, unmatched)


def _header(column: Column) -> str:
    dataset, setting, metric = column
    return f"{dataset} {setting} {metric.replace('top', 'top-')}"


def rows(comp: Comparison) -> tuple[list[str], list[list[str]]]:
    """Header and rows: for each column "ours / paper (ours - paper)"; "-" where no run."""
    header = ["row"] + [_header(c) for c in comp.table.columns]
    out = []
    for row in comp.table.rows:
        cells = [row.label]
        for column in comp.table.columns:
            ours, paper = comp.cell(row, column)
            cells.append(
                f"- / {paper:.1f}"
                if ours is None
                else f"{ours:.1f} / {paper:.1f} ({ours - paper:+.1f})"
            )
        out.append(cells)
    return header, out


def markdown(comp: Comparison) -> str:
    header, body = rows(comp)
    lines = [f"## {comp.table.caption}", "", "Each cell: ours / paper (difference), percent.", ""]
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
