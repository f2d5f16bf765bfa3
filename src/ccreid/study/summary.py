"""A study's numbers: per config, every seed's headline metrics and probes, their mean and
spread, and the paired differences between configs."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Any

from ccreid.evaluation import EVAL_MODES, HEADLINE_METRICS
from ccreid.runfolder import RunFolder
from ccreid.study.stats import PairedDifference, mean_std, paired_difference, t_interval

PROBES = "bsga/"  # the per-epoch probes a study summarises (BSGA's mean attention)
# The keys whose paired differences a study reports (those a run has).
DIFFERENCE_KEYS = ("cc/mAP", "cc/top1", "sc/mAP", "general/mAP")


def seed_row(run: RunFolder) -> dict[str, float]:
    """One run's headline metrics per setting (``cc/mAP``, ...), its last epoch's probes
    and, when it was also evaluated on its own predicted masks, those (``predicted/...``)."""
    res = run.results()
    row = {f"{s}/{m}": res[s][m] for s in EVAL_MODES if s in res for m in HEADLINE_METRICS
           if m in res[s]}  # fmt: skip
    last = run.metrics()[-1]
    row.update({k: v for k, v in last.items() if k.startswith(PROBES)})
    predicted = run.read_json(RunFolder.PREDICTED_MASKS)
    if predicted is not None:
        row.update({f"predicted/{s}/{m}": predicted["predicted"][s][m]
                    for s in EVAL_MODES if s in predicted["predicted"]
                    for m in HEADLINE_METRICS})  # fmt: skip
        row["mask_head/iou"] = 100 * predicted["mask_iou"]
    return row


def summarise(by_seed: dict[int, dict[str, Path | RunFolder]]) -> dict[str, Any]:
    """Per config: every seed's row (`seed_row`) and, per key, the mean, the sample
    standard deviation over seeds and, from two seeds on, the 95% t interval of the mean
    (``low``, ``high``)."""
    out: dict[str, Any] = {}
    for name in next(iter(by_seed.values())):
        per_seed = {s: seed_row(RunFolder(runs[name])) for s, runs in by_seed.items()}
        keys = next(iter(per_seed.values())).keys()
        stats = {}
        for k in keys:
            values = [float(per_seed[s][k]) for s in per_seed]
            mean, std = mean_std(values)
            stats[k] = {"mean": mean, "std": std}
            interval = t_interval(values)
            if interval is not None:
                stats[k].update(low=interval[0], high=interval[1])
        out[name] = {"seeds": per_seed, "stats": stats}
    return out


def differences(
    summary: dict[str, Any], keys: tuple[str, ...] | list[str] = DIFFERENCE_KEYS
) -> list[PairedDifference]:
    """For each pair of configs (in the order given, later minus earlier: every pair, so
    an addition on top of another one is measured too) and each key both have, the paired
    difference over the seeds both share."""
    out = []
    for a, b in combinations(summary, 2):
        seeds = [s for s in summary[a]["seeds"] if s in summary[b]["seeds"]]
        for key in keys:
            if seeds and all(key in summary[c]["seeds"][s] for c in (a, b) for s in seeds):
                out.append(paired_difference(
                    b, a, key, [summary[b]["seeds"][s][key] for s in seeds],
                    [summary[a]["seeds"][s][key] for s in seeds]))  # fmt: skip
    return out
