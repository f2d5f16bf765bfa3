"""The demo recipe's levers, one at a time.

Each lever changes one thing of the fast budget (`ccreid.demo.BUDGETS["fast"]`) and trains
the baseline and CRE+BSGA on the tuning seeds (100-102 by default, never the seeds the
results page reports). The table pairs every lever with the recipe seed by seed, so each
row says what that one change does, with a 95% Student-t interval over the seeds::

    python experiments/levers.py run recipe own-backdrops --out runs/levers
    python experiments/levers.py table --out runs/levers     # writes runs/levers/levers.md

A lever's folder is an ordinary demo folder (`ccreid demo --resume` semantics: a stopped
lever continues where it stopped, finished runs are kept).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ccreid.demo import BUDGETS, run_demo
from ccreid.fileio import atomic_write_text
from ccreid.study.stats import PairedDifference, paired_difference

VARIANTS = ["baseline", "CRE+BSGA"]
# (variant, metric): what the demo's criteria are stated in.
COLUMNS = (("baseline", "sc/mAP"), ("baseline", "cc/mAP"), ("CRE+BSGA", "cc/mAP"))


@dataclass(frozen=True)
class Lever:
    """One change to the fast recipe: budget fields, config overrides or the scenes."""

    what: str
    budget: dict[str, Any] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()
    scenes: str = "cluttered"


LEVERS = {
    "recipe": Lever("the fast budget as it is"),
    "own-backdrops": Lever("one backdrop and prop per tracklet (no shared places)",
                           budget={"backdrop_places": 0}),
    "plain-scenes": Lever("no backdrop, prop or occluder at all", scenes="plain"),
    "full-width": Lever("full-width ResNet-18 (64-128-256-512 channels)",
                        overrides=("model.backbone=resnet18",)),
    "55x4": Lever("55 training identities x 4 images per camera (the same image count)",
                  budget={"train_ids": 55, "images_per_camera": 4}),
    "lr-2e-3": Lever("learning rate 2e-3", overrides=("train.lr=2e-3",)),
    "warm-up": Lever("2 epochs of linear learning-rate warm-up",
                     overrides=("train.warmup_epochs=2",)),
}  # fmt: skip


def run_lever(name: str, out: Path, seed: int, seeds: int, budget: str = "fast") -> float:
    """Train one lever's runs (continuing an earlier start); returns the minutes it took."""
    lever = LEVERS[name]
    start = time.perf_counter()
    run_demo(out / name, budget=replace(BUDGETS[budget], **lever.budget), seed=seed,
             seeds=seeds, overrides=list(lever.overrides), scenes=lever.scenes,
             variants=VARIANTS, resume=True)  # fmt: skip
    minutes = (time.perf_counter() - start) / 60
    atomic_write_text(out / name / "lever.json", json.dumps({"lever": name, "minutes": minutes}))
    return minutes


def _values(summary: dict[str, Any], variant: str, metric: str) -> dict[str, float]:
    return {s: row[metric] for s, row in summary[variant]["seeds"].items()}


def _cell(d: PairedDifference) -> str:
    if d.low is None or d.high is None:
        return f"{d.mean:+.1f}"
    return f"{d.mean:+.1f} [{d.low:+.1f}, {d.high:+.1f}]"


def lever_row(name: str, summary: dict[str, Any], recipe: dict[str, Any]) -> str:
    """One table row: each column's mean, and its difference from the recipe, paired by seed."""
    cells = []
    for variant, metric in COLUMNS:
        mine, base = _values(summary, variant, metric), _values(recipe, variant, metric)
        seeds = sorted(set(mine) & set(base))
        if not seeds:
            raise SystemExit(f"{name} shares no seed with the recipe")
        mean = sum(mine[s] for s in seeds) / len(seeds)
        d = paired_difference(name, "recipe", metric, [mine[s] for s in seeds],
                              [base[s] for s in seeds])  # fmt: skip
        cells.append(f"{mean:.1f}" if name == "recipe" else f"{mean:.1f} ({_cell(d)})")
    return f"| {name}: {LEVERS[name].what} | " + " | ".join(cells) + " |"


def table(out: Path) -> str:
    """The levers found in ``out`` against its ``recipe`` folder, as a markdown table."""

    def summary(name: str) -> dict[str, Any]:
        return json.loads((out / name / "summary.json").read_text())

    recipe = summary("recipe")
    header = ("| lever | baseline SC mAP | baseline CC mAP | CRE+BSGA CC mAP |\n"
              "|---|---|---|---|")  # fmt: skip
    rows = [lever_row(n, summary(n), recipe) for n in LEVERS
            if (out / n / "summary.json").is_file()]  # fmt: skip
    note = (
        "Mean over the seeds both share, percent; in brackets the difference from the "
        "recipe (pp) with its 95% interval, Student's t paired by seed."
    )
    return "\n".join([header, *rows, "", note, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["run", "table"])
    parser.add_argument("levers", nargs="*", help=f"with run: any of {', '.join(LEVERS)}")
    parser.add_argument("--out", type=Path, default=Path("runs/levers"))
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", choices=list(BUDGETS), default="fast")
    args = parser.parse_args()
    unknown = [n for n in args.levers if n not in LEVERS]
    if unknown:
        parser.error(f"unknown lever {', '.join(unknown)}: choose from {', '.join(LEVERS)}")
    for name in args.levers if args.action == "run" else []:
        minutes = run_lever(name, args.out, args.seed, args.seeds, args.budget)
        print(f"{name}: {minutes:.1f} min", flush=True)
    if (args.out / "recipe" / "summary.json").is_file():
        text = table(args.out)
        atomic_write_text(args.out / "levers.md", text)
        print(text)


if __name__ == "__main__":
    main()
