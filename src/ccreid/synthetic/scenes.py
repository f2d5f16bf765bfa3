"""Cluttered camera scenes and tracklet backdrops for the synthetic dataset.

Real clothes-changing data is cut from tracklets: the frames of one person in one
camera share the piece of scene behind them, so in training the background is an
identity cue that fails across cameras. Each camera here has one wide textured scene
(value-noise wall, wallpaper, tiled floor, furniture, poles, shelves, posters in outfit
colours); each (identity, camera) pair takes one crop of it at a pair-specific place
(distinct for every identity of a camera) plus one pair-specific saturated prop, and
every frame of the pair jitters that crop by a pixel or two. Some frames put an occluder
in front of the legs. All of this is label 0 (background) in the parsing map.

Every function is keyed on the values it depends on (seed, camera, size), never on
object identity, so a cache can never serve another camera's scene.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ccreid.errors import InputError

SCENE_WIDTHS = 10  # a camera's scene is this many image widths wide
SCENE_HEIGHT = 1.25  # and this many image heights high
CROP_STEP = 2  # pixels between the crops of two identities in one camera
FRAME_JITTER = 1  # each frame moves its pair's crop by at most this many pixels
OBJECTS_PER_SCENE = 50
OCCLUDED_FRACTION = 0.2  # frames with an occluder in front of the legs


def saturated_colour(
    rng: np.random.Generator, sat: tuple[float, float] = (0.55, 1.0)
) -> np.ndarray:
    """An RGB colour (0..255, float32) from hue, saturation and value."""
    h, s, v = rng.random(), rng.uniform(*sat), rng.uniform(0.45, 1.0)
    k = (np.array([5, 3, 1]) + h * 6) % 6
    rgb = v - v * s * np.clip(np.minimum(k, 4 - k), 0, 1)
    return (rgb * 255).astype(np.float32)


def _value_noise(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """Smooth noise in [0, 1]: a coarse random grid, bilinearly upsampled."""
    gh, gw = height // cell + 2, width // cell + 2
    grid = rng.random((gh, gw)).astype(np.float32)
    y = np.arange(height, dtype=np.float32) / cell
    x = np.arange(width, dtype=np.float32) / cell
    y0, x0 = y.astype(int), x.astype(int)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    a, b = grid[y0][:, x0], grid[y0][:, x0 + 1]
    c, d = grid[y0 + 1][:, x0], grid[y0 + 1][:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def _pattern(kind: int, height: int, width: int, period: int) -> np.ndarray:
    """0 plain, 1 horizontal stripes, 2 vertical stripes, 3 checks (True = second colour)."""
    yy, xx = np.mgrid[0:height, 0:width]
    if kind == 1:
        return (yy // period) % 2 == 0
    if kind == 2:
        return (xx // period) % 2 == 0
    if kind == 3:
        return ((yy // period) + (xx // period)) % 2 == 0
    return np.zeros((height, width), dtype=bool)


def _paint(scene: np.ndarray, y0: int, y1: int, x0: int, x1: int, colour: np.ndarray,
           colour2: np.ndarray | None = None, kind: int = 0, ellipse: bool = False) -> None:  # fmt: skip
    """A rectangle or ellipse, optionally patterned, clipped to the scene."""
    H, W = scene.shape[:2]
    r0, r1, c0, c1 = max(0, y0), min(H, y1), max(0, x0), min(W, x1)
    if r1 <= r0 or c1 <= c0:
        return
    region = scene[r0:r1, c0:c1]
    fill = np.broadcast_to(colour, region.shape).copy()
    if colour2 is not None and kind:
        sel = _pattern(kind, r1 - r0, c1 - c0, 3)
        fill[sel] = colour2
    if ellipse:
        yy = (np.arange(r0, r1)[:, None] + 0.5 - (y0 + y1) / 2) / max((y1 - y0) / 2, 1)
        xx = (np.arange(c0, c1)[None, :] + 0.5 - (x0 + x1) / 2) / max((x1 - x0) / 2, 1)
        inside = yy**2 + xx**2 <= 1.0
        region[inside] = fill[inside]
    else:
        region[:] = fill


@lru_cache(maxsize=16)
def camera_scene(
    seed: int, camera: int, height: int, width: int, plain: bool = False
) -> np.ndarray:
    """The camera's wide scene (float32 RGB, read-only): wall, wallpaper, floor, clutter.

    ``plain``: a wall with a vertical gradient and a floor only, the same everywhere in the
    camera: a control with no background cue for identity (SCENES = "plain")."""
    rng = np.random.default_rng([seed, 70_000, camera, height, width])
    H, W = int(round(SCENE_HEIGHT * height)), SCENE_WIDTHS * width
    wall_colour = saturated_colour(rng, (0.05, 0.45)) * 0.9
    if plain:
        yy = np.arange(H, dtype=np.float32)[:, None, None] / H
        scene = np.broadcast_to(wall_colour * (0.75 + 0.5 * yy), (H, W, 3)).copy()
        scene[int(H * 0.78) :] = saturated_colour(rng, (0.0, 0.3)) * 0.6
        scene = np.clip(scene, 0, 255).astype(np.float32)
        scene.flags.writeable = False
        return scene
    shade = 0.6 + 0.35 * _value_noise(rng, H, W, max(4, height // 4))
    shade += 0.15 * _value_noise(rng, H, W, 3) - 0.075
    scene = wall_colour * shade[..., None]
    yy, xx = np.mgrid[0:H, 0:W]
    wallpaper = int(rng.integers(0, 3))  # bricks, planks, plain
    if wallpaper == 0:
        row = yy // 6
        mortar = (yy % 6 == 0) | (((xx + (row % 2) * 6) % 12) == 0)
        scene[mortar] *= 0.7
    elif wallpaper == 1:
        scene[(xx % 9) == 0] *= 0.65
    floor_y = int(H * 0.78)
    floor_a, floor_b = (
        saturated_colour(rng, (0.0, 0.3)) * 0.7,
        saturated_colour(rng, (0.0, 0.3)) * 0.5,
    )
    tiles = ((yy // 5) + (xx // 7)) % 2 == 0
    floor = np.where(tiles[..., None], floor_a, floor_b)
    scene[floor_y:] = floor[floor_y:]
    for _ in range(OBJECTS_PER_SCENE):
        kind = int(rng.integers(0, 4))  # block, ellipse, pole, shelf
        outfit_like = (
            rng.random() < 0.5
        )  # saturated and patterned: background that looks like clothes
        colour = saturated_colour(rng) if outfit_like else saturated_colour(rng, (0.0, 0.4)) * 0.8
        colour2 = saturated_colour(rng) if outfit_like else None
        pattern = int(rng.integers(0, 4)) if outfit_like else 0
        x0 = int(rng.integers(0, W))
        if kind == 2:  # a thin pole, limb-like
            w, h = int(rng.integers(2, 5)), int(rng.integers(H // 3, H))
        elif kind == 3:  # a shelf: wide and flat
            w, h = int(rng.integers(width // 2, width * 2)), int(rng.integers(3, 7))
        else:
            w, h = (
                int(rng.integers(width // 8, width // 2)),
                int(rng.integers(height // 8, height // 2)),
            )
        y0 = int(rng.integers(0, max(1, H - h)))
        _paint(scene, y0, y0 + h, x0, x0 + w, colour, colour2, pattern, ellipse=kind == 1)
    scene = np.clip(scene, 0, 255).astype(np.float32)
    scene.flags.writeable = False
    return scene


@dataclass(frozen=True)
class Backdrop:
    """What one (identity, camera) tracklet shares: its crop of the scene and its prop."""

    crop_y: int
    crop_x: int
    prop_box: tuple[int, int, int, int]  # y0, y1, x0, x1 inside the crop
    prop_colour: tuple[float, float, float]
    prop_pattern: int
    scale: float  # figure height / image height for this tracklet
    offset: float  # horizontal position of the figure (pixels from the centre)


def _slots(seed: int, camera: int, height: int, width: int) -> np.ndarray:
    """A permutation of crop positions: identity i of a camera takes slot i, so no two
    identities of one camera share a crop."""
    n = (SCENE_WIDTHS - 1) * width // CROP_STEP
    return np.random.default_rng([seed, 71_000, camera]).permutation(n) * CROP_STEP


def max_identities_per_camera(width: int) -> int:
    return (SCENE_WIDTHS - 1) * width // CROP_STEP


def _place(rng: np.random.Generator, height: int, width: int) -> tuple[int, tuple, tuple, int]:
    """A piece of scene: its crop row, and the saturated prop in it (box, colour, pattern)."""
    scene_h = int(round(SCENE_HEIGHT * height))
    ph, pw = int(rng.integers(height // 6, height // 3)), int(rng.integers(width // 6, width // 3))
    py = int(rng.integers(0, int(height * 0.7) - ph))
    px = int(
        rng.choice([rng.integers(0, width // 4), rng.integers(width * 3 // 4 - pw, width - pw)])
    )
    crop_y = int(rng.integers(0, scene_h - height + 1))
    colour = tuple(float(c) for c in saturated_colour(rng))
    return crop_y, (py, py + ph, px, px + pw), colour, int(rng.integers(0, 4))


def tracklet_backdrop(
    seed: int, identity: int, camera: int, height: int, width: int,
    scale_range: tuple[float, float], offset: float, places: int = 0,
) -> Backdrop:  # fmt: skip
    """The backdrop of identity ``identity`` (0-based index) in ``camera``.

    ``places`` = 0: a piece of scene of its own (distinct for every identity of a camera);
    ``places`` = N: one of the camera's N shared places, drawn per (identity, camera), as
    many people pass through the same part of a real camera's scene. The figure's size and
    position are the tracklet's own either way."""
    slots = _slots(seed, camera, height, width)
    if identity >= len(slots) or places > len(slots):
        raise InputError(
            f"at most {len(slots)} identities (and places) fit distinct scene crops at width "
            f"{width}"
        )
    rng = np.random.default_rng([seed, 72_000, identity, camera])
    crop_y, box, colour, pattern = _place(rng, height, width)
    crop_x = int(slots[identity])
    scale, shift = float(rng.uniform(*scale_range)), float(offset + rng.normal(0, 3.0))
    if places:
        pick = int(np.random.default_rng([seed, 74_000, identity, camera]).integers(0, places))
        crop_x = int(slots[-1 - pick])  # the places spread over the whole scene
        crop_y, box, colour, pattern = _place(np.random.default_rng([seed, 75_000, pick, camera]),
                                              height, width)  # fmt: skip
    return Backdrop(crop_y=crop_y, crop_x=crop_x + FRAME_JITTER, prop_box=box, prop_colour=colour,
                    prop_pattern=pattern, scale=scale, offset=shift)  # fmt: skip


