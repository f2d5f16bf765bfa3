"""A procedurally drawn clothes-changing dataset with exact ATR parsing maps (the people
are drawn by `ccreid.synthetic.people`, the scenes by `ccreid.synthetic.scenes`).

Identity lives in clothes-independent cues (hair colour and style, skin tone, glasses or
beard, head size and body proportions as ratios of height); clothes are a strong
distractor (a shared pool of saturated outfits, 2-3 per person, and in the test split each
outfit worn by another test person too). Cameras follow VC-Clothes: cameras 2 and 3 show
the same outfit, camera 4 another, camera 1 either; each camera has its own background,
light, scale, offset, noise and blur, and a cluttered scene of its own; the frames of
one person in one camera form a tracklet in front of one piece of that scene
(`ccreid.synthetic.scenes`), so background is an identity cue that fails across cameras,
as in real data. Occluders and scene are label 0: the body mask is the visible body.
The output is the VC-Clothes layout, so
``load_dataset("vcclothes", out, mask_root=out / "masks")`` reads it. With ``video=True``
each (person, camera) tracklet is a short video instead (the person drifts sideways by
``VIDEO_DRIFT`` pixels a frame), written in the CCVID layout for
``load_dataset("ccvid", out, mask_root=out / "masks")``; cameras 2 and 4 are the query
tracklets, cameras 1 and 3 the gallery.

Every identity draws from its own seeded generator, so a seed gives the same bytes for
any number of worker processes.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ccreid.errors import InputError
from ccreid.fileio import atomic_write_text, ensure_writable
from ccreid.synthetic.people import (
    Camera,
    Canvas,
    Identity,
    Outfit,
    draw_person,
    make_identities,
    make_outfits,
    render,
)
from ccreid.synthetic.scenes import (
    Backdrop,
    frame_background,
    max_identities_per_camera,
    occluder,
    tracklet_backdrop,
)

CAMERAS = (1, 2, 3, 4)
COMPLETE_MARKER = ".synthetic.json"
GENERATOR_VERSION = 3  # bump when the drawing changes: an existing set is then redrawn
VIDEO_DRIFT = 1.0  # pixels per frame of sideways motion in video mode
VIDEO_QUERY_CAMERAS = (2, 4)  # each sees one outfit; the gallery (1, 3) has the other
MIN_OUTFIT_POOL = 150  # the size of shared pool that made clothes a strong cue in prototypes


@dataclass(frozen=True)
class SyntheticConfig:
    """Size of the dataset; defaults from the prototypes that made clothes a strong but beatable cue."""

    train_ids: int = 100
    test_ids: int = 50
    images_per_camera: int = 4
    queries_per_camera: int = 1
    test_images_per_camera: int | None = None  # None: images_per_camera
    scenes: str = "cluttered"  # cluttered (tracklet backdrops, props, occluders) | plain (control)
    # Cluttered scenes: 0 gives every (identity, camera) tracklet a piece of scene and a prop
    # of its own; N > 0 gives each camera N shared places that the tracklets are spread over.
    backdrop_places: int = 0
    outfit_pool: int | None = None  # None: enough for the test ids, at least MIN_OUTFIT_POOL
    height: int = 128
    width: int = 64
    seed: int = 0
    video: bool = False  # tracklets as short videos, CCVID layout (frames = images per camera)

    def images_per_camera_of(self, split: str) -> int:
        if split != "train" and self.test_images_per_camera is not None:
            return self.test_images_per_camera
        return self.images_per_camera

    @property
    def outfits(self) -> int:
        """Size of the shared outfit pool: as given, or enough for every test identity to
        wear up to 3 outfits each shared with another test identity (at least 150)."""
        if self.outfit_pool is not None:
            return self.outfit_pool
        return max(MIN_OUTFIT_POOL, outfits_needed(self.test_ids))

    @property
    def num_images(self) -> int:
        per_id = self.train_ids * self.images_per_camera_of("train")
        return (per_id + self.test_ids * self.images_per_camera_of("test")) * len(CAMERAS)


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
    outfits = make_outfits(cfg.outfits, cfg.seed)
    ident = make_identities(cfg.train_ids + cfg.test_ids, cfg.seed)[job["index"]]
    rng = np.random.default_rng([cfg.seed, 40_000 + job["index"]])
    out, masks = Path(job["out"]), Path(job["masks"])
    n = 0
    for cam, outfit_id in sorted(job["cam_outfits"].items()):
        backdrop = tracklet_backdrop(cfg.seed, job["index"], cam, cfg.height, cfg.width,
                                     cams[cam].scale, cams[cam].offset, cfg.backdrop_places)  # fmt: skip
        frames = cfg.images_per_camera_of(job["split"])
        folder = tracklet_folder(job["pid"], cam, outfit_id)
        if cfg.video:  # one folder per tracklet
            (out / folder).mkdir(parents=True, exist_ok=True)
            (masks / folder).mkdir(parents=True, exist_ok=True)
        for k in range(frames):
            if cfg.video:
                drift = VIDEO_DRIFT * (k - (frames - 1) / 2)
                shown = dataclasses.replace(backdrop, offset=backdrop.offset + drift)
                name = f"{folder}/{k:03d}"
            else:
                shown = backdrop
                split = job["split"] if job["split"] == "train" else (
                    "query" if k < cfg.queries_per_camera else "gallery")  # fmt: skip
                name = f"{split}/{job['pid']:04d}-{cam}-{outfit_id:03d}-{k:02d}"
            image, labels = draw_frame(cfg, ident, outfits[outfit_id], cams[cam], shown, rng)
            Image.fromarray(image).save(out / f"{name}.jpg", quality=92)
            Image.fromarray(labels).save(masks / f"{name}.png", compress_level=0)
            n += 1
    return n


def tracklet_folder(pid: int, cam: int, outfit: int) -> str:
    """Video mode: CCVID's ``session<k>/<name>`` with the camera as the second '_' token."""
    return f"session1/{pid:04d}_{cam:02d}_{outfit:03d}"


