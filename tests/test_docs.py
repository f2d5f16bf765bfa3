"""The documentation site builds with --strict: broken links, missing pages or API
references that no longer exist fail the build."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_mkdocs_builds_strictly_and_renders_the_api_and_the_readme_sections(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).with_name("mkdocs")
    if not mkdocs.exists():
        pytest.skip("mkdocs is not installed (the dev extra brings it)")
    site = tmp_path / "site"
    res = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(site)], cwd=REPO, capture_output=True,
        text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    api = (site / "api" / "index.html").read_text()
    assert "Load a dataset by registered name" in api  # docstrings, not hand-written text
    assert "Body shape-guided attention" in api
    assert "Training pipeline" in (site / "performance" / "index.html").read_text()
    assert "test_faults.py" in (site / "reliability" / "index.html").read_text()
    shutil.rmtree(site)


def test_every_page_is_in_the_navigation() -> None:
    nav = (REPO / "mkdocs.yml").read_text()
    pages = {p.name for p in (REPO / "docs").glob("*.md")}
    assert pages and all(page in nav for page in pages)
