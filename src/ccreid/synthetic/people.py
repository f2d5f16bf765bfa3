"""The people of the synthetic dataset: identities (clothes-independent cues), outfits,
the exact ATR label map of a figure, and its colouring under a camera.

Identity lives in hair colour and style, skin tone, glasses or beard, head size and body
proportions as ratios of height; clothes are saturated outfits with patterns.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ccreid.errors import InputError
from ccreid.parsing import ATR
from ccreid.synthetic.scenes import Backdrop, saturated_colour

L = {name: i for i, name in enumerate(ATR.labels)}


HAIR_COLOURS = np.array(
    [[20, 18, 18], [70, 40, 20], [130, 80, 40], [225, 195, 120], [180, 70, 30], [200, 200, 205],
     [40, 80, 220], [230, 60, 160]], dtype=np.float32)  # fmt: skip


SKIN_TONES = np.array(
    [[255, 224, 196], [240, 195, 150], [210, 160, 120], [175, 120, 80], [130, 85, 55], [90, 60, 40]],
    dtype=np.float32)  # fmt: skip


HAIR_STYLES = ("short", "medium", "long", "bun", "buzz")


@dataclass(frozen=True)
class Camera:
    index: int
    scale: tuple[float, float]
    offset: float
    gain: np.ndarray
    noise: float
    blur: float


@dataclass(frozen=True)
class Identity:
    hair_colour: int
    hair_style: int
    skin: int
    glasses: bool
    beard: bool
    head: float  # head height / figure height
    head_aspect: float
    shoulders: float
    hips: float
    limb: float
    torso: float


@dataclass(frozen=True)
class Outfit:
    kind: str  # "separates" or "dress"
    top: np.ndarray
    top2: np.ndarray
    top_pattern: int  # 0 plain, 1 horizontal stripes, 2 vertical stripes, 3 checks
    long_sleeves: bool
    bottom_kind: str  # pants, shorts, skirt
    bottom: np.ndarray
    bottom2: np.ndarray
    bottom_striped: bool
    shoes: np.ndarray
    belt: bool
    scarf: bool
    bag: bool


@lru_cache(maxsize=4)
def make_outfits(n: int, seed: int) -> list[Outfit]:
    rng = np.random.default_rng([seed, 20_000])
    outfits = []
    for _ in range(n):
        outfits.append(
            Outfit(
                kind="dress" if rng.random() < 0.15 else "separates",
                top=saturated_colour(rng), top2=saturated_colour(rng), top_pattern=int(rng.integers(0, 4)),
                long_sleeves=bool(rng.random() < 0.5),
                bottom_kind=str(rng.choice(["pants", "pants", "shorts", "skirt"])),
                bottom=saturated_colour(rng), bottom2=saturated_colour(rng), bottom_striped=bool(rng.random() < 0.25),
                shoes=saturated_colour(rng, (0.0, 0.5)) * 0.6, belt=bool(rng.random() < 0.3),
                scarf=bool(rng.random() < 0.15), bag=bool(rng.random() < 0.2),
            )
        )  # fmt: skip
    return outfits


@lru_cache(maxsize=4)
def make_identities(n: int, seed: int) -> list[Identity]:
    """Distinct (hair colour, hair style, skin) combinations plus random proportions."""
    rng = np.random.default_rng([seed, 30_000])
    combos = len(HAIR_COLOURS) * len(HAIR_STYLES) * len(SKIN_TONES)
    if n > combos:
        raise InputError(f"at most {combos} identities have distinct head cues; asked for {n}")
    picks = rng.permutation(combos)[:n]
    ids = []
    for c in picks:
        hc, rest = divmod(int(c), len(HAIR_STYLES) * len(SKIN_TONES))
        hs, sk = divmod(rest, len(SKIN_TONES))
        ids.append(
            Identity(
                hair_colour=hc, hair_style=hs, skin=sk, glasses=bool(rng.random() < 0.25),
                beard=bool(rng.random() < 0.2), head=rng.uniform(0.17, 0.22),
                head_aspect=rng.uniform(0.62, 0.82), shoulders=rng.uniform(0.11, 0.17),
                hips=rng.uniform(0.72, 1.0), limb=rng.uniform(0.04, 0.07),
                torso=rng.uniform(0.27, 0.34),
            )
        )  # fmt: skip
    return ids


class Canvas:
    """A label map drawn with primitives restricted to their bounding boxes (fast)."""

    def __init__(self, height: int, width: int) -> None:
        self.labels = np.zeros((height, width), dtype=np.uint8)
        self.h, self.w = height, width

    def _box(self, y0: float, y1: float, x0: float, x1: float):
        r0, r1 = max(0, int(round(y0))), min(self.h, int(round(y1)))
        c0, c1 = max(0, int(round(x0))), min(self.w, int(round(x1)))
        return r0, r1, c0, c1

    def rect(self, label: int, y0: float, y1: float, x0: float, x1: float) -> None:
        r0, r1, c0, c1 = self._box(y0, y1, x0, x1)
        if r1 > r0 and c1 > c0:
            self.labels[r0:r1, c0:c1] = label

    def trapezoid(
        self, label: int, y0: float, y1: float, cx: float, half0: float, half1: float
    ) -> None:
        """Rows y0..y1 centred on cx, half-width growing linearly from half0 to half1."""
        r0, r1, c0, c1 = self._box(y0, y1, cx - max(half0, half1), cx + max(half0, half1) + 1)
        if r1 <= r0 or c1 <= c0:
            return
        yy = np.arange(r0, r1, dtype=np.float32)[:, None]
        xx = np.arange(c0, c1, dtype=np.float32)[None, :] + 0.5
        t = (yy - y0) / max(y1 - y0, 1e-6)
        half = half0 + (half1 - half0) * t
        region = self.labels[r0:r1, c0:c1]
        region[np.abs(xx - cx) <= half] = label

    def ellipse(self, label: int, cy: float, cx: float, ry: float, rx: float, where=None) -> None:
        r0, r1, c0, c1 = self._box(cy - ry, cy + ry + 1, cx - rx, cx + rx + 1)
        if r1 <= r0 or c1 <= c0:
            return
        yy = (np.arange(r0, r1, dtype=np.float32)[:, None] + 0.5 - cy) / ry
        xx = (np.arange(c0, c1, dtype=np.float32)[None, :] + 0.5 - cx) / rx
        inside = yy**2 + xx**2 <= 1.0
        region = self.labels[r0:r1, c0:c1]
        if where is not None:
            inside &= where(yy, xx)
        region[inside] = label


@dataclass(frozen=True)
class Figure:
    """Where one frame's figure stands: the lines its parts are drawn between."""

    fh: float  # figure height
    feet: float
    top: float
    cx: float
    head_h: float
    head_w: float
    head_cy: float
    sh_y: float  # shoulders
    hip_y: float
    sw: float  # shoulder half-width
    hw: float  # hip half-width
    limb: float
    knee_y: float
    shoe_y: float
    sway: float  # pose jitter: legs and arms swing a little


