"""The two ways tests run the command line: in process (fast, through ``cli.main`` as the
console script calls it) and as the installed ``ccreid`` console script in a subprocess
(for what a user sees: usage messages, exit codes, tracebacks)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def invoke(args, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> CliResult:
    """``ccreid ARGS`` through ``ccreid.cli.main`` in this process."""
    from ccreid import cli

    monkeypatch.setattr(sys, "argv", ["ccreid", *map(str, args)])
    with pytest.raises(SystemExit) as exc:
        cli.main()
        raise SystemExit(0)
    captured = capsys.readouterr()
    return CliResult(int(exc.value.code or 0), captured.out, captured.err)


def console_script(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The installed ``ccreid`` script beside this interpreter, in a subprocess."""
    script = Path(sys.executable).with_name("ccreid")
    if not script.exists():
        pytest.fail(f"the console script {script} is not installed (pip install -e .)")
    return subprocess.run(
        [str(script), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600
    )
