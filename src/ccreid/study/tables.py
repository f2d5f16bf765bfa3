"""A study's tables as plain (title, header, rows) lists, the form every report renders:
mean ± std per config and setting, and the paired differences with their intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ccreid.evaluation import EVAL_MODES, HEADLINE_METRICS, metric_name
from ccreid.study.stats import PairedDifference, describe_interval
from ccreid.viz.report import Report

Table = tuple[str, list[str], list[list[str]]]


def seed_count(summary: dict[str, Any]) -> int:
    """How many seeds the study's first config was run on (all share them)."""
    return len(next(iter(summary.values()))["seeds"])


def settings(summary: dict[str, Any]) -> list[str]:
    """The settings every config was evaluated in (a video set has no SC setting)."""
    return [s for s in EVAL_MODES if all(f"{s}/mAP" in v["stats"] for v in summary.values())]


def format_mean_std(stat: dict[str, float], n: int) -> str:
    """``12.3 ± 1.4`` over several seeds; the value alone for one."""
    return f"{stat['mean']:.1f} ± {stat['std']:.1f}" if n > 1 else f"{stat['mean']:.1f}"


def results_table(summary: dict[str, Any], label: str = "config") -> Table:
    """Per config and setting: mean ± std over seeds of the headline metrics."""
    n = seed_count(summary)
    cols = [(s, m) for s in settings(summary) for m in HEADLINE_METRICS]
    header = [label] + [f"{s} {metric_name(m)}" for s, m in cols]
    rows = [[name] + [format_mean_std(v["stats"][f"{s}/{m}"], n) for s, m in cols]
            for name, v in summary.items()]  # fmt: skip
    return f"Results over {n} seed(s), mean ± std (%)", header, rows


def _key_name(key: str) -> str:
    setting, metric = key.split("/", 1)
    return f"{setting} {metric_name(metric)}"


def difference_title(n: int) -> str:
    """The differences table's title: which difference, and exactly which interval."""
    return (f"Paired differences (later config minus earlier, pp): mean, "
            f"{describe_interval(n, paired=True)}")  # fmt: skip


def difference_table(diffs: list[PairedDifference], n: int) -> Table | None:
    """For each pair and metric: the mean difference, its interval, the seeds that agree
    in sign, and whether the interval excludes zero. None below two seeds (no interval)."""
    if n < 2 or not diffs:
        return None
    header = ["difference", "metric", "mean", "95% CI", "seeds agreeing", "CI excludes 0"]
    rows = [[f"{d.a} minus {d.b}", _key_name(d.metric), f"{d.mean:+.1f}",
             f"[{d.low:+.1f}, {d.high:+.1f}]", f"{d.agreeing}/{len(d.per_seed)}",
             "yes" if d.excludes_zero else "no"] for d in diffs]  # fmt: skip
    return difference_title(n), header, rows


def study_tables(summary: dict[str, Any], diffs: list[PairedDifference],
                 label: str = "config") -> list[Table]:  # fmt: skip
    """The study's two tables: mean ± std, then (from two seeds on) the differences."""
    table = difference_table(diffs, seed_count(summary))
    return [results_table(summary, label), *([table] if table is not None else [])]


def markdown(title: str, intro: str, tables: list[Table]) -> str:
    """The tables as one Markdown page (the report's own renderer)."""
    return Report(title, intro, tables=tables).markdown(Path("."))