def _figure(
    H: int, W: int, ident: Identity, backdrop: Backdrop, rng: np.random.Generator
) -> Figure:
    """The frame's geometry: the tracklet's size and position with a little jitter."""
    fh = H * backdrop.scale * rng.uniform(0.97, 1.03)
    feet = H * rng.uniform(0.95, 0.99)
    top = feet - fh
    cx = W / 2 + backdrop.offset + rng.normal(0, 1.0)
    head_h = ident.head * fh
    sh_y = top + head_h + 0.02 * fh
    hip_y = sh_y + ident.torso * fh
    sw = ident.shoulders * fh
    return Figure(
        fh=fh, feet=feet, top=top, cx=cx, head_h=head_h, head_w=head_h * ident.head_aspect,
        head_cy=top + head_h / 2, sh_y=sh_y, hip_y=hip_y, sw=sw, hw=sw * ident.hips,
        limb=ident.limb * fh, knee_y=hip_y + 0.5 * (feet - hip_y), shoe_y=feet - 0.045 * fh,
        sway=rng.normal(0, 0.015) * fh,
    )  # fmt: skip


def draw_person(
    canvas: Canvas, ident: Identity, outfit: Outfit, backdrop: Backdrop, rng: np.random.Generator
) -> dict[str, float]:
    """Draw the ATR label map of one person; returns the geometry needed to colour it.

    Size and position are the tracklet's (``backdrop``) with a little jitter per frame.
    """
    g = _figure(canvas.h, canvas.w, ident, backdrop, rng)
    _draw_legs(canvas, g, outfit)
    _draw_upper_body(canvas, g, outfit)
    ry, rx = _draw_head(canvas, g, ident)
    return {"head_cy": g.head_cy, "ry": ry, "rx": rx, "cx": g.cx, "feet": g.feet}


