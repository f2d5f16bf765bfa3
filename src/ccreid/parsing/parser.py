"""Human parsing with a SegFormer model from `transformers`, written as label PNG trees.

The model's ``id2label`` must name the schema's labels in the schema's order (ATR for
``mattmdjaga/segformer_b2_clothes``); a model with other labels is refused before any
image is read, because a silent index mix-up (ATR vs LIP) would erase the wrong pixels.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from ccreid.errors import CCReIDError, require
from ccreid.fileio import atomic_write, ensure_writable
from ccreid.imagefiles import list_images
from ccreid.parsing.labelmaps import LabelMapError, read_label_map
from ccreid.parsing.schemas import ATR, LIP, ParsingSchema, get_schema, normalise_label_name

DEFAULT_MODEL = "mattmdjaga/segformer_b2_clothes"
TEMP_SUFFIX = ".partial"  # masks are written as .<name>.<random>.partial, then renamed
# LIP -> ATR by name where both have the label, else to a label of the same part.
LIP_TO_ATR = {
    "glove": "left-arm", "coat": "upper-clothes", "socks": "left-leg", "jumpsuits": "dress",
}  # fmt: skip


class ParserLabelError(CCReIDError, ValueError):
    """The parser's labels do not match the requested schema."""


@dataclass
class ParseReport:
    written: int = 0
    skipped_existing: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)


def check_labels(id2label: dict, schema: ParsingSchema, source: str) -> None:
    id2label = {int(k): v for k, v in id2label.items()}
    names = [normalise_label_name(id2label[i]) for i in sorted(id2label)]
    if names != list(schema.labels):
        raise ParserLabelError(
            f"{source} predicts labels {names}, but schema {schema.name!r} expects {list(schema.labels)}"
        )


def atomic_save_png(array: np.ndarray, path: Path) -> None:
    """Write a label PNG through a temp file + rename: a kill never leaves a truncated mask."""
    image = Image.fromarray(array.astype(np.uint8))
    atomic_write(path, lambda tmp: image.save(tmp, format="PNG"), suffix=TEMP_SUFFIX, fsync=False)


def valid_labels(path: Path, size: tuple[int, int], schema: ParsingSchema) -> np.ndarray | None:
    """The mask's labels if it decodes, has the image's size and only the schema's labels."""
    try:
        arr = read_label_map(path)
    except LabelMapError:
        return None
    return arr if arr.shape == size and int(arr.max(initial=0)) < schema.num_labels else None


def valid_mask(path: Path, size: tuple[int, int], schema: ParsingSchema) -> bool:
    return valid_labels(path, size, schema) is not None


class SegFormerParser:
    """Batched SegFormer inference returning label maps at each image's own size."""

    def __init__(self, model: str = DEFAULT_MODEL, schema: str = "atr", device: str = "cpu",
                 bf16: bool = False, input_size: tuple[int, int] = (512, 512)) -> None:  # fmt: skip
        transformers = require("transformers", "parse", "the SegFormer parser")
        AutoModelForSemanticSegmentation = transformers.AutoModelForSemanticSegmentation  # noqa: N806

        self.schema = get_schema(schema)
        self.model = AutoModelForSemanticSegmentation.from_pretrained(model).to(device).eval()
        check_labels(self.model.config.id2label, self.schema, model)
        self.device, self.bf16, self.input_size = torch.device(device), bf16, input_size
        self._bf16_checked = False
        self.mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
        self.std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]

    def __call__(self, images: list[np.ndarray]) -> list[np.ndarray]:
        if self.bf16 and not self._bf16_checked:
            self._bf16_checked = True
            self.bf16 = bf16_keeps_labels(self, images)
        return self._predict(images, self.bf16)

    @torch.no_grad()
    def _predict(self, images: list[np.ndarray], bf16: bool) -> list[np.ndarray]:
        batch = torch.stack([
            F.interpolate(torch.from_numpy(im).permute(2, 0, 1)[None].float() / 255, self.input_size,
                          mode="bilinear", align_corners=False)[0]
            for im in images
        ])  # fmt: skip
        batch = ((batch - self.mean) / self.std).to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = self.model(pixel_values=batch).logits.float()
        out = []
        for im, lg in zip(images, logits, strict=True):
            up = F.interpolate(lg[None], size=im.shape[:2], mode="bilinear", align_corners=False)
            out.append(up[0].argmax(0).to(torch.uint8).cpu().numpy())
        return out


BF16_MIN_AGREEMENT = 0.99


def remove_partial_files(out: Path) -> int:
    """Delete temp files a killed run left behind (never a finished mask)."""
    stale = list(out.rglob(f".*{TEMP_SUFFIX}")) if out.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def bf16_keeps_labels(parser: SegFormerParser, images: list[np.ndarray]) -> bool:
    """bf16 is used only if it gives the fp32 label on >= 99% of the first batch's pixels."""
    fp32 = parser._predict(images, bf16=False)
    bf16 = parser._predict(images, bf16=True)
    agree = float(np.mean([np.mean(a == b) for a, b in zip(fp32, bf16, strict=True)]))
    if agree < BF16_MIN_AGREEMENT:
        warnings.warn(
            f"bf16 changes {100 * (1 - agree):.1f}% of the labels: parsing in fp32", stacklevel=2
        )
        return False
    return True


