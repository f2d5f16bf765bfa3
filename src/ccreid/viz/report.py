"""A report of one or more runs: report.md and a self-contained report.html."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

from ccreid.fileio import atomic_write_text


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
        """One file with the figures inlined as data URIs: it opens anywhere, offline."""
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>{html.escape(self.title)}</title><style>",
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}",
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:4px 10px;"
            "text-align:right}th{background:#eee}td:first-child{text-align:left}img{max-width:100%}",
            "</style></head><body>",
            f"<h1>{html.escape(self.title)}</h1><p>{html.escape(self.intro)}</p>",
        ]
        for caption, header, rows in self.tables:
            parts.append(f"<h2>{html.escape(caption)}</h2><table><tr>")
            parts += [f"<th>{html.escape(h)}</th>" for h in header]
            parts.append("</tr>")
            for r in rows:
                parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>")
            parts.append("</table>")
        for caption, fig in self.figures:
            data = base64.b64encode(fig.read_bytes()).decode()
            parts.append(f"<h2>{html.escape(caption)}</h2><img alt='{html.escape(caption)}' "
                         f"src='data:image/png;base64,{data}'>")  # fmt: skip
        if self.notes:
            parts.append(
                "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in self.notes) + "</ul>"
            )
        parts.append("</body></html>")
        return "".join(parts)

    def write(self, folder: Path) -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        md, page = folder / "report.md", folder / "report.html"
        atomic_write_text(md, self.markdown(folder))
        atomic_write_text(page, self.html())
        return md, page
