"""A study's record, written beside its runs once they are done::

    <study>/study.json   per config: its runs, every seed's numbers, mean, std and the 95% t
                         interval of the mean; the paired differences with their intervals
    <study>/study.md     the same as tables (mean ± std, paired differences)

``ccreid compare`` reads study.json to set the paper's numbers against the intervals.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ccreid.fileio import atomic_write_text
from ccreid.runfolder import RunFolder
from ccreid.study.stats import PairedDifference, describe_interval
from ccreid.study.summary import differences, summarise
from ccreid.study.tables import Table, markdown, study_tables

STUDY_RECORD = "study.json"
STUDY_TABLE = "study.md"


def _difference(d: PairedDifference) -> dict[str, Any]:
    return {"a": d.a, "b": d.b, "metric": d.metric, "per_seed": list(d.per_seed), "mean": d.mean,
            "low": d.low, "high": d.high, "agreeing": d.agreeing, "seeds": len(d.per_seed),
            "excludes_zero": d.excludes_zero}  # fmt: skip


def study_record(folder: Path, by_seed: dict[int, dict[str, RunFolder]], summary: dict[str, Any],
                 diffs: list[PairedDifference]) -> dict[str, Any]:  # fmt: skip
    """The JSON record: run folders relative to the study folder, so it can be moved."""
    n = len(by_seed)
    configs = {
        name: {"runs": {str(s): RunFolder(runs[name]).path.relative_to(folder).as_posix()
                        for s, runs in by_seed.items()}, **entry}
        for name, entry in summary.items()
    }  # fmt: skip
    return {
        "seeds": list(by_seed),
        "stats_interval": f"low, high: {describe_interval(n)}, of the mean of each config",
        "interval": describe_interval(n, paired=True),
        "differences_are": "a minus b, seed by seed (later config minus earlier)",
        "configs": configs,
        "differences": [_difference(d) for d in diffs],
    }


def write_study(
    folder: Path, by_seed: dict[int, dict[str, RunFolder]], title: str = "ccreid study",
    intro: str = "", label: str = "config", summary: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[Table]]:  # fmt: skip
    """Summarise the runs and write study.json and study.md (each atomically); returns the
    record and the tables."""
    folder = Path(folder)
    summary = summary if summary is not None else summarise(by_seed)
    diffs = differences(summary)
    record = study_record(folder, by_seed, summary, diffs)
    tables = study_tables(summary, diffs, label)
    atomic_write_text(folder / STUDY_RECORD, json.dumps(record, indent=1))
    atomic_write_text(folder / STUDY_TABLE, markdown(title, intro, tables))
    return record, tables
