"""A procedurally drawn clothes-changing dataset with exact ATR parsing maps.

Identity lives in clothes-independent cues (hair colour and style, skin tone, glasses or
beard, head size and body proportions as ratios of height); clothes are a strong
distractor (a shared pool of saturated outfits, 2-3 per person, and in the test split each
outfit worn by another test person too). Cameras follow VC-Clothes: cameras 2 and 3 show
the same outfit, camera 4 another, camera 1 either; each camera has its own background,
light, scale, offset, noise and blur, and a cluttered scene of its own; the frames of
one person in one camera form a tracklet in front of one piece of that scene
(:mod:`ccreid.data.scenes`), so background is an identity cue that fails across cameras,
as in real data. Occluders and scene are label 0: the body mask is the visible body.
The output is the VC-Clothes layout, so
``load_dataset("vcclothes", out, mask_root=out / "masks")`` reads it.

Every identity draws from its own seeded generator, so a seed gives the same bytes for
any number of worker processes.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from ccreid.data.scenes import (
    Backdrop,
    frame_background,
    max_identities_per_camera,
    occluder,
    saturated_colour,
    tracklet_backdrop,
)
from ccreid.errors import InputError
from ccreid.fileio import atomic_write_text, ensure_writable
from ccreid.parsing import ATR

L = {name: i for i, name in enumerate(ATR.labels)}
HAIR_COLOURS = np.array(
    [[20, 18, 18], [70, 40, 20], [130, 80, 40], [225, 195, 120], [180, 70, 30], [200, 200, 205],
     [40, 80, 220], [230, 60, 160]], dtype=np.float32)  # fmt: skip
SKIN_TONES = np.array(
    [[255, 224, 196], [240, 195, 150], [210, 160, 120], [175, 120, 80], [130, 85, 55], [90, 60, 40]],
    dtype=np.float32)  # fmt: skip
HAIR_STYLES = ("short", "medium", "long", "bun", "buzz")
CAMERAS = (1, 2, 3, 4)
COMPLETE_MARKER = ".synthetic.json"
GENERATOR_VERSION = 3  # bump when the drawing changes: an existing set is then redrawn


@dataclass(frozen=True)
class SyntheticConfig:
    """Size of the dataset; the defaults are the ones SYNTHETIC.md found to work."""

    train_ids: int = 100
    test_ids: int = 50
    images_per_camera: int = 4
    queries_per_camera: int = 1
    test_images_per_camera: int | None = None  # None: images_per_camera
    scenes: str = "cluttered"  # cluttered (tracklet backdrops, props, occluders) | plain (control)
    outfit_pool: int = 150
    height: int = 128
    width: int = 64
    seed: int = 0

    def images_per_camera_of(self, split: str) -> int:
        if split != "train" and self.test_images_per_camera is not None:
            return self.test_images_per_camera
        return self.images_per_camera

    @property
    def num_images(self) -> int:
        per_id = self.train_ids * self.images_per_camera_of("train")
        return (per_id + self.test_ids * self.images_per_camera_of("test")) * len(CAMERAS)


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
def make_cameras(seed: int) -> dict[int, Camera]:
    rng = np.random.default_rng([seed, 10_000])
    cams = {}
    for i, cam in enumerate(CAMERAS):
        cams[cam] = Camera(
            index=cam,
            scale=((0.70, 0.82), (0.78, 0.90), (0.82, 0.95), (0.72, 0.86))[i],
            offset=(-4.0, 2.0, 5.0, -1.0)[i],
            gain=rng.uniform(0.8, 1.15, 3).astype(np.float32),
            noise=(4.0, 6.0, 3.0, 8.0)[i],
            blur=(0.0, 0.3, 0.15, 0.45)[i],
        )
    return cams


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


def draw_person(
    canvas: Canvas, ident: Identity, outfit: Outfit, backdrop: Backdrop, rng: np.random.Generator
) -> dict[str, float]:
    """Draw the ATR label map of one person; returns the geometry needed to colour it.

    Size and position are the tracklet's (``backdrop``) with a little jitter per frame.
    """
    H, W = canvas.h, canvas.w
    fh = H * backdrop.scale * rng.uniform(0.97, 1.03)
    feet = H * rng.uniform(0.95, 0.99)
    top = feet - fh
    cx = W / 2 + backdrop.offset + rng.normal(0, 1.0)
    head_h = ident.head * fh
    head_w = head_h * ident.head_aspect
    head_cy = top + head_h / 2
    sh_y = top + head_h + 0.02 * fh
    hip_y = sh_y + ident.torso * fh
    sw = ident.shoulders * fh
    hw = sw * ident.hips
    limb = ident.limb * fh
    knee_y = hip_y + 0.5 * (feet - hip_y)
    shoe_y = feet - 0.045 * fh
    sway = rng.normal(0, 0.015) * fh  # pose jitter: legs and arms swing a little

    # Legs and shoes (lower limbs), then bottoms over them.
    for label, side, sgn in ((L["left-leg"], -1, 1), (L["right-leg"], 1, -1)):
        x = cx + side * hw * 0.5 + sgn * sway * 0.5
        canvas.rect(label, hip_y, shoe_y, x - limb / 2, x + limb / 2)
        shoe = L["left-shoe"] if label == L["left-leg"] else L["right-shoe"]
        canvas.rect(shoe, shoe_y, feet, x - limb * 0.65, x + limb * 0.75)
    if outfit.kind == "separates":
        if outfit.bottom_kind in ("pants", "shorts"):
            end = shoe_y - 0.01 * fh if outfit.bottom_kind == "pants" else knee_y - 0.05 * fh
            for side, sgn in ((-1, 1), (1, -1)):
                x = cx + side * hw * 0.5 + sgn * sway * 0.5
                canvas.rect(L["pants"], hip_y - 0.01 * fh, end, x - limb * 0.65, x + limb * 0.65)
            canvas.rect(L["pants"], hip_y - 0.01 * fh, hip_y + 0.06 * fh, cx - hw, cx + hw)
        else:
            canvas.trapezoid(L["skirt"], hip_y - 0.01 * fh, knee_y, cx, hw, hw * 1.35)
    # Arms, torso clothing, sleeves.
    arm_w = limb * 0.8
    wrist_y = hip_y + 0.06 * fh
    for label, side in ((L["left-arm"], -1), (L["right-arm"], 1)):
        x = cx + side * (sw + arm_w * 0.3) + side * abs(sway) * 0.3
        canvas.rect(label, sh_y + 0.01 * fh, wrist_y, x - arm_w / 2, x + arm_w / 2)
        sleeve_end = wrist_y - 0.05 * fh if outfit.long_sleeves else sh_y + 0.12 * fh
        sleeve = L["upper-clothes"] if outfit.kind == "separates" else L["dress"]
        canvas.rect(sleeve, sh_y, sleeve_end, x - arm_w * 0.65, x + arm_w * 0.65)
    if outfit.kind == "separates":
        canvas.trapezoid(L["upper-clothes"], sh_y, hip_y + 0.02 * fh, cx, sw, hw * 1.02)
        if outfit.belt:
            canvas.rect(L["belt"], hip_y - 0.005 * fh, hip_y + 0.02 * fh, cx - hw, cx + hw)
    else:
        canvas.trapezoid(L["dress"], sh_y, knee_y + 0.04 * fh, cx, sw, hw * 1.4)
    if outfit.scarf:
        canvas.rect(L["scarf"], sh_y - 0.015 * fh, sh_y + 0.04 * fh, cx - sw * 0.6, cx + sw * 0.6)
    if outfit.bag:
        bx = cx + sw + arm_w * 1.2
        canvas.rect(L["bag"], hip_y - 0.06 * fh, hip_y + 0.1 * fh, bx - 0.05 * fh, bx + 0.05 * fh)
    # Head: face, then hair by style, glasses inside the face.
    ry, rx = head_h / 2, head_w / 2
    canvas.ellipse(L["face"], head_cy, cx, ry, rx)
    style = HAIR_STYLES[ident.hair_style]
    if style == "buzz":
        canvas.ellipse(L["hair"], head_cy, cx, ry * 1.02, rx * 1.02, where=lambda y, x: y < -0.55)
    elif style == "short":
        canvas.ellipse(L["hair"], head_cy, cx, ry * 1.08, rx * 1.08, where=lambda y, x: y < -0.25)
    elif style == "medium":
        canvas.ellipse(L["hair"], head_cy, cx, ry * 1.1, rx * 1.15,
                       where=lambda y, x: (y < -0.25) | ((np.abs(x) > 0.75) & (y < 0.5)))  # fmt: skip
    elif style == "long":
        canvas.ellipse(L["hair"], head_cy, cx, ry * 1.1, rx * 1.15,
                       where=lambda y, x: (y < -0.3) | (np.abs(x) > 0.72))  # fmt: skip
        for side in (-1, 1):  # strands down to the chest
            canvas.rect(L["hair"], head_cy, sh_y + 0.1 * fh, cx + side * rx * 0.95 - rx * 0.3,
                        cx + side * rx * 0.95 + rx * 0.3)  # fmt: skip
    else:  # bun
        canvas.ellipse(L["hair"], head_cy, cx, ry * 1.05, rx * 1.05, where=lambda y, x: y < -0.35)
        canvas.ellipse(L["hair"], top - ry * 0.2, cx, ry * 0.45, rx * 0.45)
    if ident.glasses:
        canvas.rect(
            L["sunglasses"], head_cy - ry * 0.15, head_cy + ry * 0.12, cx - rx * 0.8, cx + rx * 0.8
        )
    return {"head_cy": head_cy, "ry": ry, "rx": rx, "cx": cx, "feet": feet}


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


def _assign_outfits(
    n_ids: int, pool: list[int], rng: np.random.Generator, shared: bool
) -> list[list[int]]:
    """2-3 outfits per person. ``shared``: every outfit is worn by exactly two people
    (same-outfit impostors); the outfit slots are paired across distinct people."""
    counts = rng.choice([2, 3], size=n_ids, p=[0.6, 0.4])
    if not shared:
        return [list(rng.choice(pool, c, replace=False)) for c in counts]
    if n_ids < 2:
        raise InputError("sharing outfits needs at least 2 test identities")
    if counts.sum() % 2:  # an odd number of slots cannot be paired: one person wears 2
        counts[int(np.flatnonzero(counts == 3)[0])] = 2
    slots = np.repeat(np.arange(n_ids), counts)
    pairs = rng.permutation(slots).reshape(-1, 2)
    for i in np.flatnonzero(
        pairs[:, 0] == pairs[:, 1]
    ):  # same person twice: swap with another pair
        for j in rng.permutation(len(pairs)):
            a, b = pairs[i, 1], pairs[j, 0]
            if a not in pairs[j] and b not in pairs[i]:
                pairs[i, 1], pairs[j, 0] = b, a
                break
    outfits = rng.choice(pool, len(pairs), replace=False)
    out: list[list[int]] = [[] for _ in range(n_ids)]
    for outfit, (a, b) in zip(outfits, pairs, strict=True):
        out[int(a)].append(int(outfit))
        out[int(b)].append(int(outfit))
    return [[int(x) for x in rng.permutation(o)] for o in out]


def _camera_outfits(outfits: list[int], rng: np.random.Generator) -> dict[int, int]:
    """Cameras 2 and 3 share outfit 0, camera 4 wears outfit 1, camera 1 outfit 2 or any."""
    cam1 = outfits[2] if len(outfits) > 2 else outfits[int(rng.integers(0, 2))]
    return {1: cam1, 2: outfits[0], 3: outfits[0], 4: outfits[1]}


def draw_frame(
    cfg: SyntheticConfig, ident: Identity, outfit: Outfit, cam: Camera, backdrop: Backdrop,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """One frame of a tracklet: the uint8 image and its exact ATR label map."""
    canvas = Canvas(cfg.height, cfg.width)
    geom = draw_person(canvas, ident, outfit, backdrop, rng)
    plain = cfg.scenes == "plain"
    background, _ = frame_background(
        cfg.seed, cam.index, backdrop, cfg.height, cfg.width, rng, plain
    )
    occ = occluder(cfg.height, cfg.width, rng)  # drawn in both modes: same random sequence
    if plain:
        occ = None
    if occ is not None:  # in front of the legs: background in the image and in the labels
        (y0, y1, x0, x1), colour = occ
        background[y0:y1, x0:x1] = colour
        canvas.labels[y0:y1, x0:x1] = 0
    return render(canvas.labels, ident, outfit, cam, geom, background, rng), canvas.labels


def _render_identity(job: dict) -> int:
    cfg: SyntheticConfig = SyntheticConfig(**job["cfg"])
    cams = make_cameras(cfg.seed)
    outfits = make_outfits(cfg.outfit_pool, cfg.seed)
    ident = make_identities(cfg.train_ids + cfg.test_ids, cfg.seed)[job["index"]]
    rng = np.random.default_rng([cfg.seed, 40_000 + job["index"]])
    out, masks = Path(job["out"]), Path(job["masks"])
    n = 0
    for cam, outfit_id in sorted(job["cam_outfits"].items()):
        backdrop = tracklet_backdrop(cfg.seed, job["index"], cam, cfg.height, cfg.width,
                                     cams[cam].scale, cams[cam].offset)  # fmt: skip
        for k in range(cfg.images_per_camera_of(job["split"])):
            split = job["split"] if job["split"] == "train" else (
                "query" if k < cfg.queries_per_camera else "gallery")  # fmt: skip
            image, labels = draw_frame(cfg, ident, outfits[outfit_id], cams[cam], backdrop, rng)
            name = f"{job['pid']:04d}-{cam}-{outfit_id:03d}-{k:02d}"
            Image.fromarray(image).save(out / split / f"{name}.jpg", quality=92)
            Image.fromarray(labels).save(masks / split / f"{name}.png", compress_level=0)
            n += 1
    return n


def min_outfit_pool(test_ids: int) -> int:
    """Outfits needed for ``test_ids`` identities of up to 3 outfits, each shared by two."""
    return max(3, (3 * test_ids + 1) // 2)


def generate(out: str | Path, cfg: SyntheticConfig = SyntheticConfig(), workers: int = 1,
             progress=None) -> Path:  # fmt: skip
    """Write the dataset under ``out`` (``VC-Clothes/`` and ``masks/VC-Clothes/``).

    Skips the work when ``out`` already holds a complete set made with the same config.
    ``progress`` is called with the number of images written after each identity.
    """
    out = Path(out)
    ensure_writable(out)
    marker = out / COMPLETE_MARKER
    stamp = {"generator": GENERATOR_VERSION, **asdict(cfg)}
    if marker.exists() and json.loads(marker.read_text()) == stamp:
        return out
    if cfg.scenes not in ("cluttered", "plain"):
        raise InputError(f"scenes must be 'cluttered' or 'plain', got {cfg.scenes!r}")
    if (
        cfg.train_ids < 1
        or cfg.test_ids < 1
        or cfg.images_per_camera_of("test") <= cfg.queries_per_camera
    ):
        raise InputError(f"invalid synthetic config {cfg}")
    if cfg.train_ids + cfg.test_ids > max_identities_per_camera(cfg.width):
        raise InputError(
            f"at most {max_identities_per_camera(cfg.width)} identities fit distinct scene crops "
            f"at width {cfg.width}; asked for {cfg.train_ids + cfg.test_ids}"
        )
    if cfg.outfit_pool < min_outfit_pool(cfg.test_ids):
        raise InputError(
            f"outfit_pool={cfg.outfit_pool} is too small for {cfg.test_ids} test identities: "
            f"use at least {min_outfit_pool(cfg.test_ids)}"
        )
    rng = np.random.default_rng([cfg.seed, 50_000])
    pool = list(range(cfg.outfit_pool))
    train_outfits = _assign_outfits(cfg.train_ids, pool, rng, shared=False)
    test_outfits = _assign_outfits(cfg.test_ids, pool, rng, shared=True)
    images, masks = out / "VC-Clothes", out / "masks" / "VC-Clothes"
    marker.unlink(missing_ok=True)
    for folder in (images, masks):  # a set from another config must not leave stale files
        if folder.exists():
            shutil.rmtree(folder)
    for split in ("train", "query", "gallery"):
        (images / split).mkdir(parents=True, exist_ok=True)
        (masks / split).mkdir(parents=True, exist_ok=True)
    jobs = []
    for i, outfits in enumerate(train_outfits + test_outfits):
        split = "train" if i < cfg.train_ids else "test"
        jobs.append({"cfg": asdict(cfg), "index": i, "pid": i + 1, "split": split,
                     "cam_outfits": _camera_outfits(outfits, rng), "out": str(images),
                     "masks": str(masks)})  # fmt: skip
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool_exec:
            for n in pool_exec.map(_render_identity, jobs, chunksize=4):
                progress and progress(n)
    else:
        for job in jobs:
            n = _render_identity(job)
            progress and progress(n)
    atomic_write_text(marker, json.dumps(stamp))
    return out