def _write_video_lists(root: Path, jobs: list[dict]) -> None:
    """CCVID's train/query/gallery lists: '<tracklet folder> <pid> <outfit label>'."""
    lines: dict[str, list[str]] = {"train": [], "query": [], "gallery": []}
    for job in jobs:
        for cam, outfit in sorted(job["cam_outfits"].items()):
            split = job["split"] if job["split"] == "train" else (
                "query" if cam in VIDEO_QUERY_CAMERAS else "gallery")  # fmt: skip
            lines[split].append(f"{tracklet_folder(job['pid'], cam, outfit)} {job['pid']} {outfit}")
    for split, rows in lines.items():
        atomic_write_text(root / f"{split}.txt", "\n".join(rows) + "\n")


def outfits_needed(test_ids: int) -> int:
    """Outfits needed for ``test_ids`` identities of up to 3 outfits, each shared by two."""
    return max(3, (3 * test_ids + 1) // 2)


def check_config(cfg: SyntheticConfig) -> None:
    """Refuse a config the generator cannot honour, before anything is drawn."""
    if cfg.scenes not in ("cluttered", "plain"):
        raise InputError(f"scenes must be 'cluttered' or 'plain', got {cfg.scenes!r}")
    if (
        cfg.train_ids < 1
        or cfg.test_ids < 1
        or cfg.images_per_camera_of("test") <= cfg.queries_per_camera
        or cfg.backdrop_places < 0
    ):
        raise InputError(f"invalid synthetic config {cfg}")
    if cfg.train_ids + cfg.test_ids > max_identities_per_camera(cfg.width):
        raise InputError(
            f"at most {max_identities_per_camera(cfg.width)} identities fit distinct scene crops "
            f"at width {cfg.width}; asked for {cfg.train_ids + cfg.test_ids}"
        )
    if cfg.outfits < outfits_needed(cfg.test_ids):
        raise InputError(
            f"outfit_pool={cfg.outfits} is too small for {cfg.test_ids} test identities: "
            f"use at least {outfits_needed(cfg.test_ids)}"
        )


def _jobs(cfg: SyntheticConfig, images: Path, masks: Path) -> list[dict]:
    """One drawing job per identity: its split, outfits per camera and output folders."""
    rng = np.random.default_rng([cfg.seed, 50_000])
    pool = list(range(cfg.outfits))
    train_outfits = _assign_outfits(cfg.train_ids, pool, rng, shared=False)
    test_outfits = _assign_outfits(cfg.test_ids, pool, rng, shared=True)
    jobs = []
    for i, outfits in enumerate(train_outfits + test_outfits):
        split = "train" if i < cfg.train_ids else "test"
        jobs.append({"cfg": asdict(cfg), "index": i, "pid": i + 1, "split": split,
                     "cam_outfits": _camera_outfits(outfits, rng), "out": str(images),
                     "masks": str(masks)})  # fmt: skip
    return jobs


def _fresh_folders(out: Path, cfg: SyntheticConfig) -> tuple[Path, Path]:
    """Empty image and mask folders: a set from another config must not leave stale files."""
    layout = "CCVID" if cfg.video else "VC-Clothes"
    images, masks = out / layout, out / "masks" / layout
    for name in ("VC-Clothes", "CCVID"):
        for folder in (out / name, out / "masks" / name):
            if folder.exists():
                shutil.rmtree(folder)
    for split in () if cfg.video else ("train", "query", "gallery"):
        (images / split).mkdir(parents=True, exist_ok=True)
        (masks / split).mkdir(parents=True, exist_ok=True)
    images.mkdir(parents=True, exist_ok=True)
    return images, masks


def drawing_stamp(cfg: SyntheticConfig) -> dict[str, Any]:
    """What a complete set records of how it was drawn (a set with another stamp is redrawn)."""
    return {"generator": GENERATOR_VERSION, **asdict(cfg)}


def drawn_stamp(out: str | Path) -> dict[str, Any] | None:
    """The stamp of the complete set in ``out``, or None where no complete set lies."""
    marker = Path(out) / COMPLETE_MARKER
    return json.loads(marker.read_text()) if marker.is_file() else None


def generate(out: str | Path, cfg: SyntheticConfig = SyntheticConfig(), workers: int = 1,
             progress=None) -> Path:  # fmt: skip
    """Write the dataset under ``out`` (``VC-Clothes/`` and ``masks/VC-Clothes/``).

    Skips the work when ``out`` already holds a complete set made with the same config.
    ``progress`` is called with the number of images written after each identity.
    """
    out = Path(out)
    ensure_writable(out)
    marker = out / COMPLETE_MARKER
    stamp = drawing_stamp(cfg)
    if drawn_stamp(out) == stamp:
        return out
    check_config(cfg)
    marker.unlink(missing_ok=True)
    images, masks = _fresh_folders(out, cfg)
    jobs = _jobs(cfg, images, masks)
    if cfg.video:
        _write_video_lists(images, jobs)
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
