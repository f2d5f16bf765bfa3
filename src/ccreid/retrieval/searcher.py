"""A loaded index and its model, answering queries given as image bytes (for `serve`).

Uploads are decoded in memory and never written anywhere. Only the formats the pipeline
reads are opened (``ccreid.imagefiles``; masks: label PNGs only), and an image's sides and
pixel count are checked from its header before any pixel is decoded, so a small file that
would decode to a huge image costs nothing. A model whose attention needs a body mask gets
one from an uploaded label PNG or from a configured parser; otherwise the query is refused."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ccreid.config import adapter as A
from ccreid.data import InputNormalizer
from ccreid.data.transforms import apply_geometric, geometric_transform
from ccreid.engine.experiment import load_trained_model
from ccreid.errors import CCReIDError
from ccreid.imagefiles import PIL_FORMATS, format_names
from ccreid.parsing import body_mask, get_schema, to_parts
from ccreid.retrieval.index import GalleryIndex, Hit, fingerprint

MAX_SIDE = 4096
# Every query is resized to the model's input anyway: a bigger picture only costs decode
# time (a 4096x4096 PNG of 16 KB took 0.8 s), so the budget bounds that cost per request.
MAX_PIXELS = 2048 * 2048
MASK_FORMATS = ("PNG",)
LABEL_PNG = "an 8-bit label PNG (mode L or P)"
# What Pillow raises for a file of a known format that is cut short or corrupt.
DAMAGED = (OSError, ValueError, SyntaxError, EOFError)


class QueryError(CCReIDError, ValueError):
    """A query the service cannot answer: the message says why (shown to the client), the
    status is the HTTP answer (400 unreadable, 413 too large, 422 missing mask)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Answer:
    hits: list[Hit]
    # "upload", "parser", "predicted" (the model's mask head), "ignored" (a mask was
    # uploaded for a model that uses none) or "none"
    mask_source: str


_REPR = re.compile(r"\s*<[^<>]* at 0x[0-9a-fA-F]+>")


def _reason(exc: BaseException) -> str:
    """An exception's message without object reprs (``<_io.BytesIO object at 0x...>``)."""
    return _REPR.sub("", str(exc)).strip() or type(exc).__name__


def check_size(im: Image.Image, what: str, max_side: int, max_pixels: int) -> None:
    """Refuse (413) an image whose header promises more pixels than the budget."""
    w, h = im.size
    if max(w, h) > max_side or w * h > max_pixels:
        raise QueryError(
            f"{what} is {w}x{h}: at most {max_side} pixels a side and {max_pixels} pixels "
            "in all (resize it first; the model sees it much smaller anyway)",
            status=413,
        )


def open_image(data: bytes, what: str, formats: tuple[str, ...], max_side: int,
               max_pixels: int, expected: str = "") -> Image.Image:  # fmt: skip
    """Decode ``data`` with Pillow's readers for ``formats`` only, after checking its size."""
    try:
        im = Image.open(io.BytesIO(data), formats=list(formats))
    except UnidentifiedImageError:
        raise QueryError(f"{what} is not an image this service can read: expected "
                         f"{expected or format_names(formats)}") from None  # fmt: skip
    except Image.DecompressionBombError as exc:
        raise QueryError(f"{what} is too large ({_reason(exc)})", status=413) from None
    except DAMAGED as exc:  # a known format's header, cut short or corrupt
        raise QueryError(f"{what} is not an image this service can read ({_reason(exc)})") from None
    check_size(im, what, max_side, max_pixels)
    try:
        im.load()
    except DAMAGED as exc:
        raise QueryError(
            f"{what} is not an image this service can read: a damaged {im.format} "
            f"file ({_reason(exc)})"
        ) from None
    return im


