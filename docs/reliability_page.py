"""The reliability page (docs/reliability.md), generated from the tests' `reliability` markers.

Each row lives beside the test that backs it, as
`@pytest.mark.reliability(tried=..., happens=..., also=(...))`, so a row cannot outlive its
test. The test files are read with `ast`, never imported or run. After adding or changing a
marker: `python docs/reliability_page.py > docs/reliability.md`.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"

# Page sections in order, and the test files whose rows they hold (rows follow this file order).
AREAS: dict[str, tuple[str, ...]] = {
    "Training and checkpoints": (
        "test_faults.py",
        "test_engine.py",
        "test_engine_memory.py",
        "test_trained_model.py",
        "test_samplers.py",
        "test_losses.py",
    ),
    "Configs": ("test_robustness_config.py", "test_packaging.py"),
    "Datasets and masks": (
        "test_data_loaders.py",
        "test_more_datasets.py",
        "test_robustness_data.py",
        "test_data_transforms.py",
        "test_bad_files.py",
        "test_parsing_schemas.py",
        "test_parsing_parser.py",
        "test_synthetic.py",
    ),
    "Evaluation": ("test_evaluation_metrics.py", "test_evaluation_distance.py"),
    "Models": ("test_models.py", "test_mask_head.py"),
    "Command line": (
        "test_cli.py",
        "test_robustness_cli.py",
        "test_robustness_users.py",
        "test_robustness_run_files.py",
        "test_demo.py",
    ),
    "Index and search": (
        "test_index_integrity.py",
        "test_robustness_index.py",
        "test_retrieval.py",
    ),
    "Serving": ("test_serve.py",),
    "Video": ("test_video_sampling.py",),
}
OTHER = "Other"

INTRO = (
    "What was tried on purpose, and what happens: every row is backed by the named test, and "
    "this page is generated from the tests' `reliability` markers "
    "(`python docs/reliability_page.py > docs/reliability.md`)."
)
HEADER = "| tried | what happens | test |\n|---|---|---|"


class MarkerError(ValueError):
    """A `reliability` marker the page cannot be made from (names the file and line)."""


@dataclass(frozen=True)
class Row:
    """One marker: the test it sits on (file name, function name) and the row's text."""

    file: str
    test: str
    tried: str
    happens: str
    also: tuple[str, ...] = ()

    def tests(self) -> list[str]:
        """The backing tests as `file.py::name`, the marked one first."""
        return [f"{self.file}::{self.test}"] + [
            name if "::" in name else f"{self.file}::{name}" for name in self.also
        ]


def _is_reliability(node: ast.expr) -> bool:
    """Whether `node` is `pytest.mark.reliability`, called or bare."""
    func = node.func if isinstance(node, ast.Call) else node
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "reliability"
        and isinstance(func.value, ast.Attribute)
        and func.value.attr == "mark"
        and isinstance(func.value.value, ast.Name)
        and func.value.value.id == "pytest"
    )


def _row(path: Path, test: str, node: ast.expr) -> Row:
    """The row of one marker; anything but literal keyword arguments is refused, not dropped."""
    where = f"{path}:{node.lineno}"
    if not isinstance(node, ast.Call) or node.args:
        raise MarkerError(f"{where}: write the marker as reliability(tried=..., happens=...)")
    values = {}
    for kw in node.keywords:
        if kw.arg not in ("tried", "happens", "also"):
            raise MarkerError(f"{where}: unknown argument {kw.arg!r} (tried, happens, also)")
        try:
            values[kw.arg] = ast.literal_eval(kw.value)
        except (ValueError, TypeError):
            raise MarkerError(f"{where}: {kw.arg} must be a literal") from None
    tried, happens, also = values.get("tried"), values.get("happens"), values.get("also", ())
    if not (isinstance(tried, str) and isinstance(happens, str)):
        raise MarkerError(f"{where}: tried= and happens= must both be strings")
    if not (isinstance(also, (tuple, list)) and all(isinstance(a, str) for a in also)):
        raise MarkerError(f"{where}: also= must be a tuple of test names")
    return Row(path.name, test, tried, happens, tuple(also))


def _functions(tree: ast.Module) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Test functions in source order, methods named `Class::method`."""
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append((node.name, node))
        elif isinstance(node, ast.ClassDef):
            found += [
                (f"{node.name}::{m.name}", m)
                for m in node.body
                if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))
            ]
    return found


def file_rows(path: Path) -> list[Row]:
    """The rows of one test file, in the order of its functions and their decorators."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        _row(path, name, dec)
        for name, func in _functions(tree)
        for dec in func.decorator_list
        if _is_reliability(dec)
    ]


def rows(tests_dir: Path) -> list[Row]:
    """Every marker of every `test_*.py` under `tests_dir`, file by file (sorted names)."""
    return [row for path in sorted(tests_dir.glob("test_*.py")) for row in file_rows(path)]


def area_of(file: str) -> str:
    """The page section of a test file; files no area names go under "Other"."""
    return next((area for area, files in AREAS.items() if file in files), OTHER)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _line(row: Row) -> str:
    refs = ", ".join(f"`tests/{ref}`" for ref in row.tests())
    return f"| {_cell(row.tried)} | {_cell(row.happens)} | {refs} |"


def _file_order(file: str) -> tuple[int, str]:
    """Where a file's rows go within its area: the mapping's order, then unmapped files by name."""
    files = AREAS.get(area_of(file), ())
    return (files.index(file) if file in files else len(files), file)


def render(tests_dir: Path) -> str:
    """The whole page as Markdown: title, one sentence, then a table per area."""
    found = sorted(rows(tests_dir), key=lambda row: _file_order(row.file))  # stable sort
    parts = ["# Reliability", INTRO]
    for area in [*AREAS, OTHER]:
        lines = [_line(row) for row in found if area_of(row.file) == area]
        if lines:
            parts += [f"## {area}", "\n".join([HEADER, *lines])]
    return "\n\n".join(parts) + "\n"


def main() -> None:
    """Print the page (UTF-8, whatever the console's encoding)."""
    sys.stdout.buffer.write(render(TESTS).encode("utf-8"))


if __name__ == "__main__":
    main()
