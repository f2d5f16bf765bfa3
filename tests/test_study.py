"""`ccreid study`: Student's t against printed tables, paired intervals against a hand
computation, and the command on the tiny synthetic set (numbers, resume, compare)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from cli_helpers import console_script
from conftest import tiny_overrides

from ccreid.study import paired_difference, study_tables, summarise, t_quantile
from ccreid.study.summary import differences

REPO = Path(__file__).resolve().parents[1]
# t_{0.975, df} from a printed table of Student's t.
T_TABLE = {1: 12.706205, 2: 4.302653, 3: 3.182446, 4: 2.776445, 10: 2.228139, 30: 2.042272}
SETTINGS = ("general", "sc", "cc")


def _plain_mean_std(values: list[float]) -> tuple[float, float]:
    total = 0.0
    for v in values:
        total += v
    mean = total / len(values)
    squares = 0.0
    for v in values:
        squares += (v - mean) ** 2
    return mean, math.sqrt(squares / (len(values) - 1))


def _hand_interval(values: list[float]) -> tuple[float, float, float]:
    """mean, low, high: mean +- t_{0.975, n-1} * s / sqrt(n), t typed in from the table."""
    mean, std = _plain_mean_std(values)
    half = T_TABLE[len(values) - 1] * std / math.sqrt(len(values))
    return mean, mean - half, mean + half


@pytest.mark.parametrize(("df", "expected"), sorted(T_TABLE.items()))
def test_t_quantile_matches_the_printed_table(df: int, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=2e-6)


@pytest.mark.parametrize(
    ("a", "b"),
    [([10.0, 12.5, 11.0, 14.0], [9.0, 12.0, 11.5, 12.0]), ([5.0, 6.0, 7.0], [3.0, 3.5, 4.2])],
)
def test_paired_difference_is_the_hand_computed_t_interval(a: list[float], b: list[float]) -> None:
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    mean, low, high = _hand_interval(diffs)
    d = paired_difference("new", "old", "cc/mAP", a, b)
    assert (d.mean, d.low, d.high) == pytest.approx((mean, low, high), abs=1e-5)
    sign = 1 if mean > 0 else -1
    assert d.agreeing == sum(1 for x in diffs if x * sign > 0)
    assert d.excludes_zero == (low > 0 or high < 0)


def test_one_seed_gives_no_interval_and_excludes_nothing() -> None:
    d = paired_difference("new", "old", "cc/mAP", [4.0], [3.0])
    assert d.mean == pytest.approx(1.0) and d.low is None and d.high is None
    assert not d.excludes_zero


def _fake_runs(tmp_path: Path, values: dict[str, list[float]]) -> dict[int, dict[str, Path]]:
    by_seed: dict[int, dict[str, Path]] = {}
    for name, per_seed in values.items():
        for seed, value in enumerate(per_seed):
            run = tmp_path / name / str(seed)
            run.mkdir(parents=True)
            metrics = {s: {"top1": value, "mAP": value} for s in SETTINGS}
            (run / "results.json").write_text(json.dumps(metrics))
            (run / "metrics.json").write_text(json.dumps([{"epoch": 1}]))
            by_seed.setdefault(seed, {})[name] = run
    return by_seed


def test_the_difference_table_states_its_interval_and_marks_exclusion(tmp_path: Path) -> None:
    """Three seeds where the second config is better on every seed by 2, 3 and 4 pp."""
    by_seed = _fake_runs(tmp_path, {"base": [10.0, 20.0, 30.0], "new": [12.0, 23.0, 34.0]})
    summary = summarise(by_seed)
    tables = study_tables(summary, differences(summary))
    title, header, rows = tables[1]
    assert "95% CI, Student's t over 3 seeds (paired by seed)" in title
    assert header[:3] == ["difference", "metric", "mean"]
    mean, low, high = _hand_interval([2.0, 3.0, 4.0])
    cc = next(r for r in rows if r[1] == "cc mAP")
    assert cc == ["new minus base", "cc mAP", f"{mean:+.1f}", f"[{low:+.1f}, {high:+.1f}]",
                  "3/3", "yes"]  # fmt: skip
    assert [r[1] for r in rows] == ["cc mAP", "cc top-1", "sc mAP", "general mAP"]


@pytest.fixture(scope="module")
def study_dir(tiny_synthetic: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two configs chaining the packaged base (no attention vs BSGA), 2 seeds, 1 epoch,
    trained by the installed console script as a user runs it."""
    tmp = tmp_path_factory.mktemp("study")
    for name, attention in (("baseline", "none"), ("bsga", "bsga")):
        (tmp / f"{name}.yaml").write_text(
            f"base: {REPO / 'configs' / 'base.yaml'}\nmodel:\n  attention: {attention}\n"
            "train:\n  cre: false\n"
        )
    res = console_script("study", tmp / "baseline.yaml", tmp / "bsga.yaml", "--seeds", 2,
                         "-o", tmp / "out", *_overrides(tiny_synthetic, tmp))  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    return tmp


def _overrides(root: Path, tmp: Path) -> list[str]:
    """The tests' tiny run, less what the study sets itself (run folder and name)."""
    given = tiny_overrides(root, tmp, **{"train.max_steps_per_epoch": 2})
    return [o for o in given if not o.startswith(("output_dir=", "name="))]


