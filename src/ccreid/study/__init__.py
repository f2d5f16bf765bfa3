"""Studies: configs trained on the same seeds, summarised with mean, spread and paired
differences with confidence intervals (``ccreid study``; the demo is one on synthetic data)."""

from ccreid.study.record import STUDY_RECORD, STUDY_TABLE, study_record, write_study
from ccreid.study.runner import Study, run_study, slug
from ccreid.study.stats import (
    PairedDifference,
    describe_interval,
    mean_std,
    paired_difference,
    t_interval,
    t_quantile,
)
from ccreid.study.summary import DIFFERENCE_KEYS, differences, seed_row, summarise
from ccreid.study.tables import Table, difference_table, results_table, study_tables

__all__ = [
    "DIFFERENCE_KEYS",
    "STUDY_RECORD",
    "STUDY_TABLE",
    "PairedDifference",
    "Study",
    "Table",
    "describe_interval",
    "difference_table",
    "differences",
    "mean_std",
    "paired_difference",
    "results_table",
    "run_study",
    "seed_row",
    "slug",
    "study_record",
    "study_tables",
    "summarise",
    "t_interval",
    "t_quantile",
    "write_study",
]
