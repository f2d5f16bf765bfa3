"""Jinja2 templates, CSS and the page script, shared by `ccreid serve` and the reports."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

HERE = Path(__file__).parent
STATIC = HERE / "static"


@lru_cache(maxsize=1)
def templates() -> Environment:
    """The package's templates, HTML-escaped by default."""
    return Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape())


def stylesheet() -> str:
    return (STATIC / "style.css").read_text(encoding="utf-8")
