"""The CLI and configuration references, generated from the code: the typer application's
commands (every argument, option and default) and the typed config schema (every key, its
type, default, allowed values and the one line of meaning written beside it)."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import sys
import typing
from pathlib import Path


def _params(command) -> list[str]:
    rows = []
    for p in command.params:
        if getattr(p, "hidden", False) or p.name == "help":
            continue
        if p.param_type_name == "argument":
            name = f"`{(p.metavar or p.name).upper()}`" + (" ..." if p.nargs == -1 else "")
            kind, default = "argument", "required" if p.required else "optional"
        else:
            name = ", ".join(f"`{o}`" for o in (*p.opts, *p.secondary_opts))
            kind = "flag" if p.is_flag else p.display_type(None).strip("<>")
            default = "required" if p.required else _default(p.default)
        helptext = (getattr(p, "help", None) or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| {name} | {kind} | {default} | {helptext} |")
    return rows


def _default(value: object) -> str:
    if value is None or value == () or value == []:
        return ""
    return f"`{value}`"


def _commands(group, prefix: str) -> list[tuple[str, object]]:
    out = []
    for name in sorted(group.commands):
        command = group.commands[name]
        if getattr(command, "hidden", False):
            continue
        path = f"{prefix} {name}"
        if hasattr(command, "commands"):  # a group (typer may bring its own click)
            out += _commands(command, path)
        else:
            out.append((path, command))
    return out


def cli_page() -> str:
    """Markdown: the convention every command follows, then every command."""
    import typer

    from ccreid.cli import app

    app_module = sys.modules["ccreid.cli.app"]

    root = typer.main.get_command(app)
    lines = ["# Command-line reference", "", "Generated from the command line itself at every "
             "build of this site.", "", "## Conventions", "",
             inspect.cleandoc(app_module.__doc__.split("\n\n", 1)[1]), ""]  # fmt: skip
    for path, command in _commands(root, "ccreid"):
        text = inspect.cleandoc(command.help or "").replace("Example: ", "\n\nExample:\n\n    ")
        lines += [f"## `{path}`", "", text, ""]
        rows = _params(command)
        if rows:
            lines += ["| argument / option | type | default | meaning |", "|---|---|---|---|",
                      *rows, ""]  # fmt: skip
    return "\n".join(lines)


def field_docs(source: Path) -> dict[tuple[str, str], str]:
    """(class, field) -> the string literal that follows the field in ``source``."""
    docs = {}
    for node in ast.parse(source.read_text()).body:
        if not isinstance(node, ast.ClassDef):
            continue
        for a, b in zip(node.body, node.body[1:], strict=False):
            if (isinstance(a, ast.AnnAssign) and isinstance(a.target, ast.Name)
                    and isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant)
                    and isinstance(b.value.value, str)):  # fmt: skip
                docs[(node.name, a.target.id)] = " ".join(b.value.value.split())
    return docs


def config_rows() -> list[tuple[str, str, str, str, str]]:
    """(key, type, default, allowed values, meaning) of every key of the schema."""
    from ccreid.config import schema

    docs = field_docs(Path(schema.__file__))
    hints = typing.get_type_hints(schema.ExperimentConfig)
    rows = []
    for top in dataclasses.fields(schema.ExperimentConfig):
        section = hints[top.name]
        if not dataclasses.is_dataclass(section):
            rows.append(_row(schema, docs, "ExperimentConfig", top, top.name))
            continue
        for f in dataclasses.fields(section):
            rows.append(_row(schema, docs, section.__name__, f, f"{top.name}.{f.name}"))
    return rows


def _row(schema, docs, owner: str, f: dataclasses.Field, key: str):
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    kind = str(f.type).replace("typing.", "").replace(" | ", " or ")
    allowed = ", ".join(schema.CHOICES.get(key, ()))
    return key, kind, repr(default), allowed, docs.get((owner, f.name), "")


def config_page() -> str:
    """Markdown: one table per section of the config."""
    lines = ["# Configuration reference", "", "Every key of the typed config schema "
             "(`ccreid.config.schema`), generated from it at every build of this site. Set any "
             "key in a YAML file or as `section.key=value` on the command line.", ""]  # fmt: skip
    section = None
    for key, kind, default, allowed, meaning in config_rows():
        head = key.split(".")[0] if "." in key else "top level"
        if head != section:
            section = head
            lines += ["", f"## `{section}`" if section != "top level" else "## Top level", "",
                      "| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]  # fmt: skip
        lines.append(f"| `{key}` | `{kind}` | `{default}` | {allowed} | {meaning} |")
    return "\n".join(lines) + "\n"
