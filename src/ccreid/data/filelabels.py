"""Identity, camera and outfit of loose image files (a search gallery, a query), read by a
dataset layout's own naming rules: the one place those rules live is the layout's module
(`DatasetLayout.file_labels`); this module only picks the layout and collects the answers.

A label the names do not carry stays unknown (None), never a made-up value. Outfits are
kept as text (PRCC's "AB", DeepChange's outfit token, VC-Clothes' number) and mean "the
same clothes" only together with the identity: two people's outfit 1 are not one outfit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ccreid.data.layouts import DATASETS, DatasetError

AUTO, NO_LAYOUT = "auto", "none"


@dataclass(frozen=True)
class FileLabels:
    """What is known about one file; None where it is not known."""

    pid: int | None = None
    camid: int | None = None
    clothes: str | None = None

    def or_else(self, other: FileLabels) -> FileLabels:
        """These labels, each unknown one taken from ``other``."""

        def pick(mine, theirs):
            return theirs if mine is None else mine

        return FileLabels(pick(self.pid, other.pid), pick(self.camid, other.camid),
                          pick(self.clothes, other.clothes))  # fmt: skip

    def same_outfit(self, other: FileLabels) -> bool | None:
        """Whether two files show one person in one outfit (None: not known)."""
        if None in (self.pid, self.clothes, other.pid, other.clothes):
            return None
        return self.pid == other.pid and self.clothes == other.clothes


UNKNOWN = FileLabels()


def layout_choices() -> str:
    return ", ".join([AUTO, NO_LAYOUT, *DATASETS.names()])


def labels_by(layout: str, path: Path) -> FileLabels | None:
    """The labels layout ``layout`` reads from ``path``'s name, or None when it does not
    follow that layout's rules."""
    rec = DATASETS.get(layout)().file_labels(Path(path))
    if rec is None:
        return None
    return FileLabels(rec.pid, rec.camid, None if rec.clothes is None else str(rec.clothes))


def _parses_all(layout: str, files: Sequence[Path]) -> bool:
    try:
        return all(labels_by(layout, f) is not None for f in files)
    except TypeError:  # a layout that needs options (none does today) cannot be guessed
        return False


def detect_layout(files: Sequence[Path]) -> str | None:
    """The one registered layout whose naming rules read every file, else None (no layout,
    or several that would read the names differently)."""
    if not files:
        return None
    found = [name for name in DATASETS.names() if _parses_all(name, files)]
    return found[0] if len(found) == 1 else None


def resolve_layout(layout: str, files: Sequence[Path]) -> str | None:
    """``auto`` -> the detected layout (or None), ``none`` -> None, a registered name ->
    itself (checked against the registry: an unknown name lists the known ones)."""
    if layout == AUTO:
        return detect_layout(files)
    if layout == NO_LAYOUT:
        return None
    if layout not in DATASETS:
        raise DatasetError(f"unknown layout {layout!r}; expected one of {layout_choices()}")
    return layout


def labels_of(files: Sequence[Path], layout: str | None, strict: bool = True) -> list[FileLabels]:
    """Labels of every file by ``layout`` (a resolved name or None: all unknown). With a
    layout, every file must follow its rules (the first that does not is named), or, not
    ``strict``, one that does not is unknown."""
    if layout is None:
        return [UNKNOWN] * len(files)
    out = []
    for f in files:
        labels = labels_by(layout, f)
        if labels is None and not strict:
            labels = UNKNOWN
        if labels is None:
            raise DatasetError(
                f"{f} is not named by the {layout} layout's rules: give another --layout, "
                "or --layout none to index without labels"
            )
        out.append(labels)
    return out
