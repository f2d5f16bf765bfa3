"""Plots and reports: training curves, ranked lists, attention maps, CRE examples."""

from ccreid.viz.plots import (
    attention_maps,
    cre_examples,
    plot_hits,
    ranked_lists,
    show_mask,
    training_curves,
)
from ccreid.viz.report import Report

__all__ = [
    "Report",
    "attention_maps",
    "cre_examples",
    "plot_hits",
    "ranked_lists",
    "show_mask",
    "training_curves",
]
