"""Human-parsing label schemas and their merge into the 7 parts of CRE (docs/conventions.md#parts)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import torch

from ccreid.errors import InputError, UnknownNameError


class Part(IntEnum):
    """The 7 merged parts of the paper (Sec. 3.1)."""

    BACKGROUND = 0
    HEAD = 1
    TOPS = 2
    BOTTOMS = 3
    DRESS = 4
    ARM = 5
    LOWER_LIMBS = 6


PART_NAMES: tuple[str, ...] = tuple(p.name.lower() for p in Part)
CLOTHES_PARTS: tuple[Part, ...] = (Part.TOPS, Part.BOTTOMS, Part.DRESS)


@dataclass(frozen=True)
class ParsingSchema:
    """A parser's label names (index = label value) and the part each label merges into."""

    name: str
    labels: tuple[str, ...]
    to_part: tuple[Part, ...]

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.to_part):
            raise InputError(
                f"schema {self.name}: {len(self.labels)} labels, {len(self.to_part)} parts"
            )

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def lookup_table(self) -> np.ndarray:
        """uint8 table: parts = table[labels]. Labels outside the schema map to 255."""
        table = np.full(256, 255, dtype=np.uint8)
        table[: self.num_labels] = [int(p) for p in self.to_part]
        return table


def _schema(name: str, entries: list[tuple[str, Part]]) -> ParsingSchema:
    return ParsingSchema(name, tuple(n for n, _ in entries), tuple(p for _, p in entries))


P = Part
ATR = _schema(
    "atr",
    [
        ("background", P.BACKGROUND), ("hat", P.HEAD), ("hair", P.HEAD), ("sunglasses", P.HEAD),
        ("upper-clothes", P.TOPS), ("skirt", P.BOTTOMS), ("pants", P.BOTTOMS), ("dress", P.DRESS),
        ("belt", P.BOTTOMS), ("left-shoe", P.LOWER_LIMBS), ("right-shoe", P.LOWER_LIMBS),
        ("face", P.HEAD), ("left-leg", P.LOWER_LIMBS), ("right-leg", P.LOWER_LIMBS),
        ("left-arm", P.ARM), ("right-arm", P.ARM), ("bag", P.TOPS), ("scarf", P.TOPS),
    ],
)  # fmt: skip
LIP = _schema(
    "lip",
    [
        ("background", P.BACKGROUND), ("hat", P.HEAD), ("hair", P.HEAD), ("glove", P.ARM),
        ("sunglasses", P.HEAD), ("upper-clothes", P.TOPS), ("dress", P.DRESS), ("coat", P.TOPS),
        ("socks", P.LOWER_LIMBS), ("pants", P.BOTTOMS), ("jumpsuits", P.DRESS), ("scarf", P.TOPS),
        ("skirt", P.BOTTOMS), ("face", P.HEAD), ("left-arm", P.ARM), ("right-arm", P.ARM),
        ("left-leg", P.LOWER_LIMBS), ("right-leg", P.LOWER_LIMBS), ("left-shoe", P.LOWER_LIMBS),
        ("right-shoe", P.LOWER_LIMBS),
    ],
)  # fmt: skip
PARTS = _schema("parts", [(name, Part(i)) for i, name in enumerate(PART_NAMES)])
SCHEMAS: dict[str, ParsingSchema] = {s.name: s for s in (ATR, LIP, PARTS)}


def get_schema(name: str) -> ParsingSchema:
    try:
        return SCHEMAS[name.lower()]
    except KeyError:
        raise UnknownNameError(
            f"unknown parsing schema {name!r}; known: {', '.join(SCHEMAS)}"
        ) from None


def normalise_label_name(name: str) -> str:
    """'Upper-clothes', 'upper_clothes', 'Upper clothes' -> 'upper-clothes'."""
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def to_parts(labels: np.ndarray, schema: ParsingSchema | str = ATR) -> np.ndarray:
    """Merge a label map into the 7 parts with one table lookup.

    Raises ``ValueError`` if a label is outside the schema (e.g. a LIP map read as ATR).
    """
    schema = get_schema(schema) if isinstance(schema, str) else schema
    labels = np.asarray(labels)
    if labels.dtype != np.uint8:
        if labels.size and (labels.min() < 0 or labels.max() > 255):
            raise InputError(f"labels outside 0..255 for schema {schema.name}")
        labels = labels.astype(np.uint8)
    parts = schema.lookup_table()[labels]
    if labels.size and parts.max() == 255:
        bad = sorted(set(np.unique(labels[parts == 255]).tolist()))
        raise InputError(
            f"labels {bad} are outside the {schema.name} schema (0..{schema.num_labels - 1})"
        )
    return parts


def body_mask(parts: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Binary body-shape mask M: 1 where the part is not background."""
    return (
        (parts != Part.BACKGROUND).astype(np.uint8)
        if isinstance(parts, np.ndarray)
        else (parts != Part.BACKGROUND).to(torch.uint8)
    )


def clothes_mask(parts: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """True where the part is tops, bottoms or dress: the pixels CRE erases (eq. 1)."""
    return (parts >= Part.TOPS) & (parts <= Part.DRESS)


def erase_clothes(image: np.ndarray | torch.Tensor, parts: np.ndarray | torch.Tensor):
    """CRE: set every clothes pixel to 0 in all channels (eq. 1), before normalisation.

    ``image`` is HxWxC (numpy) or CxHxW / BxCxHxW (torch); ``parts`` is HxW (or BxHxW).
    Returns a new array; the input is untouched.
    """
    erase = clothes_mask(parts)
    if isinstance(image, np.ndarray):
        if image.shape[:2] != erase.shape:
            raise InputError(f"image {image.shape[:2]} and parts {erase.shape} differ in size")
        return np.where(erase[..., None], np.zeros((), image.dtype), image)
    if image.shape[-2:] != erase.shape[-2:]:
        raise InputError(
            f"image {tuple(image.shape[-2:])} and parts {tuple(erase.shape[-2:])} differ in size"
        )
    return image.masked_fill(erase.unsqueeze(-3), 0)