def _results(study: Path, name: str, seed: int) -> dict:
    return json.loads((study / f"seed-{seed}" / "runs" / name / "results.json").read_text())


def test_study_json_holds_the_runs_numbers_and_the_hand_computed_intervals(
    study_dir: Path,
) -> None:
    out = study_dir / "out"
    record = json.loads((out / "study.json").read_text())
    assert list(record["configs"]) == ["baseline", "bsga"] and record["seeds"] == [0, 1]
    assert record["interval"] == "95% CI, Student's t over 2 seeds (paired by seed)"
    for name, entry in record["configs"].items():
        for seed in (0, 1):
            res = _results(out, name, seed)
            for s in SETTINGS:
                assert entry["seeds"][str(seed)][f"{s}/mAP"] == res[s]["mAP"]
                assert entry["seeds"][str(seed)][f"{s}/top1"] == res[s]["top1"]
        values = [_results(out, name, seed)["cc"]["mAP"] for seed in (0, 1)]
        mean, low, high = _hand_interval(values)
        stat = entry["stats"]["cc/mAP"]
        assert (stat["mean"], stat["low"], stat["high"]) == pytest.approx((mean, low, high))
    diffs = [_results(out, "bsga", s)["cc"]["mAP"] - _results(out, "baseline", s)["cc"]["mAP"]
             for s in (0, 1)]  # fmt: skip
    mean, low, high = _hand_interval(diffs)
    cc = next(d for d in record["differences"] if d["metric"] == "cc/mAP")
    assert (cc["a"], cc["b"], cc["seeds"]) == ("bsga", "baseline", 2)
    assert (cc["mean"], cc["low"], cc["high"]) == pytest.approx((mean, low, high), abs=1e-5)
    assert cc["excludes_zero"] == (low > 0 or high < 0)
    md = (out / "study.md").read_text()
    assert "Student's t over 2 seeds (paired by seed)" in md
    assert f"| bsga minus baseline | cc mAP | {mean:+.1f} | [{low:+.1f}, {high:+.1f}] |" in md


def test_running_the_study_again_trains_nothing(study_dir: Path, tiny_synthetic: Path, cli) -> None:
    out = study_dir / "out"
    results = sorted(out.glob("seed-*/runs/*/results.json"))
    assert len(results) == 4
    before = {p: p.stat().st_mtime_ns for p in results}
    record = json.loads((out / "study.json").read_text())
    res = cli("study", study_dir / "baseline.yaml", study_dir / "bsga.yaml", "--seeds", 2,
              "-o", out, *_overrides(tiny_synthetic, study_dir), expect=0)  # fmt: skip
    assert res.out.count("not trained again") == 4
    assert {p: p.stat().st_mtime_ns for p in results} == before
    assert json.loads((out / "study.json").read_text()) == record


def test_compare_sets_the_papers_number_against_the_studys_interval(
    study_dir: Path, cli, tmp_path: Path
) -> None:
    out = study_dir / "out"
    cli("compare", out / "study.json", "--paper", "table4", "-o", tmp_path / "t4.md", expect=0)
    md = (tmp_path / "t4.md").read_text()
    values = [_results(out, "bsga", seed)["cc"]["mAP"] for seed in (0, 1)]
    mean, low, high = _hand_interval(values)
    paper = 75.0  # Table 4, + BSGA, VC-Clothes CC mAP
    where = "inside" if low <= paper <= high else "outside"
    row = next(line for line in md.splitlines() if line.startswith("| + BSGA |"))
    assert f"{mean:.1f} ± {(high - low) / 2:.1f} / 75.0 ({mean - paper:+.1f}, {where})" in row
    assert "95% CI of the mean" in md


def test_study_refuses_what_it_sets_itself_and_names_a_missing_config(cli, tmp_path: Path) -> None:
    res = cli("study", "base", "--seeds", 2, "-o", tmp_path / "s", "name=x", expect=2)
    assert "the study sets" in res.err
    res = cli("study", tmp_path / "nope.yaml", "--seeds", 2, "-o", tmp_path / "s", expect=1)
    assert "nope.yaml" in res.err
    assert not (tmp_path / "s").exists()


def test_a_moved_study_folder_keeps_its_finished_runs(
    study_dir: Path, tiny_synthetic: Path, cli, tmp_path: Path
) -> None:
    """Run folders and names follow the study folder: a copy elsewhere trains nothing again,
    and a run that had not finished resumes there."""
    moved = tmp_path / "moved"
    shutil.copytree(study_dir / "out", moved)
    (moved / "seed-0" / "runs" / "bsga" / "results.json").unlink()
    res = cli("study", study_dir / "baseline.yaml", study_dir / "bsga.yaml", "--seeds", 2,
              "-o", moved, *_overrides(tiny_synthetic, study_dir), expect=0)  # fmt: skip
    assert res.out.count("not trained again") == 3
    assert (moved / "seed-0" / "runs" / "bsga" / "results.json").is_file()
    record = json.loads((moved / "study.json").read_text())
    assert record["configs"]["bsga"]["runs"]["1"] == "seed-1/runs/bsga"