def parse_tree(
    root: Path, out: Path, parser: Callable[[list[np.ndarray]], list[np.ndarray]], schema: ParsingSchema,
    batch_size: int = 16, progress: Callable[[int], None] | None = None,
) -> ParseReport:  # fmt: skip
    """Parse every image under ``root`` into ``out`` (same relative path, .png).

    Valid masks already there are kept (resume); corrupt images are listed, not fatal.
    """
    ensure_writable(out)
    report = ParseReport()
    remove_partial_files(out)
    pending: list[tuple[Path, np.ndarray]] = []

    def flush() -> None:
        if not pending:
            return
        for (target, _), labels in zip(pending, parser([im for _, im in pending]), strict=True):
            atomic_save_png(labels, target)
            report.written += 1
        if progress:
            progress(len(pending))
        pending.clear()

    for path in list_images(root, recursive=True):
        target = (out / path.relative_to(root)).with_suffix(".png")
        try:
            with Image.open(path) as im:
                image = np.array(im.convert("RGB"))
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            report.failed.append((path, str(exc)))
            progress and progress(1)
            continue
        if target.exists() and valid_mask(target, image.shape[:2], schema):
            report.skipped_existing += 1
            progress and progress(1)
            continue
        pending.append((target, image))
        if len(pending) >= batch_size:
            flush()
    flush()
    return report


def lip_to_atr_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint8)
    for i, name in enumerate(LIP.labels):
        table[i] = ATR.labels.index(LIP_TO_ATR.get(name, name))
    return table


def import_masks(
    src: Path, images_root: Path, out: Path, schema: str = "atr", to_atr: bool = False
) -> ParseReport:
    """Copy label PNGs of another parser (SCHP: ATR or LIP) into the mirrored tree,
    checking each against its image's size and the schema; LIP can be converted to ATR."""
    if not Path(src).is_dir():
        raise FileNotFoundError(f"mask folder {src} to import does not exist")
    ensure_writable(out)
    sch = get_schema(schema)
    table = lip_to_atr_table() if to_atr else None
    report = ParseReport()
    for image_path in list_images(images_root, recursive=True):
        rel = image_path.relative_to(images_root).with_suffix(".png")
        mask_path = src / rel
        if not mask_path.is_file():
            report.failed.append((mask_path, "missing"))
            continue
        try:
            with Image.open(image_path) as im:
                size = (im.height, im.width)
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
            report.failed.append((image_path, f"unreadable image ({exc})"))  # listed, skipped
            continue
        labels = valid_labels(mask_path, size, sch)  # read once: checked, then copied
        if labels is None:
            report.failed.append(
                (mask_path, f"not a {size[1]}x{size[0]} label map of schema {sch.name}")
            )
            continue
        atomic_save_png(table[labels] if table is not None else labels, out / rel)
        report.written += 1
    return report


def parse_folder(
    root: Path, out: Path, model: str = DEFAULT_MODEL, schema: str = "atr", batch_size: int = 16,
    bf16: bool = False, size: int = 512, from_schp: Path | None = None, to_atr: bool = False,
    device: str = "cpu", progress: Callable[[int], None] | None = None,
) -> ParseReport:  # fmt: skip
    """``ccreid parse``: masks for every image below ``root``, written under ``out``, by a
    SegFormer parser (``model``) or imported from another parser's PNGs (``from_schp``).
    Every argument is checked before a model is loaded or a file is written."""
    from ccreid.fileio import refuse_nested_folders

    check_parse_options(size, batch_size, schema, to_atr)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    refuse_nested_folders(root, out)
    ensure_writable(out, create=False)
    if from_schp is not None:
        return import_masks(from_schp, root, out, schema, to_atr)
    parser = SegFormerParser(model, schema, device=device, bf16=bf16, input_size=(size, size))
    return parse_tree(root, out, parser, get_schema(schema), batch_size, progress)


def check_parse_options(size: int, batch_size: int, schema: str, to_atr: bool) -> None:
    """Options no parse could honour (the command line reports them as usage mistakes)."""
    from ccreid.errors import InputError

    if size < 32 or batch_size < 1:
        raise InputError(f"--size must be >= 32 and --batch-size >= 1, got {size}, {batch_size}")
    if to_atr and schema != "lip":
        raise InputError(
            f"--to-atr converts LIP labels to ATR; the masks are read as --schema {schema}, "
            "so there is nothing to convert (use --schema lip for SCHP's LIP model)"
        )


def count_images(root: Path) -> int:
    return len(list_images(root, recursive=True))
