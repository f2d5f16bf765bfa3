"""The command line: help, one-line errors with non-zero exit, and the main paths."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tiny_overrides

CLI = [sys.executable, "-m", "ccreid.cli"]


def ccreid(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def test_help_lists_every_command() -> None:
    out = ccreid("--help").stdout
    for cmd in ("demo", "synth", "train", "eval", "extract", "data", "parse", "masks", "visualize"):
        assert cmd in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "missing.yaml"], "config file missing.yaml does not exist"),
        (["data", "stats", "duke", "."], "unknown dataset 'duke'"),
        (
            ["data", "stats", "prcc", "/nonexistent/prcc"],
            "dataset folder /nonexistent/prcc does not exist",
        ),
        (["masks", "check", "/nonexistent", "."], "folder /nonexistent does not exist"),
        (["parse", "/nonexistent", "--out", "x"], "image folder /nonexistent does not exist"),
        (["eval", "missing.yaml", "--checkpoint", "x"], "config file missing.yaml does not exist"),
    ],
)
def test_errors_are_one_line_with_exit_1(args: list[str], message: str) -> None:
    res = ccreid(*args)
    assert res.returncode == 1
    assert message in res.stderr.replace("\n", " ")
    assert "Traceback" not in res.stderr


def test_debug_shows_the_traceback() -> None:
    res = ccreid("--debug", "train", "missing.yaml")
    assert res.returncode != 0 and "Traceback" in res.stderr


def test_train_eval_extract_and_stats_on_tiny_data(tiny_synthetic: Path, tmp_path: Path) -> None:
    overrides = tiny_overrides(tiny_synthetic, tmp_path)
    res = ccreid("train", Path(__file__).parents[1] / "configs/base.yaml", *overrides)
    assert res.returncode == 0, res.stderr
    assert "| cc |" in res.stdout
    ckpt = tmp_path / "tiny/checkpoints/best.safetensors"
    res = ccreid(
        "eval",
        Path(__file__).parents[1] / "configs/base.yaml",
        "--checkpoint",
        ckpt,
        "--json",
        *overrides,
    )
    assert res.returncode == 0 and '"mAP"' in res.stdout
    res = ccreid("extract", ckpt, tmp_path / "f.npy", "--split", "cc/query")
    assert res.returncode == 0, res.stderr
    import numpy as np

    feats = np.load(tmp_path / "f.npy")
    assert (
        feats.shape[1] == 512
        and len((tmp_path / "f.csv").read_text().splitlines()) == len(feats) + 1
    )
    res = ccreid("data", "stats", "vcclothes", tiny_synthetic)
    assert res.returncode == 0 and "train" in res.stdout


def test_unwritable_output_folder_is_reported(tiny_synthetic: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = ccreid(
        "train",
        Path(__file__).parents[1] / "configs/base.yaml",
        *tiny_overrides(tiny_synthetic, blocker),
    )
    assert res.returncode == 1 and "cannot write to output folder" in res.stderr
