"""The recipe-lever experiment's table: each lever against the recipe, paired by seed."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "experiments" / "levers.py"


@pytest.fixture(scope="module")
def levers():
    spec = importlib.util.spec_from_file_location("levers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _write_summary(folder: Path, values: dict[str, dict[str, list[float]]]) -> None:
    """A demo summary.json with the given per-seed values (seeds 100, 101, 102)."""
    folder.mkdir(parents=True)
    summary = {variant: {"seeds": {str(100 + i): {m: v[i] for m, v in metrics.items()}
                                   for i in range(3)}}
               for variant, metrics in values.items()}  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary))


def test_a_levers_row_is_its_mean_and_paired_interval_against_the_recipe(
    levers, tmp_path: Path
) -> None:
    base = {"sc/mAP": [70.0, 80.0, 90.0], "cc/mAP": [5.0, 6.0, 7.0]}
    _write_summary(tmp_path / "recipe", {"baseline": base, "CRE+BSGA": {"cc/mAP": [10.0] * 3}})
    wider = {"sc/mAP": [71.0, 82.0, 93.0], "cc/mAP": [5.0, 6.0, 7.0]}
    _write_summary(tmp_path / "full-width",
                   {"baseline": wider, "CRE+BSGA": {"cc/mAP": [12.0, 12.0, 12.0]}})  # fmt: skip
    rows = levers.table(tmp_path).splitlines()
    recipe = next(r for r in rows if r.startswith("| recipe"))
    assert recipe.endswith("| 80.0 | 6.0 | 10.0 |")
    # SC differences 1, 2, 3: mean 2, s = 1, t(0.975, 2) = 4.302653 -> 2 +- 4.302653 / sqrt(3)
    half = 4.302653 * 1.0 / math.sqrt(3)
    row = next(r for r in rows if r.startswith("| full-width"))
    cells = [c.strip() for c in row.strip("|").split("|")][1:]
    assert cells[0] == f"82.0 (+2.0 [{2 - half:+.1f}, {2 + half:+.1f}])"
    assert cells[1] == "6.0 (+0.0 [+0.0, +0.0])"
    assert cells[2] == "12.0 (+2.0 [+2.0, +2.0])"


def test_every_lever_changes_one_known_thing(levers) -> None:
    """Each lever's budget fields exist in the budget, so a misspelt field cannot pass."""
    from dataclasses import fields

    from ccreid.demo import Budget

    names = {f.name for f in fields(Budget)}
    for name, lever in levers.LEVERS.items():
        assert set(lever.budget) <= names, name
        assert lever.scenes in ("cluttered", "plain")
        changes = bool(lever.budget) + bool(lever.overrides) + (lever.scenes != "cluttered")
        assert changes == (0 if name == "recipe" else 1), name