class Searcher:
    """Model + index, loaded once. ``parser`` maps an RGB array to a label map (optional)."""

    def __init__(self, index_dir: Path, checkpoint: Path | None = None,
                 parser: Callable[[np.ndarray], np.ndarray] | None = None,
                 max_side: int = MAX_SIDE, max_pixels: int = MAX_PIXELS) -> None:  # fmt: skip
        self.index = GalleryIndex.load(index_dir)
        self.checkpoint = Path(checkpoint or self.index.info["checkpoint"])
        if not self.checkpoint.is_file():
            raise FileNotFoundError(
                f"checkpoint {self.checkpoint} does not exist: pass --checkpoint"
            )
        if fingerprint(self.checkpoint) != self.index.info["fingerprint"]:
            raise QueryError(f"{self.checkpoint} is not the model index {index_dir} was built with")
        self.model, self.cfg = load_trained_model(
            self.checkpoint, torch.device("cpu"), self.index.info.get("mask_source")
        )
        self.model.float().eval()
        self.augment = A.augment_config(self.cfg)
        self.geometric = geometric_transform(self.augment, train=False)
        self.normalize = InputNormalizer.of(self.augment)
        self.schema = get_schema(self.cfg.data.schema)
        self.parser, self.max_side, self.max_pixels = parser, max_side, max_pixels

    @property
    def needs_mask(self) -> bool:
        return self.model.needs_mask

    def info(self) -> dict:
        return {
            "checkpoint": self.checkpoint.name, "fingerprint": self.index.info["fingerprint"],
            "size": self.index.index.ntotal, "dim": self.index.info["dim"],
            "kind": self.index.info["kind"], "needs_mask": self.needs_mask,
            "can_parse": self.parser is not None, "attention": self.cfg.model.attention,
            "input": [self.augment.height, self.augment.width],
        }  # fmt: skip

    def _decode(
        self, data: bytes, what: str, formats: tuple[str, ...], expected: str = ""
    ) -> Image.Image:
        return open_image(data, what, formats, self.max_side, self.max_pixels, expected)

    def _uploaded_labels(self, mask: bytes, size: tuple[int, int]) -> np.ndarray:
        """The uploaded label PNG as a (H, W) label map, checked against the image size."""
        im = self._decode(mask, "the mask", MASK_FORMATS, LABEL_PNG)
        if im.mode not in ("L", "P"):
            raise QueryError(f"the mask is a mode-{im.mode} PNG: expected {LABEL_PNG}")
        labels = np.array(im, dtype=np.uint8)
        if labels.shape != size:
            raise QueryError(
                f"the mask is {labels.shape[1]}x{labels.shape[0]}, the image "
                f"{size[1]}x{size[0]}: they must have the same size"
            )
        return labels

    def _parts(self, image: np.ndarray, mask: bytes | None) -> tuple[np.ndarray | None, str]:
        """The query's part map and where it came from. A model that uses no caller's mask
        (no BSGA, or its own mask head) never reads an uploaded one: "ignored"/"predicted"."""
        if self.model.mask_source == "predicted":  # the head's mask; an upload goes unused
            return None, "predicted"
        if not self.needs_mask:
            return None, "none" if mask is None else "ignored"
        if mask is not None:
            labels, source = self._uploaded_labels(mask, image.shape[:2]), "upload"
        elif self.parser is not None:
            labels, source = self.parser(image), "parser"
        else:
            raise QueryError(
                "this model needs a body mask: upload the query's label PNG as 'mask' "
                "(or start the service with --parser)",
                status=422,
            )
        try:
            return to_parts(labels, self.schema), source
        except ValueError as exc:
            raise QueryError(
                f"the mask's labels do not fit schema {self.schema.name}: {exc}"
            ) from None

    @torch.no_grad()
    def search(self, image: bytes, mask: bytes | None = None, top_k: int = 10) -> Answer:
        rgb = np.array(self._decode(image, "the query", PIL_FORMATS).convert("RGB"))
        parts, source = self._parts(rgb, mask)
        tensor = torch.from_numpy(rgb).permute(2, 0, 1).contiguous()
        part_tensor = None if parts is None else torch.from_numpy(np.ascontiguousarray(parts))[None]
        resized, resized_parts = apply_geometric(self.geometric, tensor, part_tensor)
        masks = None
        if self.needs_mask and resized_parts is not None:
            masks = body_mask(resized_parts)[None].float()
        feature = self.model(self.normalize(resized[None]), masks).float()
        hits = self.index.search(feature.numpy(), top_k)[0]
        return Answer(hits, source)