def frame_background(
    seed: int, camera: int, backdrop: Backdrop, height: int, width: int, rng: np.random.Generator,
    plain: bool = False,
) -> tuple[np.ndarray, tuple[int, int]]:  # fmt: skip
    """One frame's background (float32 RGB, writable) and its crop origin (y, x); a plain
    scene has no prop."""
    scene = camera_scene(seed, camera, height, width, plain)
    dy, dx = (int(v) for v in rng.integers(-FRAME_JITTER, FRAME_JITTER + 1, 2))
    y = int(np.clip(backdrop.crop_y + dy, 0, scene.shape[0] - height))
    x = int(np.clip(backdrop.crop_x + dx, 0, scene.shape[1] - width))
    image = scene[y : y + height, x : x + width].copy()
    if plain:
        return image, (y, x)
    y0, y1, x0, x1 = backdrop.prop_box
    colour = np.asarray(backdrop.prop_colour, dtype=np.float32)
    _paint(image, y0, y1, x0, x1, colour, colour * 0.45, backdrop.prop_pattern)
    return image, (y, x)


def occluder(
    height: int, width: int, rng: np.random.Generator
) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
    """In some frames, a box in front of the legs: (y0, y1, x0, x1) and its colour."""
    if rng.random() >= OCCLUDED_FRACTION:
        return None
    h = int(height * rng.uniform(0.1, 0.28))
    w = int(width * rng.uniform(0.3, 0.65))
    x0 = int(rng.integers(0, width - w + 1))
    return (height - h, height, x0, x0 + w), saturated_colour(rng, (0.0, 0.5)) * 0.8
