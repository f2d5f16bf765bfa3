"""The built-in synthetic clothes-changing dataset: people (identity cues, outfits, exact
ATR label maps), camera scenes with tracklet backdrops, and the generator that writes them
in the VC-Clothes layout (or CCVID's, as short videos)."""

from ccreid.synthetic.generator import (
    CAMERAS,
    SyntheticConfig,
    check_config,
    drawing_stamp,
    drawn_stamp,
    generate,
    outfits_needed,
)

__all__ = [
    "CAMERAS",
    "SyntheticConfig",
    "check_config",
    "drawing_stamp",
    "drawn_stamp",
    "generate",
    "outfits_needed",
]
