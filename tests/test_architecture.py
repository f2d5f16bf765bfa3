"""The shape of the house: which package may import which, short functions, one home for
the run-folder layout, and a server that never loads the training code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "ccreid"
REPO = SRC.parents[1]

# Shared ground every package may stand on.
GROUND = {"errors", "registry", "fileio", "imagefiles", "progress"}
# package -> the ccreid packages it may import (besides itself and the ground).
MAY_IMPORT = {
    # the leaves and the floor below data and models
    "evaluation": set(),
    "losses": set(),
    "parsing": set(),
    "config": set(),
    "web": set(),
    "models": {"config"},
    "data": {"parsing", "config"},
    "synthetic": {"parsing"},
    # inference knows nothing of training; a run folder and the loader sit on it
    "inference": {"models", "data", "parsing", "evaluation", "config"},
    "runfolder": {"config", "inference", "evaluation"},
    "hub": {"inference", "runfolder", "config", "evaluation"},
    "modelfolder": {"hub", "inference", "runfolder", "config", "evaluation", "study"},
    # training, deployment and pictures: never each other's training code
    "engine": {"inference", "data", "models", "losses", "evaluation", "config", "parsing",
               "runfolder", "hub"},
    "retrieval": {"inference", "evaluation", "data", "parsing", "models", "config", "web", "hub"},
    "viz": {"evaluation", "parsing", "models", "inference", "data", "config", "runfolder", "web"},
    # studies (and the demo, one on synthetic data) above training
    "study": {"engine", "runfolder", "config", "data", "evaluation", "viz", "inference", "hub"},
    "demo": {"study", "synthetic", "viz", "config", "data", "runfolder", "inference",
             "evaluation"},
}  # fmt: skip
MAX_FUNCTION_LINES = 60
RUN_FILE_NAMES = ("config.yaml", "metrics.json", "metrics.csv", "results.json", "results.md",
                  "last.safetensors", "best.safetensors", "environment.json", "log.txt")  # fmt: skip


def _package(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 else rel.stem


def _ccreid_imports(path: Path) -> set[str]:
    """Top-level ccreid packages a module imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "ccreid" and len(parts) > 1:
                found.add(parts[1])
    return found


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "configs" not in p.parts)


def test_packages_import_only_the_floors_below_them():
    broken = []
    for path in _modules():
        package = _package(path)
        if package in ("cli", "__init__", "__main__"):
            continue  # the command line may import everything; the package face is lazy
        allowed = MAY_IMPORT.get(package)
        if allowed is None:
            if package not in GROUND:
                broken.append(f"{path.relative_to(SRC)}: package {package!r} has no floor")
            continue
        for imported in _ccreid_imports(path) - GROUND - {package}:
            if imported not in allowed:
                broken.append(f"{path.relative_to(SRC)} imports ccreid.{imported}")
    assert not broken, "\n".join(broken)


def test_the_ground_imports_nothing_above_it():
    for name in GROUND:
        path = SRC / f"{name}.py"
        assert not (_ccreid_imports(path) - GROUND), path


def test_no_function_is_longer_than_sixty_lines():
    long = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({lines})")
    assert not long, "\n".join(long)


def test_only_the_run_folder_spells_the_names_of_a_runs_files():
    spelled = []
    for path in _modules():
        if path.name in ("runfolder.py", "modelfolder.py"):  # a model folder's own layout
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                hits = [n for n in RUN_FILE_NAMES if n in node.value]
                if hits and node.value.strip() in RUN_FILE_NAMES:
                    spelled.append(f"{path.relative_to(SRC)}:{node.lineno} {node.value!r}")
    assert not spelled, "\n".join(spelled)


def test_nothing_cites_a_specification_outside_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    cited = []
    for name in tracked.stdout.splitlines():
        path = REPO / name
        if path.suffix not in (".py", ".md", ".yaml", ".yml", ".toml", ".html", ".js", ".txt"):
            continue
        if name.startswith("tests/test_architecture.py") or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if "SPEC section" in text or "SPEC.md" in text or "../shared" in text:
            cited.append(name)
    assert not cited, cited


SERVE_IMPORTS = """
import sys
import ccreid.retrieval.server, ccreid.retrieval.searcher, ccreid.retrieval.service
import ccreid.inference
training = sorted(m for m in sys.modules if m.startswith(("ccreid.engine", "ccreid.losses",
                  "ccreid.data.samplers", "ccreid.study", "ccreid.demo")))
print(",".join(training))
"""


def test_serving_imports_no_training_code():
    out = subprocess.run([sys.executable, "-c", SERVE_IMPORTS], capture_output=True, text=True,
                         check=True)  # fmt: skip
    assert out.stdout.strip() == "", f"serving imported: {out.stdout.strip()}"
