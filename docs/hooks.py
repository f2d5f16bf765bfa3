"""MkDocs hooks: the CLI and configuration references are generated from the code at every
build (so they cannot drift), and TeX between dollar signs becomes MathML (rendered by the
browser itself: no script, no download)."""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

DOCS = Path(__file__).parent
sys.path.insert(0, str(DOCS))

import reference  # noqa: E402  (docs/reference.py: the generators, also used by the tests)

GENERATED = {"cli.md": reference.cli_page, "config.md": reference.config_page}


def on_page_read_source(page, config):
    """The generated pages' text, made from the code instead of read from the file."""
    make = GENERATED.get(page.file.src_path)
    return make() if make is not None else None


_MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\w$\\])\$(?!\s)([^$\n]+?)(?<!\s)\$(?![\w$])", re.S)
_SKIP = re.compile(r"(<pre.*?</pre>|<code.*?</code>)", re.S)


def _to_mathml(match: re.Match) -> str:
    from latex2mathml.converter import convert

    display, inline = match.group(1), match.group(2)
    tex = html.unescape(display if display is not None else inline)
    return convert(tex, display="block" if display is not None else "inline")


def on_page_content(content: str, page, config, files) -> str:
    """``$...$`` and ``$$...$$`` outside code as MathML."""
    parts = _SKIP.split(content)
    return "".join(p if _SKIP.fullmatch(p) else _MATH.sub(_to_mathml, p) for p in parts)

