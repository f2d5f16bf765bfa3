"""Video clip sampling: every frame of a tracklet can be trained on (CAL's rules)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ccreid.data.clips import clip_indices, dense_segments
from ccreid.data.records import Sample

LENGTHS, SEQ_LENS, STRIDES = st.integers(1, 200), st.integers(1, 10), st.integers(1, 5)


def _covering_draws(num_frames: int, seq_len: int, stride: int) -> tuple[set[int], int]:
    """Frames drawn by seeded clips until all are seen (or a cap that leaves a frame of
    probability >= 1/num_frames per clip unseen with odds below e^-20); every clip is
    checked on the way: seq_len indices inside the tracklet, in order."""
    seen: set[int] = set()
    draws = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(num_frames * 1000 + seq_len * 10 + stride)
        while len(seen) < num_frames and draws < 20 * num_frames + 100:
            clip = clip_indices(num_frames, seq_len, stride)
            assert len(clip) == seq_len
            assert all(0 <= i < num_frames for i in clip)
            assert all(a <= b for a, b in zip(clip, clip[1:], strict=False))
            seen.update(clip)
            draws += 1
    return seen, draws


@pytest.mark.reliability(
    tried="any tracklet length 1–200, seq_len 1–10, stride 1–5",
    happens="clip in range, in order, and every frame can be drawn",
)
@settings(max_examples=150, deadline=None)
@given(num_frames=LENGTHS, seq_len=SEQ_LENS, stride=STRIDES)
def test_every_frame_of_a_tracklet_can_be_drawn(num_frames, seq_len, stride):
    seen, _ = _covering_draws(num_frames, seq_len, stride)
    assert seen == set(range(num_frames))


@pytest.mark.reliability(
    tried=(
        "a tracklet shorter than `seq_len*stride` (10 frames gave `[0,4,8,0,4,8,0,4]` every time)"
    ),
    happens=(
        "one random frame from each of `seq_len` segments; below `seq_len` frames, sorted draws "
        "with replacement; still seeded per item"
    ),
)
@pytest.mark.parametrize("num_frames", [10, 20, 29])
def test_a_short_tracklet_is_drawn_at_random_one_frame_per_segment(num_frames):
    seq_len, stride = 8, 4  # CCVID's clip: 32 frames of tracklet for 8 stride-4 indices
    bounds = [k * num_frames // seq_len for k in range(seq_len + 1)]  # near-equal segments
    clips = set()
    for seed in range(50):
        torch.manual_seed(seed)
        clip = clip_indices(num_frames, seq_len, stride)
        assert all(bounds[k] <= i < bounds[k + 1] for k, i in enumerate(clip))
        clips.add(tuple(clip))
    assert len(clips) > 1  # not the same clip from frame 0 every time


def test_fewer_frames_than_the_clip_are_sorted_draws_with_replacement():
    draws = []
    for seed in range(200):
        torch.manual_seed(seed)
        draws.append(clip_indices(3, 8, 4))
    assert all(clip == sorted(clip) for clip in draws)
    assert len({tuple(clip) for clip in draws}) > 1
    assert any(clip.count(0) > 3 for clip in draws)  # drawn independently, not cycled


@pytest.mark.parametrize(("num_frames", "seq_len", "stride"), [(32, 8, 4), (200, 8, 4), (5, 5, 1)])
def test_a_long_tracklet_keeps_its_seeded_strided_clip(num_frames, seq_len, stride):
    """Tracklets of at least seq_len * stride frames: the same draw as before, so runs on
    them stay comparable: a start uniform over the valid ones, then stride apart."""
    span = (seq_len - 1) * stride + 1
    for seed in range(20):
        torch.manual_seed(seed)
        start = int(torch.randint(0, num_frames - span + 1, (1,)))
        torch.manual_seed(seed)
        assert clip_indices(num_frames, seq_len, stride) == [
            start + k * stride for k in range(seq_len)
        ]


def _tracklet(num_frames: int) -> Sample:
    frames = tuple(f"f{i:03d}.jpg" for i in range(num_frames))
    masks = tuple(f"m{i:03d}.png" for i in range(num_frames))
    return Sample(frames[0], 3, 1, 2, masks[0], frames, masks)


@pytest.mark.reliability(
    tried=(
        "CCVID `dense_clips` on tracklets whose length is not a multiple of `seq_len*stride` "
        "(e.g. 63 frames)"
    ),
    happens=(
        "chunks of `seq_len*stride` frames, remainder folded into the last; every frame is in "
        "exactly one item and can be drawn"
    ),
)
@settings(max_examples=150, deadline=None)
@given(num_frames=LENGTHS, seq_len=SEQ_LENS, stride=STRIDES)
def test_dense_clips_put_every_frame_in_exactly_one_item(num_frames, seq_len, stride):
    t = _tracklet(num_frames)
    parts = dense_segments([t], seq_len, stride)
    length = seq_len * stride
    expected = []  # chunks of `length` frames; the remainder joins the last chunk
    for start in range(0, num_frames, length):
        if expected and num_frames - start < length:
            expected[-1] += t.frames[start:]
        else:
            expected.append(t.frames[start : start + length])
    assert [p.frames for p in parts] == expected
    assert [f for p in parts for f in p.frames] == list(t.frames)  # each frame once, in order
    assert [m for p in parts for m in p.frame_masks] == list(t.frame_masks)
    assert all(p == dataclasses.replace(t, path=p.frames[0], mask=p.frame_masks[0],
                                        frames=p.frames, frame_masks=p.frame_masks)
               for p in parts)  # fmt: skip


def test_a_63_frame_tracklet_trains_on_all_its_frames():
    """CCVID's clip (8 frames, stride 4) with dense clips: frames 32-62 are drawn too."""
    seen = set()
    for part in dense_segments([_tracklet(63)], seq_len=8, stride=4):
        offset = int(part.frames[0][1:4])
        drawn, _ = _covering_draws(len(part.frames), 8, 4)
        seen |= {offset + i for i in drawn}
    assert seen == set(range(63))
