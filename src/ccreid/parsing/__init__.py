"""Parsing schemas, the 7-part merge, body masks and clothes erasure (CRE)."""

from ccreid.parsing.schemas import (
    ATR,
    CLOTHES_PARTS,
    LIP,
    PART_NAMES,
    SCHEMAS,
    ParsingSchema,
    Part,
    body_mask,
    clothes_mask,
    erase_clothes,
    get_schema,
    normalise_label_name,
    to_parts,
)

__all__ = [
    "ATR",
    "CLOTHES_PARTS",
    "LIP",
    "PART_NAMES",
    "SCHEMAS",
    "ParsingSchema",
    "Part",
    "body_mask",
    "clothes_mask",
    "erase_clothes",
    "get_schema",
    "normalise_label_name",
    "to_parts",
]
