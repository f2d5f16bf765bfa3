"""The documentation site builds with --strict: broken links, missing pages or API
references that no longer exist fail the build."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as `make docs` builds it (--strict), once for this module."""
    mkdocs = Path(sys.executable).with_name("mkdocs")
    if not mkdocs.exists():
        pytest.skip("mkdocs is not installed (the dev extra brings it)")
    site = tmp_path_factory.mktemp("docs") / "site"
    res = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(site)], cwd=REPO, capture_output=True,
        text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    return site


@pytest.mark.slow
def test_mkdocs_builds_strictly_and_renders_the_api_and_the_readme_sections(site: Path) -> None:
    api = (site / "api" / "index.html").read_text()
    assert "Load a dataset by registered name" in api  # docstrings, not hand-written text
    assert "Body shape-guided attention" in api
    assert "Training pipeline" in (site / "performance" / "index.html").read_text()
    assert "test_faults.py" in (site / "reliability" / "index.html").read_text()


# The text a reader sees, code blocks left out (a `$` or a role may stand in code).
PROSE = """() => { const page = (document.querySelector('article') || document.body).cloneNode(true);
  page.querySelectorAll('pre, code, script, style').forEach(e => e.remove());
  return page.innerText; }"""


@pytest.mark.slow
@pytest.mark.parametrize(("page", "equations"), [("api", 0), ("method", 10), ("evaluation", 2)])
def test_a_page_renders_its_docstrings_and_equations_in_chromium(
    site: Path, page: str, equations: int
) -> None:
    """No raw `:class:`/`:func:` roles and no unrendered `$...$`; equations as MathML with
    a width (the browser drew them); no code block cut off."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (make test installs it when it can)")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with playwright.sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        except Exception as exc:  # e.g. a chromium too old or too new for this driver
            pytest.skip(f"playwright cannot drive {chromium}: {str(exc).splitlines()[0]}")
        tab = browser.new_page()
        tab.goto((site / page / "index.html").as_uri())
        prose = tab.evaluate(PROSE)
        widths = tab.eval_on_selector_all(
            "math", "ms => ms.map(m => m.getBoundingClientRect().width)"
        )
        cut = tab.eval_on_selector_all(
            "pre, pre > code", "ps => ps.filter(p => p.scrollWidth > p.clientWidth && "
            "!['auto', 'scroll'].includes(getComputedStyle(p).overflowX) && "
            "getComputedStyle(p).whiteSpace === 'pre').length",
        )  # fmt: skip
        browser.close()
    assert len(prose) > 500, prose
    assert not re.findall(r":(?:class|func|meth|mod|attr|obj):`", prose)
    assert not re.findall(r"\$[^$\n]+\$", prose)
    assert len(widths) >= equations and all(w > 0 for w in widths), widths
    assert cut == 0


def test_every_page_is_in_the_navigation() -> None:
    nav = (REPO / "mkdocs.yml").read_text()
    pages = {p.name for p in (REPO / "docs").glob("*.md")}
    assert pages and all(page in nav for page in pages)
