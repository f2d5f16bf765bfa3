"""Studies: configs trained on the same seeds, summarised with mean, spread and paired
differences with confidence intervals (``ccreid study``; the demo is one on synthetic data)."""

from ccreid.study.runner import Study, run_study, slug
from ccreid.study.stats import PairedDifference, mean_std, paired_difference, t_quantile
from ccreid.study.summary import differences, seed_row, summarise

__all__ = [
    "PairedDifference",
    "Study",
    "differences",
    "mean_std",
    "paired_difference",
    "run_study",
    "seed_row",
    "slug",
    "summarise",
    "t_quantile",
]
