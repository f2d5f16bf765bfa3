"""Which files are images, and the one way the project lists them (datasets, parsing,
retrieval all use it)."""

from __future__ import annotations

from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def list_images(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (or below it with ``recursive``), sorted."""
    pattern = "**/*" if recursive else "*"
    return sorted(
        p for p in Path(folder).glob(pattern) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
    )
