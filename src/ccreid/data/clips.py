"""Video items: clips drawn from tracklets for training (CRE and BSGA per frame)."""

from __future__ import annotations

import dataclasses
import itertools

import torch
from torch.utils.data import Dataset

from ccreid.data.images import DeferredItem, ReIDImageDataset, ReIDItem, at_one_size
from ccreid.data.records import Sample, SeededIndex
from ccreid.data.transforms import AugmentConfig
from ccreid.errors import InputError


def clip_indices(num_frames: int, seq_len: int, stride: int) -> list[int]:
    """``seq_len`` frame indices in ``[0, num_frames)``, in order, drawn with torch's global
    generator so that an item's seed fixes its clip. A tracklet of at least ``seq_len *
    stride`` frames gives indices ``stride`` apart from a random start; a shorter one gives
    one random frame from each of ``seq_len`` near-equal segments, or below ``seq_len``
    frames sorted draws with replacement, so that every frame can be drawn (CAL's rules)."""
    if num_frames < 1 or seq_len < 1 or stride < 1:
        raise InputError(f"clip of {seq_len} frames, stride {stride}, from {num_frames} frames")
    if num_frames >= seq_len * stride:
        span = (seq_len - 1) * stride + 1
        start = int(torch.randint(0, num_frames - span + 1, (1,)))
        return list(range(start, start + span, stride))
    if num_frames >= seq_len:
        bounds = [k * num_frames // seq_len for k in range(seq_len + 1)]
        return [int(torch.randint(lo, hi, (1,))) for lo, hi in itertools.pairwise(bounds)]
    return sorted(torch.randint(0, num_frames, (seq_len,)).tolist())


def dense_segments(tracklets: list[Sample], seq_len: int, stride: int) -> list[Sample]:
    """``data.dense_clips``: a tracklet of ``k >= 1`` whole chunks of ``seq_len * stride``
    frames becomes ``k`` consecutive items, the remainder folded into the last, so every
    frame of a long tracklet is trained on; a shorter tracklet stays one item."""
    length = seq_len * stride
    out = []
    for t in tracklets:
        chunks = max(1, len(t.frames) // length)
        bounds = [k * length for k in range(chunks)] + [len(t.frames)]
        for start, stop in itertools.pairwise(bounds):
            frames, masks = t.frames[start:stop], t.frame_masks[start:stop]
            out.append(dataclasses.replace(t, path=frames[0], mask=masks[0] if masks else t.mask,
                                           frames=frames, frame_masks=masks))  # fmt: skip
    return out


def frame_samples(tracklets: list[Sample]) -> list[Sample]:
    """Every frame of every tracklet as an image sample with its tracklet's labels."""
    return [
        Sample(frame, t.pid, t.camid, t.clothes, t.frame_masks[i] if t.frame_masks else None)
        for t in tracklets
        for i, frame in enumerate(t.frames)
    ]


class ReIDClipDataset(Dataset[ReIDItem]):
    """Tracklets -> clips: `ReIDItem` fields gain a time axis, (T, 3, H, W).

    Every frame of a clip gets the same augmentation (one flip, crop and erasing for the
    clip), drawn from the item's seed like an image item's. With ``device_augment`` the
    clip is a `DeferredItem` of decoded frames and the clip's one parameter row.
    """

    def __init__(
        self, tracklets: list[Sample], seq_len: int, stride: int, augment: AugmentConfig,
        train: bool = True, cre: bool = False, masks: bool = False, schema: str = "atr",
        device_augment: bool = False,
    ) -> None:  # fmt: skip
        if any(not t.is_tracklet for t in tracklets):
            raise InputError("a clip dataset needs tracklets (a video dataset such as ccvid)")
        self.tracklets, self.seq_len, self.stride = tracklets, seq_len, stride
        self.frames = ReIDImageDataset(frame_samples(tracklets), augment, train, cre, masks, schema,
                                       device_augment=device_augment)  # fmt: skip
        self.first_frame = []
        total = 0
        for t in tracklets:
            self.first_frame.append(total)
            total += len(t.frames)

    def __len__(self) -> int:
        return len(self.tracklets)

    def __getitem__(self, key: int | SeededIndex) -> ReIDItem | DeferredItem:
        index, seed = (key.index, key.seed) if isinstance(key, SeededIndex) else (key, None)
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.default_generator.manual_seed(seed)
            picked = clip_indices(len(self.tracklets[index].frames), self.seq_len, self.stride)
            state = torch.get_rng_state()
            items = []
            for f in picked:
                torch.set_rng_state(state)  # the same augmentation for every frame
                items.append(self.frames[self.first_frame[index] + f])
        t = self.tracklets[index]

        def stacked(field: str) -> torch.Tensor:
            parts = [getattr(it, field) for it in items]
            return torch.stack(parts) if parts[0].numel() else parts[0]

        if isinstance(items[0], DeferredItem):  # every frame drew the same row
            items = at_one_size(items, self.frames.resize)
            return DeferredItem(stacked("image"), stacked("parts"), items[0].params, t.pid,
                                t.camid, t.clothes, index)  # fmt: skip
        return ReIDItem(stacked("image"), stacked("erased"), stacked("mask"), t.pid, t.camid,
                        t.clothes, index)  # fmt: skip
