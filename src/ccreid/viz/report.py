"""A report of one or more runs: report.md and a self-contained report.html."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from ccreid.fileio import atomic_write_text
from ccreid.web import stylesheet, templates


@dataclass
class Report:
    title: str
    intro: str = ""
    tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)
    figures: list[tuple[str, Path]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self, folder: Path) -> str:
        out = [f"# {self.title}", "", self.intro, ""]
        for caption, header, rows in self.tables:
            out += [
                f"## {caption}",
                "",
                "| " + " | ".join(header) + " |",
                "|" + "---|" * len(header),
            ]
            out += ["| " + " | ".join(r) + " |" for r in rows]
            out.append("")
        for caption, fig in self.figures:
            out += [f"## {caption}", "", f"![{caption}]({fig.relative_to(folder).as_posix()})", ""]
        out += [f"- {n}" for n in self.notes]
        return "\n".join(out) + "\n"

    def html(self) -> str:
        """One file with the figures inlined as data URIs and the CSS in the page: it opens
        anywhere, offline. Rendered from the package's templates (ccreid.web)."""
        figures = [
            (caption, base64.b64encode(fig.read_bytes()).decode()) for caption, fig in self.figures
        ]
        return templates().get_template("report.html").render(
            title=self.title, css=stylesheet(), intro=self.intro, tables=self.tables,
            figures=figures, notes=self.notes,
        )  # fmt: skip

    def write(self, folder: Path) -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        md, page = folder / "report.md", folder / "report.html"
        atomic_write_text(md, self.markdown(folder))
        atomic_write_text(page, self.html())
        return md, page
