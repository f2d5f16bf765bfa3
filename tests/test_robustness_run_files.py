"""`compare` and `visualize` on run folders with a broken config.yaml, results.json or
metrics.json: one line naming the file (exit 1), no traceback, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ccreid.config import load_config, to_yaml

GOOD = {
    "config.yaml": None,  # to_yaml of a valid config, written by the fixture
    "results.json": json.dumps({"cc": {"top1": 40.0, "mAP": 35.5}, "evaluated": {"epoch": 1}}),
    "metrics.json": json.dumps([{"epoch": 1, "loss": 2.5, "cc/mAP": 35.5}]),
}

BROKEN = {  # (file, its content or an (old, new) edit of the good file, what the message says)
    "truncated config": ("config.yaml", "data:\n  name: [prcc\n", "not valid YAML"),
    "config a list": ("config.yaml", "- data\n- model\n", "a config must be a mapping"),
    "empty config": ("config.yaml", "", "no data, model, loss, train, eval section"),
    "config cut after data": ("config.yaml", "data:\n  name: prcc\n", "no model, loss"),
    "config wrong type": ("config.yaml", ("cre: false", "cre: maybe"), "train.cre"),
    "config null value": ("config.yaml", ("lr: 0.0003", "lr: null"), "train.lr"),
    "config bad value": (
        "config.yaml",
        ("lr: 0.0003", "lr: -1"),
        "train.lr must be a finite number > 0, got -1.0",
    ),
    "truncated results": ("results.json", '{"cc": {"top1": 4', "not valid JSON (line 1"),
    "results a list": ("results.json", "[1, 2]", "expected a JSON object, found array"),
    "results null metric": ("results.json", '{"cc": {"mAP": null}}', "cc.mAP must be a finite"),
    "results string metric": ("results.json", '{"cc": {"mAP": "85.1"}}', 'got "85.1"'),
    "results nan metric": ("results.json", '{"cc": {"mAP": NaN}}', "got NaN"),
    "results setting a number": ("results.json", '{"cc": 5}', "'cc' must be an object"),
    "empty results": ("results.json", "", "not valid JSON"),
}
BROKEN_METRICS = {
    "truncated metrics": ("metrics.json", '[{"epoch": 1, "loss"', "not valid JSON"),
    "metrics an object": ("metrics.json", '{"epoch": 1}', "expected a JSON array, found object"),
    "metrics null value": ("metrics.json", '[{"epoch": 1, "loss": null}]', "row 1 'loss'"),
    "metrics string value": ("metrics.json", '[{"epoch": 1, "loss": "low"}]', "row 1 'loss'"),
    "metrics row without loss": (
        "metrics.json",
        '[{"epoch": 1}]',
        "row 1 must be an object with epoch and loss",
    ),
    "metrics row a number": ("metrics.json", "[3]", "row 1 must be an object with epoch and loss"),
}


def _run(folder: Path, broken: tuple | None = None) -> Path:
    """A finished run's files (a BCTri baseline on PRCC), one of them replaced by ``broken``."""
    folder.mkdir(parents=True)
    full = to_yaml(load_config(None, ["data.name=prcc", "model.attention=none", "train.cre=false"]))
    for name, text in GOOD.items():
        (folder / name).write_text(full if text is None else text)
    if broken is not None:
        name, text, _ = broken
        if isinstance(text, tuple):
            good = (folder / name).read_text()
            assert text[0] in good
            text = good.replace(*text)
        (folder / name).write_text(text)
    return folder


def _one_line_naming(res, path: Path, says: str) -> None:
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.err, res.err
    assert lines[0].startswith(f"error: {path}") and says in lines[0], lines[0]


@pytest.mark.reliability(
    tried=(
        "`compare` with a truncated, empty, list-shaped or string/null/NaN-metric results.json, "
        "or a broken/partial/ill-typed config.yaml"
    ),
    happens="exit 1, one line `error: <file>: …` saying what is wrong",
)
@pytest.mark.parametrize("case", list(BROKEN))
def test_compare_names_the_broken_file(cli, tmp_path: Path, case: str) -> None:
    run = _run(tmp_path / "run", BROKEN[case])
    res = cli("compare", run, "--paper", "table4", "--out", tmp_path / "t.md", expect=1)
    _one_line_naming(res, run / BROKEN[case][0], BROKEN[case][2])
    assert not (tmp_path / "t.md").exists()


@pytest.mark.reliability(
    tried="`visualize` with any of those, or a truncated/object/null/string metrics.json",
    happens="exit 1, one line naming the file, before any report folder or data load",
)
@pytest.mark.parametrize("case", [*BROKEN, *BROKEN_METRICS])
def test_visualize_names_the_broken_file_before_any_work(cli, tmp_path: Path, case: str) -> None:
    broken = {**BROKEN, **BROKEN_METRICS}[case]
    good = _run(tmp_path / "good")
    run = _run(tmp_path / "run", broken)
    res = cli("visualize", good, run, expect=1)
    _one_line_naming(res, run / broken[0], broken[2])
    assert not (good / "report").exists()  # refused before the report folder


def test_missing_files_name_the_run(cli, tmp_path: Path) -> None:
    run = _run(tmp_path / "run")
    (run / "metrics.json").unlink()
    res = cli("visualize", run, expect=1)
    _one_line_naming(res, run / "metrics.json", "does not exist")
    (run / "config.yaml").unlink()
    res = cli("visualize", run, expect=1)
    _one_line_naming(res, run / "config.yaml", "is not a run folder of `ccreid train`")


def test_a_good_run_still_compares(cli, tmp_path: Path) -> None:
    run = _run(tmp_path / "run")
    cli("compare", run, "--paper", "table4", "--out", tmp_path / "t.md", expect=0)
    assert "35.5 / 44.9 (-9.4)" in (tmp_path / "t.md").read_text()  # PRCC CC mAP, BCTri row
