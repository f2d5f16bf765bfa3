"""The command line: help, one-line errors with non-zero exit, and the main paths."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cli_helpers import console_script as ccreid
from conftest import tiny_overrides

from ccreid import cli as cli_module


def _names(app) -> set[str]:
    """The command and group names a typer app registers."""
    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    return names | {g.name for g in app.registered_groups}


def test_help_lists_every_registered_command() -> None:
    registered = _names(cli_module.app)
    assert {"demo", "synth", "train", "eval", "extract", "data", "parse", "masks", "visualize",
            "index", "search", "export"} <= registered  # fmt: skip
    out = ccreid("--help").stdout
    listed = set(re.findall(r"^[│|] ([a-z][a-z-]*)\s{2,}", out, re.M))
    assert listed == registered


@pytest.mark.reliability(
    tried="a typo: `ccreid nosuchcmd`, `ccreid train`, `ccreid eval CONFIG`",
    happens="click's usage message, exit 2, from the installed console script",
)
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchcmd"], "No such command"),
        (["train"], "Missing argument"),
        (["eval", "configs/base.yaml"], "missing --model/-m"),
        (["demo", "--seeds", "0"], "--seeds must be >= 1"),
        (["demo", "--resume", "--overwrite"], "pass one"),
    ],
)
def test_usage_mistakes_give_the_short_usage_message_and_exit_2(args, message) -> None:
    res = ccreid(*args, cwd=Path(__file__).parents[1])
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and "Usage:" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.splitlines()) < 12


@pytest.mark.reliability(
    tried="a programming error (e.g. a `KeyError`)",
    happens='its traceback and a request to report it, never a one-line "user error"',
)
def test_a_bug_shows_its_traceback_and_asks_for_a_report(cli, monkeypatch) -> None:
    """A KeyError from a programming error must not read like a user error."""

    def broken(*_a, **_k):
        raise KeyError("scheduler")

    monkeypatch.setattr("ccreid.data.load_dataset", broken)
    res = cli("data", "stats", "vcclothes", ".")
    assert res.code == 1
    assert "Traceback" in res.err and "KeyError: 'scheduler'" in res.err
    assert "This is a bug in ccreid" in res.err


def test_an_unknown_name_is_a_user_error_in_one_line(cli) -> None:
    res = cli("data", "stats", "duke", ".", expect=1)
    assert res.err.startswith("error: unknown dataset 'duke'") and "Traceback" not in res.err


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


@pytest.mark.reliability(
    tried="CLI: `--debug`",
    happens="the original exception and traceback",
    also=("test_robustness_cli.py::test_debug_flag_shows_the_traceback_in_process",),
)
def test_debug_shows_the_traceback() -> None:
    res = ccreid("--debug", "train", "missing.yaml")
    assert res.returncode != 0 and "Traceback" in res.stderr


def test_train_eval_extract_and_stats_on_tiny_data(tiny_synthetic: Path, tmp_path: Path) -> None:
    overrides = tiny_overrides(tiny_synthetic, tmp_path)
    res = ccreid("train", Path(__file__).parents[1] / "configs/base.yaml", *overrides)
    assert res.returncode == 0, res.stderr
    assert "| cc |" in res.stdout
    ckpt = tmp_path / "tiny/checkpoints/last.safetensors"
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


WEIRD = "'we[ird] [bold]x[/bold] \"q\"'"  # brackets, a rich tag, quotes at both ends


@pytest.mark.reliability(
    tried="a path with `[weird]`, `[bold]x[/bold]` and quotes in an error",
    happens="printed verbatim, nothing stripped",
)
def test_messages_print_verbatim_through_the_console_script(tmp_path: Path) -> None:
    """Rich markup used to eat "[...]" and the printer stripped quotes at the ends."""
    run = tmp_path / WEIRD  # "[/bold]" holds a "/": a folder inside a folder
    run.mkdir(parents=True)
    res = ccreid("compare", WEIRD, cwd=tmp_path)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    expected = f"error: {WEIRD} is not a finished run of `ccreid train` (config.yaml is missing)\n"
    assert res.stderr == expected


@pytest.mark.reliability(
    tried="`ccreid parse` without transformers",
    happens=(
        "`… pip install 'ccreid[parse]'` in full (same code path for index, search, export, serve)"
    ),
)
def test_a_missing_extra_names_it_whole(tmp_path: Path) -> None:
    """A base install without transformers: the hint keeps its "[parse]" and last quote."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['transformers'] = None\n"  # import transformers -> ImportError
        "from ccreid import cli\n"
        "sys.argv = ['ccreid', 'parse', sys.argv[1], '--out', sys.argv[2]]\n"
        "cli.main()\n"
    )
    images, out = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    res = subprocess.run([sys.executable, "-c", code, str(images), str(out)],
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.rstrip().endswith(
        "needs the 'transformers' package: pip install 'ccreid[parse]'"
    )
    assert not out.exists()


@pytest.mark.reliability(
    tried="`ccreid search` with bracketed query and gallery names",
    happens="paths printed verbatim",
)
def test_search_prints_query_and_gallery_paths_verbatim(
    cli, tiny_checkpoint: Path, tiny_synthetic: Path, tmp_path: Path
) -> None:
    import shutil

    gallery, masks = tmp_path / "g[allery]", tmp_path / "[bold]m[/bold]"
    gallery.mkdir()
    masks.mkdir(parents=True)
    source = tiny_synthetic / "VC-Clothes" / "gallery"
    for i, p in enumerate(sorted(source.glob("*.jpg"))[:3]):
        name = f"we[ird]{i} [red]'.jpg"
        shutil.copy(p, gallery / name)
        mask = tiny_synthetic / "masks" / "VC-Clothes" / "gallery" / p.with_suffix(".png").name
        shutil.copy(mask, masks / Path(name).with_suffix(".png"))
    cli("index", "build", tiny_checkpoint, gallery, "--out", tmp_path / "idx", "--mask-root",
        masks, expect=0)  # fmt: skip
    query = gallery / "we[ird]0 [red]'.jpg"
    res = cli("search", tmp_path / "idx", query, "--mask-root", masks, "--top-k", "3", expect=0)
    lines = res.out.splitlines()
    assert lines[0] == str(query)
    assert lines[1].startswith("    1  ") and lines[1].endswith(str(query))
