"""Checks of a mask tree against its image tree: coverage, sizes, labels, part histogram."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ccreid.imagefiles import list_images
from ccreid.parsing.labelmaps import LabelMapError, read_label_map
from ccreid.parsing.schemas import PART_NAMES, ParsingSchema, to_parts


@dataclass
class MaskCheck:
    images: int = 0
    masks: int = 0
    missing: list[Path] = field(default_factory=list)  # images without a mask
    orphans: list[Path] = field(default_factory=list)  # masks without an image
    size_mismatch: list[Path] = field(default_factory=list)
    bad_labels: list[Path] = field(default_factory=list)
    part_pixels: np.ndarray = field(
        default_factory=lambda: np.zeros(len(PART_NAMES), dtype=np.int64)
    )

    @property
    def complete(self) -> bool:
        return not (self.missing or self.size_mismatch or self.bad_labels)

    def counts(self) -> dict[str, int]:
        return {"images": self.images, "masks": self.masks, "missing": len(self.missing),
                "orphans": len(self.orphans), "size_mismatch": len(self.size_mismatch),
                "bad_labels": len(self.bad_labels)}  # fmt: skip

    def problems(self) -> list[Path]:
        """Images without a mask, then masks of the wrong size or with foreign labels."""
        return self.missing + self.size_mismatch + self.bad_labels


def check_mask_folders(root: Path, mask_root: Path, schema: str = "atr") -> MaskCheck:
    """``ccreid masks check``: :func:`check_masks` of two folders that must exist."""
    from ccreid.parsing.schemas import get_schema

    for folder in (root, mask_root):
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"folder {folder} does not exist")
    return check_masks(Path(root), Path(mask_root), get_schema(schema))


def check_masks(root: Path, mask_root: Path, schema: ParsingSchema) -> MaskCheck:
    """Every image under ``root`` against its mask; a mask folder inside ``root`` (as
    `ccreid synth` lays it out) holds masks, not images, and is not counted."""
    result = MaskCheck()
    seen = set()
    masks_inside = Path(mask_root).resolve()
    for image_path in list_images(root, recursive=True):
        if image_path.resolve().is_relative_to(masks_inside):
            continue
        result.images += 1
        rel = image_path.relative_to(root).with_suffix(".png")
        seen.add(rel)
        mask_path = mask_root / rel
        if not mask_path.is_file():
            result.missing.append(image_path)
            continue
        try:
            with Image.open(image_path) as im:
                size = (im.height, im.width)
            labels = read_label_map(mask_path)
        except (OSError, UnidentifiedImageError, LabelMapError, Image.DecompressionBombError):
            result.bad_labels.append(mask_path)
            continue
        result.masks += 1
        if labels.shape != size:
            result.size_mismatch.append(mask_path)
            continue
        try:
            parts = to_parts(labels, schema)
        except ValueError:
            result.bad_labels.append(mask_path)
            continue
        result.part_pixels += np.bincount(parts.ravel(), minlength=len(PART_NAMES))
    result.orphans = [
        p for p in sorted(mask_root.rglob("*.png")) if p.relative_to(mask_root) not in seen
    ]
    return result
