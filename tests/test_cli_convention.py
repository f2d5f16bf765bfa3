"""The front door: one CLI convention for every command, messages printed verbatim, a
version, completion, a run folder that records itself, and a package that says what it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import typer.main
import yaml

import ccreid
from ccreid.cli import app

REPO = Path(__file__).resolve().parents[1]
CCREID = str(Path(sys.executable).with_name("ccreid"))

# What the convention promises, written out here (not read from the code under test).
RUNS_A_MODEL = {"eval", "extract", "search", "serve", "index build", "index add", "export onnx"}
WRITES_AN_OUTPUT = {"demo", "synth", "extract", "visualize", "compare", "package", "study",
                    "masks show", "index build", "export onnx", "parse"}  # fmt: skip
PRINTS_RESULTS = {"parse", "demo", "train", "eval", "extract", "compare", "search", "package",
                  "study", "data stats", "masks check", "index build", "index add",
                  "export onnx"}  # fmt: skip


def _commands() -> dict[str, object]:
    def walk(group, prefix: str = ""):
        for name, cmd in group.commands.items():
            if hasattr(cmd, "commands"):
                yield from walk(cmd, f"{prefix}{name} ")
            else:
                yield f"{prefix}{name}", cmd

    return dict(walk(typer.main.get_command(app)))


def _options(cmd) -> set[str]:
    return {
        o for p in cmd.params for o in (*getattr(p, "opts", ()), *getattr(p, "secondary_opts", ()))
    }


def _run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([CCREID, *args], capture_output=True, text=True, timeout=300, **kw)


def test_every_command_follows_the_convention() -> None:
    commands = _commands()
    assert set(commands) >= RUNS_A_MODEL | WRITES_AN_OUTPUT | PRINTS_RESULTS
    for name in RUNS_A_MODEL:
        assert {"--model", "-m", "--device"} <= _options(commands[name]), name
    for name in WRITES_AN_OUTPUT:
        assert {"--out", "-o"} <= _options(commands[name]), name
    for name in PRINTS_RESULTS:
        assert "--json" in _options(commands[name]), name


def test_version_help_and_completion_exit_zero() -> None:
    version = _run("--version")
    assert version.returncode == 0 and ccreid.__version__ in version.stdout
    from typer.testing import CliRunner

    for name in _commands():  # in process: one interpreter start for all of them
        res = CliRunner().invoke(app, [*name.split(), "-h"])
        assert res.exit_code == 0 and "Usage" in res.output, (name, res.output)
    completion = _run("--show-completion", "bash", env={**os.environ, "SHELL": "/bin/bash"})
    assert completion.returncode == 0 and "complete" in completion.stdout


def test_messages_with_brackets_quotes_and_tags_print_verbatim(tmp_path: Path) -> None:
    name = 'we[ird] "q" [red]x[/red].jpg'
    res = _run("masks", "show", str(tmp_path / name), "--mask", str(tmp_path / "m.png"),
               "-o", str(tmp_path / "o.png"))  # fmt: skip
    assert res.returncode == 1 and str(tmp_path / name) in res.stderr, res.stderr


def test_a_missing_extra_is_named_in_full(tmp_path: Path) -> None:
    idx = tmp_path / "idx"
    idx.mkdir()
    (idx / "info.json").write_text(json.dumps({"dim": 4, "kind": "flat", "checkpoint": "m",
                                               "fingerprint": "0"}))  # fmt: skip
    (idx / "index.faiss").write_bytes(b"")
    (idx / "meta.csv").write_text("path,pid,camid,clothes\n")
    script = (
        "import sys; sys.modules['faiss'] = None; "
        f"sys.argv = ['ccreid', 'search', {str(idx)!r}, 'q.jpg']; "
        "from ccreid.cli import main; main()"
    )
    res = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 1
    assert "needs the 'faiss' package: pip install 'ccreid[retrieval]'" in res.stderr, res.stderr


def test_old_spellings_work_and_warn(
    tiny_synthetic: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    gallery = tiny_synthetic / "VC-Clothes" / "gallery"
    masks = tiny_synthetic / "masks" / "VC-Clothes" / "gallery"
    res = _run("index", "build", str(tiny_checkpoint), str(gallery), "-o", str(tmp_path / "idx"),
               "--mask-root", str(masks))  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "warning: `ccreid index build MODEL GALLERY` is deprecated" in res.stderr
    assert "indexed 32 images" in res.stdout


@pytest.mark.slow
def test_a_run_folder_records_itself_off_a_terminal(tiny_synthetic: Path, tmp_path: Path) -> None:
    from conftest import tiny_overrides

    log = tmp_path / "out.log"
    with log.open("w") as fh:
        res = subprocess.run([CCREID, "train", str(REPO / "configs/base.yaml"),
                              *tiny_overrides(tiny_synthetic, tmp_path)],
                             stdout=fh, stderr=subprocess.STDOUT, cwd=tmp_path, timeout=600)  # fmt: skip
    shown = log.read_text()
    assert res.returncode == 0, shown
    first = shown.splitlines()[0]
    assert "device cpu" in first and "precision" in first and "run folder" in first
    assert "training on vcclothes" in shown and "epoch 1/1" in shown
    run = tmp_path / "tiny"
    written = (run / "log.txt").read_text()
    for line in ("epoch 1/1", "| cc |", "training on vcclothes"):
        assert line in written
    env = json.loads((run / "environment.json").read_text())
    assert {"ccreid", "torch", "torchvision"} <= set(env["versions"])
    assert env["device"] == "cpu" and env["precision"] and env["machine"]
    assert "git" in env and env["command"][1] == "train"


def test_the_readme_is_a_front_door() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    setup = readme[: readme.index("make test") + len("make test")]
    assert "make demo" in setup and len(setup.splitlines()) < 40
    for page in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        text = page.read_text()
        for narration in ("SPEC.md", "../shared", "this session", "issue #"):
            assert narration not in text, (page.name, narration)


@pytest.mark.slow
def test_the_wheel_carries_license_authors_urls_and_classifiers(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(REPO)], check=True, timeout=600)  # fmt: skip
    wheel = next(tmp_path.glob("ccreid-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert any(n.endswith("LICENSE") for n in names)
    for field in ("License-Expression: ", "Author", "Project-URL: ", "Classifier: ",
                  "Requires-Python: "):  # fmt: skip
        assert field in meta, field
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] and cff["title"] and cff["authors"]
