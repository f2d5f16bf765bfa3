"""Which files are images, and the one way the project lists them (datasets, parsing,
retrieval all use it)."""

from __future__ import annotations

from pathlib import Path

from ccreid.errors import InputError

# The formats the pipeline decodes (torchvision for datasets, Pillow for `serve`): each file
# suffix with its Pillow format name. Pillow is never let near any other reader (EPS would
# run Ghostscript), so this is also the list `serve` opens uploads with.
IMAGE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".webp": "WEBP"}
IMAGE_SUFFIXES = tuple(IMAGE_FORMATS)
PIL_FORMATS = tuple(dict.fromkeys(IMAGE_FORMATS.values()))


def format_names(formats: tuple[str, ...] = PIL_FORMATS) -> str:
    """Pillow format names as a message says them: ``JPEG, PNG, BMP or WebP``."""
    names = [{"WEBP": "WebP"}.get(f, f) for f in formats]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


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