def _draw_legs(canvas: Canvas, g: Figure, outfit: Outfit) -> None:
    """Legs and shoes (lower limbs), then bottoms over them."""
    for label, side, sgn in ((L["left-leg"], -1, 1), (L["right-leg"], 1, -1)):
        x = g.cx + side * g.hw * 0.5 + sgn * g.sway * 0.5
        canvas.rect(label, g.hip_y, g.shoe_y, x - g.limb / 2, x + g.limb / 2)
        shoe = L["left-shoe"] if label == L["left-leg"] else L["right-shoe"]
        canvas.rect(shoe, g.shoe_y, g.feet, x - g.limb * 0.65, x + g.limb * 0.75)
    if outfit.kind != "separates":
        return
    if outfit.bottom_kind in ("pants", "shorts"):
        long = outfit.bottom_kind == "pants"
        end = g.shoe_y - 0.01 * g.fh if long else g.knee_y - 0.05 * g.fh
        for side, sgn in ((-1, 1), (1, -1)):
            x = g.cx + side * g.hw * 0.5 + sgn * g.sway * 0.5
            canvas.rect(L["pants"], g.hip_y - 0.01 * g.fh, end, x - g.limb * 0.65,
                        x + g.limb * 0.65)  # fmt: skip
        canvas.rect(L["pants"], g.hip_y - 0.01 * g.fh, g.hip_y + 0.06 * g.fh, g.cx - g.hw,
                    g.cx + g.hw)  # fmt: skip
    else:
        canvas.trapezoid(L["skirt"], g.hip_y - 0.01 * g.fh, g.knee_y, g.cx, g.hw, g.hw * 1.35)


def _draw_upper_body(canvas: Canvas, g: Figure, outfit: Outfit) -> None:
    """Arms, torso clothing and sleeves, belt, scarf, bag."""
    arm_w = g.limb * 0.8
    wrist_y = g.hip_y + 0.06 * g.fh
    for label, side in ((L["left-arm"], -1), (L["right-arm"], 1)):
        x = g.cx + side * (g.sw + arm_w * 0.3) + side * abs(g.sway) * 0.3
        canvas.rect(label, g.sh_y + 0.01 * g.fh, wrist_y, x - arm_w / 2, x + arm_w / 2)
        sleeve_end = wrist_y - 0.05 * g.fh if outfit.long_sleeves else g.sh_y + 0.12 * g.fh
        sleeve = L["upper-clothes"] if outfit.kind == "separates" else L["dress"]
        canvas.rect(sleeve, g.sh_y, sleeve_end, x - arm_w * 0.65, x + arm_w * 0.65)
    if outfit.kind == "separates":
        canvas.trapezoid(L["upper-clothes"], g.sh_y, g.hip_y + 0.02 * g.fh, g.cx, g.sw,
                         g.hw * 1.02)  # fmt: skip
        if outfit.belt:
            canvas.rect(L["belt"], g.hip_y - 0.005 * g.fh, g.hip_y + 0.02 * g.fh, g.cx - g.hw,
                        g.cx + g.hw)  # fmt: skip
    else:
        canvas.trapezoid(L["dress"], g.sh_y, g.knee_y + 0.04 * g.fh, g.cx, g.sw, g.hw * 1.4)
    if outfit.scarf:
        canvas.rect(L["scarf"], g.sh_y - 0.015 * g.fh, g.sh_y + 0.04 * g.fh, g.cx - g.sw * 0.6,
                    g.cx + g.sw * 0.6)  # fmt: skip
    if outfit.bag:
        bx = g.cx + g.sw + arm_w * 1.2
        canvas.rect(L["bag"], g.hip_y - 0.06 * g.fh, g.hip_y + 0.1 * g.fh, bx - 0.05 * g.fh,
                    bx + 0.05 * g.fh)  # fmt: skip


def _draw_head(canvas: Canvas, g: Figure, ident: Identity) -> tuple[float, float]:
    """Face, then hair by style, glasses inside the face; returns the head's radii."""
    ry, rx, cy, cx = g.head_h / 2, g.head_w / 2, g.head_cy, g.cx
    canvas.ellipse(L["face"], cy, cx, ry, rx)
    style = HAIR_STYLES[ident.hair_style]
    if style == "buzz":
        canvas.ellipse(L["hair"], cy, cx, ry * 1.02, rx * 1.02, where=lambda y, x: y < -0.55)
    elif style == "short":
        canvas.ellipse(L["hair"], cy, cx, ry * 1.08, rx * 1.08, where=lambda y, x: y < -0.25)
    elif style == "medium":
        canvas.ellipse(L["hair"], cy, cx, ry * 1.1, rx * 1.15,
                       where=lambda y, x: (y < -0.25) | ((np.abs(x) > 0.75) & (y < 0.5)))  # fmt: skip
    elif style == "long":
        canvas.ellipse(L["hair"], cy, cx, ry * 1.1, rx * 1.15,
                       where=lambda y, x: (y < -0.3) | (np.abs(x) > 0.72))  # fmt: skip
        for side in (-1, 1):  # strands down to the chest
            canvas.rect(L["hair"], cy, g.sh_y + 0.1 * g.fh, cx + side * rx * 0.95 - rx * 0.3,
                        cx + side * rx * 0.95 + rx * 0.3)  # fmt: skip
    else:  # bun
        canvas.ellipse(L["hair"], cy, cx, ry * 1.05, rx * 1.05, where=lambda y, x: y < -0.35)
        canvas.ellipse(L["hair"], g.top - ry * 0.2, cx, ry * 0.45, rx * 0.45)
    if ident.glasses:
        canvas.rect(L["sunglasses"], cy - ry * 0.15, cy + ry * 0.12, cx - rx * 0.8, cx + rx * 0.8)
    return ry, rx


