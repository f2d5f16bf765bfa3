"""Progress of long jobs: a bar on a terminal, and off one (a log file, CI, a cluster job)
a plain line every few seconds, flushed, so a log shows the work as it happens."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

PLAIN_EVERY_S = 5.0  # seconds between two plain progress lines


@contextmanager
def progress(console: Console, description: str, total: int | None = None,
             unit: str = "images") -> Iterator[Callable[[int], None]]:  # fmt: skip
    """``with progress(err, "embedding", n) as advance: ... advance(k)``."""
    if console.is_terminal:
        with Progress(TextColumn("{task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                      TimeRemainingColumn(), console=console, transient=True) as bar:  # fmt: skip
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)
        return
    yield PlainProgress(console, description, total, unit)


class PlainProgress:
    """Counts work and prints ``description: done/total unit`` at most every few seconds,
    and once at the end."""

    def __init__(self, console: Console, description: str, total: int | None, unit: str) -> None:
        self.console, self.description, self.total, self.unit = console, description, total, unit
        self.done, self.last = 0, time.monotonic()

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        finished = self.total is not None and self.done >= self.total
        if finished or now - self.last >= PLAIN_EVERY_S:
            self.last = now
            of = f"/{self.total}" if self.total is not None else ""
            self.console.print(Text(f"{self.description}: {self.done}{of} {self.unit}"))
            self.console.file.flush()


class PlainTasks:
    """The part of rich's ``Progress`` the training loop uses (add_task, update,
    remove_task), printing a plain line per task every few seconds instead of a bar."""

    def __init__(self, console: Console, every_s: float = PLAIN_EVERY_S) -> None:
        self.console, self.every_s = console, every_s
        self.tasks: dict[int, dict] = {}

    def __enter__(self) -> PlainTasks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.tasks.clear()

    def add_task(self, description: str, total: int | None = None) -> int:
        task = len(self.tasks) + 1
        self.tasks[task] = {"done": 0, "total": total, "last": time.monotonic()}
        return task

    def update(self, task: int, advance: int = 0, description: str | None = None) -> None:
        state = self.tasks[task]
        state["done"] += advance
        now = time.monotonic()
        if now - state["last"] >= self.every_s and description:
            state["last"] = now
            total = f"/{state['total']}" if state["total"] else ""
            self.console.print(Text(f"{description}  (step {state['done']}{total})"))
            self.console.file.flush()

    def remove_task(self, task: int) -> None:
        self.tasks.pop(task, None)


def task_progress(console: Console):
    """A bar on a terminal, plain lines elsewhere, for loops with named tasks."""
    if console.is_terminal:
        return Progress(TextColumn("{task.description}"), BarColumn(),
                        TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                        TimeRemainingColumn(), console=console, transient=True)  # fmt: skip
    return PlainTasks(console)
