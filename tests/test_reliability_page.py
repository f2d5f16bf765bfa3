"""The reliability page is a rendering of the tests' `reliability` markers: it cannot drift
from them, and every row names tests that exist."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
PAGE = REPO / "docs" / "reliability.md"
REGENERATE = "python docs/reliability_page.py > docs/reliability.md"


def _load_page_module():
    """docs/ is no package: load docs/reliability_page.py from its path."""
    spec = importlib.util.spec_from_file_location(
        "reliability_page", REPO / "docs/reliability_page.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


page = _load_page_module()


def _test_functions(file: str) -> set[str]:
    """Names of the test functions defined at the top of a test file."""
    tree = ast.parse((TESTS / file).read_text(encoding="utf-8"))
    return {
        n.name
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("test")
    }


def test_the_committed_page_is_the_rendering_of_the_markers() -> None:
    committed = PAGE.read_text(encoding="utf-8")
    assert committed == page.render(TESTS), (
        f"docs/reliability.md is out of date: run `{REGENERATE}`"
    )


def test_every_marker_says_what_was_tried_and_what_happens() -> None:
    empty = [
        f"{row.file}::{row.test}"
        for row in page.rows(TESTS)
        if not (row.tried.strip() and row.happens.strip())
    ]
    assert not empty, f"reliability markers with an empty tried= or happens=: {empty}"


def test_every_also_names_a_test_that_exists() -> None:
    missing = []
    for row in page.rows(TESTS):
        for ref in row.tests()[1:]:
            file, name = ref.split("::", 1)
            if not (TESTS / file).is_file() or name not in _test_functions(file):
                missing.append(f"{row.file}::{row.test} names {ref}")
    assert not missing, "also= names tests that do not exist:\n" + "\n".join(missing)


def test_the_page_has_at_least_a_hundred_rows() -> None:
    table = [
        line for line in PAGE.read_text(encoding="utf-8").splitlines() if line.startswith("| ")
    ]
    headers = [line for line in table if line == "| tried | what happens | test |"]
    assert len(table) - len(headers) >= 100