@lru_cache(maxsize=8)
def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    return np.mgrid[0:height, 0:width]


@lru_cache(maxsize=8)
def _stripes(height: int, width: int) -> dict[int, np.ndarray]:
    """Pattern masks: 1-3 top patterns (horizontal, vertical, checks), 4 bottom stripes."""
    yy, xx = _grid(height, width)
    return {1: (yy // 4) % 2 == 0, 2: (xx // 4) % 2 == 0, 3: ((yy // 4) + (xx // 4)) % 2 == 0,
            4: (xx // 3) % 2 == 0}  # fmt: skip


def render(
    labels: np.ndarray, ident: Identity, outfit: Outfit, cam: Camera, geom: dict[str, float],
    background: np.ndarray, rng: np.random.Generator,
) -> np.ndarray:  # fmt: skip
    """Colour a label map: body colours by identity, clothes by outfit; label-0 pixels show
    ``background`` (the frame's piece of the camera's scene)."""
    H, W = labels.shape
    palette = np.zeros((len(ATR.labels), 3), dtype=np.float32)
    skin, hair = SKIN_TONES[ident.skin], HAIR_COLOURS[ident.hair_colour]
    for name in ("face", "left-arm", "right-arm", "left-leg", "right-leg"):
        palette[L[name]] = skin
    palette[L["hair"]] = palette[L["hat"]] = hair
    palette[L["sunglasses"]] = (25, 25, 30)
    palette[L["upper-clothes"]] = palette[L["dress"]] = outfit.top
    palette[L["pants"]] = palette[L["skirt"]] = outfit.bottom
    palette[L["left-shoe"]] = palette[L["right-shoe"]] = outfit.shoes
    palette[L["belt"]] = (60, 40, 25)
    palette[L["scarf"]] = outfit.top2
    palette[L["bag"]] = outfit.bottom2 * 0.7
    img = palette[labels]
    yy, xx = _grid(H, W)
    stripes_of = _stripes(H, W)
    if outfit.top_pattern:
        sel = stripes_of[outfit.top_pattern] & (
            (labels == L["upper-clothes"]) | (labels == L["dress"])
        )
        img[sel] = outfit.top2
    if outfit.bottom_striped:
        sel = stripes_of[4] & ((labels == L["pants"]) | (labels == L["skirt"]))
        img[sel] = outfit.bottom2
    if ident.beard:
        face = labels == L["face"]
        sel = face & (yy > geom["head_cy"] + geom["ry"] * 0.35)
        img[sel] = img[sel] * 0.45 + hair * 0.55
    # Eyes: two dark dots inside the face label (unless glasses cover them).
    ey = int(geom["head_cy"])
    for ex in (int(geom["cx"] - geom["rx"] * 0.4), int(geom["cx"] + geom["rx"] * 0.4)):
        if 0 <= ey < H and 0 <= ex < W and labels[ey, ex] == L["face"]:
            img[ey, ex] = (30, 20, 20)
    img = np.where((labels == 0)[..., None], background, img)
    img *= cam.gain * np.float32(rng.uniform(0.85, 1.15))
    if cam.blur > 0:  # mix each pixel with its 4 neighbours (edges use fewer)
        near = np.zeros_like(img)
        near[1:] += img[:-1]
        near[:-1] += img[1:]
        near[:, 1:] += img[:, :-1]
        near[:, :-1] += img[:, 1:]
        img = (1 - cam.blur) * img + (cam.blur * 0.25) * near
    bank = _noise_bank(H, W)
    img += bank[int(rng.integers(0, len(bank)))] * np.float32(cam.noise)
    return np.clip(img, 0, 255).astype(np.uint8)


@lru_cache(maxsize=4)
def _noise_bank(height: int, width: int, size: int = 32) -> np.ndarray:
    """Fixed unit-variance noise fields; an image draws one (cheaper than fresh noise)."""
    return np.random.default_rng(60_000).standard_normal((size, height, width, 3), dtype=np.float32)
