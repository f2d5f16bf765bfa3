"""The demo pipeline on a tiny budget: report files, pictures, numbers, and the page in Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from ccreid.demo import run_demo


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_demo(tmp_path_factory.mktemp("demo"), budget="tiny", seed=0)


def test_report_files_exist_and_pictures_decode(demo_report: Path) -> None:
    folder = demo_report.parent
    md = (folder / "report.md").read_text()
    refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert {"curves.png", "ranked_lists.png", "attention.png", "cre.png"} <= set(refs)
    for ref in refs:
        with Image.open(folder / ref) as im:
            im.load()
            assert im.width > 100 and im.height > 100


def test_html_is_self_contained_and_holds_the_table(demo_report: Path) -> None:
    page = demo_report.read_text()
    srcs = re.findall(r"src='([^']+)'", page)
    assert len(srcs) == 4 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "http" not in page.replace("http-equiv", "")
    cells = re.findall(r"<td>([0-9.]+)</td>", page)
    assert len(cells) == 4 * 9  # 4 variants x (general, sc, cc) x (top-1, top-5, mAP)
    assert all(0.0 <= float(c) <= 100.0 for c in cells)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    _chromium() is None,
    reason="Debian's chromium is not installed (make test installs it when it can)",
)
def test_page_renders_the_table_in_headless_chromium(demo_report: Path) -> None:
    out = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={demo_report.parent / 'chrome-profile'}", "--dump-dom", demo_report.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    dom = out.stdout
    assert "<table>" in dom and "CRE+BSGA" in dom and "cc mAP" in dom
