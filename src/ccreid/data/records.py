"""The domain record every dataset yields, and an evaluation set."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np


@dataclass(frozen=True)
class Sample:
    """One image, or one tracklet of a video dataset: its identity, camera and outfit.

    ``mask`` is the parsing label PNG. A tracklet lists its ``frames`` in order (and their
    ``frame_masks``); its ``path`` and ``mask`` are then its first frame's, so code that
    shows one picture per item (ranked lists, reports) shows that frame.
    """

    path: str
    pid: int
    camid: int
    clothes: int
    mask: str | None = None
    frames: tuple[str, ...] = ()
    frame_masks: tuple[str, ...] = ()

    @property
    def is_tracklet(self) -> bool:
        return bool(self.frames)


@dataclass(frozen=True)
class EvalSet:
    """A query list, a gallery list and the rule that decides what a correct match is.

    ``gallery_trials`` optionally lists gallery index subsets (e.g. PRCC's single-shot
    protocol): metrics are then averaged over the trials.
    """

    query: list[Sample]
    gallery: list[Sample]
    mode: str = "general"
    gallery_trials: list[np.ndarray] | None = field(default=None, compare=False)


class SeededIndex(NamedTuple):
    """A dataset index with the seed its random augmentation must use."""

    index: int
    seed: int
