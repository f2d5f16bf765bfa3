"""Metrics as people read them: one renderer for every table and log line, driven by
`RetrievalResult.metrics`, so a new metric appears everywhere by being computed."""

from __future__ import annotations

from collections.abc import Mapping

from ccreid.evaluation.metrics import METRIC_NAMES, RetrievalResult


def metric_name(key: str) -> str:
    """The display name of a metric key (``top1`` -> ``top-1``)."""
    return METRIC_NAMES.get(key, key)


def format_metrics(metrics: Mapping[str, float], keys: tuple[str, ...] | None = None) -> str:
    """``top-1 12.3 mAP 4.5 ...`` for one setting (all its metrics unless ``keys``)."""
    return " ".join(f"{metric_name(k)} {metrics[k]:.1f}" for k in keys or metrics if k in metrics)


def results_table(results: Mapping[str, RetrievalResult]) -> str:
    """Markdown table: one row per evaluation set, every metric in percent, and how many
    queries had a valid match."""
    rows = {name: r.metrics() for name, r in results.items()}
    keys = list(dict.fromkeys(k for m in rows.values() for k in m))
    lines = [
        "| setting | " + " | ".join(metric_name(k) for k in keys) + " | valid queries |",
        "|---|" + "---|" * len(keys) + "---|",
    ]
    for name, r in results.items():
        cells = " | ".join(f"{rows[name][k]:.1f}" if k in rows[name] else "-" for k in keys)
        lines.append(f"| {name} | {cells} | {r.num_valid_queries}/{r.num_queries} |")
    return "\n".join(lines)
