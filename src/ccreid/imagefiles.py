"""Which files are images, and the one way the project lists them (datasets, parsing,
retrieval all use it)."""

from __future__ import annotations

from pathlib import Path

from ccreid.errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def list_images(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (or below it with ``recursive``), sorted. A link named like
    an image that leads nowhere (broken, or a loop) is an error, never silently skipped."""
    pattern = "**/*" if recursive else "*"
    found = []
    for p in Path(folder).glob(pattern):
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if p.is_file():
            found.append(p)
        elif p.is_symlink():
            raise InputError(f"{p} is a link that leads to no file (broken, or a loop)")
    return sorted(found)
