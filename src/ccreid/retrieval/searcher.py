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

from ccreid.config.schema import MAX_SIDE  # noqa: E402  (one limit for every image side)
from ccreid.data.filelabels import UNKNOWN, FileLabels
from ccreid.data.images import ImageReadError, decode_image_bytes
from ccreid.errors import InputError
from ccreid.imagefiles import PIL_FORMATS, format_names
from ccreid.inference import load
from ccreid.retrieval.filters import SearchFilter
from ccreid.retrieval.index import GalleryIndex, Hit, check_model
from ccreid.retrieval.service import query_filter

# Every query is resized to the model's input anyway: a bigger picture only costs decode
# time (a 4096x4096 PNG of 16 KB took 0.8 s), so the budget bounds that cost per request.
MAX_PIXELS = 2048 * 2048
MASK_FORMATS = ("PNG",)
LABEL_PNG = "an 8-bit label PNG (mode L or P)"
# What Pillow raises for a file of a known format that is cut short or corrupt.
DAMAGED = (OSError, ValueError, SyntaxError, EOFError)


class QueryError(InputError):
    """A query the service cannot answer: the message says why (shown to the client); the
    type decides the HTTP status (``status``)."""

    status = 400  # unreadable or inconsistent input


class QueryTooLarge(QueryError):
    """An upload or image over the service's limits."""

    status = 413


class QueryUnprocessable(QueryError):
    """A well-formed request that lacks what the answer needs (a field, a mask, top_k)."""

    status = 422


@dataclass(frozen=True)
class Query:
    """One search request: the image (and mask) as uploaded bytes, the page wanted, the
    query's labels where the caller gives them, and the filters."""

    image: bytes
    mask: bytes | None = None
    top_k: int = 10
    offset: int = 0
    filename: str | None = None  # read by the index's layout for labels not given
    given: FileLabels = UNKNOWN
    exclude_same_camera: bool = False
    other_clothes_only: bool = False
    cameras: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Prepared:
    """A query decoded and checked, ready to be embedded with others."""

    query: Query
    pixels: torch.Tensor
    labels: np.ndarray | None
    mask_source: str
    filter: SearchFilter
    body_mask: np.ndarray | None  # (H, W) bool at the model's input, from ``labels``


@dataclass(frozen=True)
class Answer:
    hits: list[Hit]
    # "upload", "parser", "predicted" (the model's mask head), "ignored" (a mask was
    # uploaded for a model that uses none) or "none"
    mask_source: str
    query: FileLabels = UNKNOWN  # the query's labels the filters and match marks used
    body_mask: np.ndarray | None = None  # (H, W) bool at the model's input: what BSGA saw


_REPR = re.compile(r"\s*<[^<>]* at 0x[0-9a-fA-F]+>")


def _reason(exc: BaseException) -> str:
    """An exception's message without object reprs (``<_io.BytesIO object at 0x...>``)."""
    return _REPR.sub("", str(exc)).strip() or type(exc).__name__


def check_size(im: Image.Image, what: str, max_side: int, max_pixels: int) -> None:
    """Refuse (413) an image whose header promises more pixels than the budget."""
    w, h = im.size
    if max(w, h) > max_side or w * h > max_pixels:
        raise QueryTooLarge(
            f"{what} is {w}x{h}: at most {max_side} pixels a side and {max_pixels} pixels "
            "in all (resize it first; the model sees it much smaller anyway)"
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
        raise QueryTooLarge(f"{what} is too large ({_reason(exc)})") from None
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
    """Model + index, loaded once. ``parser`` maps an RGB array to a label map (optional).

    A query is embedded by the same `ccreid.TrainedModel` path as ``ccreid
    search`` and ``model.embed`` (decoding, 16-bit scaling, resize, flip fusion and
    precision of the checkpoint), so every route ranks a query alike."""

    def __init__(self, index_dir: Path, checkpoint: Path | None = None,
                 parser: Callable[[np.ndarray], np.ndarray] | None = None,
                 max_side: int = MAX_SIDE, max_pixels: int = MAX_PIXELS,
                 device: str = "auto") -> None:  # fmt: skip
        self.index = GalleryIndex.load(index_dir)
        self.checkpoint = check_model(self.index, checkpoint)
        self.model = load(self.checkpoint, device, self.index.info.get("mask_source"))
        self.parser, self.max_side, self.max_pixels = parser, max_side, max_pixels

    @property
    def needs_mask(self) -> bool:
        return self.model.needs_mask

    def info(self) -> dict:
        prep = self.model.preprocessing
        return {
            "checkpoint": self.checkpoint.name, "fingerprint": self.index.info["fingerprint"],
            "size": self.index.index.ntotal, "dim": self.index.info["dim"],
            "kind": self.index.info["kind"], "needs_mask": self.needs_mask,
            "mask_source": self.model.mask_source, "can_parse": self.parser is not None,
            "attention": self.model.config.model.attention, "input": [prep.height, prep.width],
            "layout": self.index.info.get("layout"),
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

    def labels(self, image: torch.Tensor, mask: bytes | None) -> tuple[np.ndarray | None, str]:
        """The query's label map and where it came from. A model that uses no caller's mask
        (no BSGA, or its own mask head) never reads an uploaded one: "ignored"/"predicted"."""
        if self.model.mask_source == "predicted":  # the head's mask; an upload goes unused
            return None, "predicted"
        if not self.needs_mask:
            return None, "none" if mask is None else "ignored"
        size = tuple(image.shape[-2:])
        if mask is not None:
            return self._uploaded_labels(mask, size), "upload"
        if self.parser is not None:
            return self.parser(image.permute(1, 2, 0).numpy()), "parser"
        raise QueryUnprocessable(
            "this model needs a body mask: upload the query's label PNG as 'mask' "
            "(or start the service with --parser)"
        )

    def decode(self, image: bytes) -> torch.Tensor:
        """The query as (3, H, W) uint8, checked (format, size) before it is decoded, then
        decoded as a dataset image is."""
        self._decode(image, "the query", PIL_FORMATS)
        try:
            return decode_image_bytes(image)
        except ImageReadError as exc:
            raise QueryError(f"the query is not an image this service can read ({exc})") from None

    def prepare(self, query: Query) -> Prepared:
        """Decode and check a query (its image, mask, labels and filters) before it joins
        a batch: every refusal happens here, for this request alone."""
        pixels = self.decode(query.image)
        labels, source = self.labels(pixels, query.mask)
        try:
            filt = query_filter(self.index, query.filename, query.given, query.exclude_same_camera,
                                query.other_clothes_only, query.cameras)  # fmt: skip
        except InputError as exc:
            raise QueryUnprocessable(str(exc)) from None
        body = None
        if labels is not None:  # checked here, for this request alone, and shown beside it
            try:
                _, mask = self.model.preprocessing.prepare([pixels], [labels], None)
            except InputError as exc:  # labels outside the model's schema
                raise QueryError(f"the mask does not fit the model: {exc}") from None
            body = mask[0, 0].numpy() > 0.5
        return Prepared(query, pixels, labels, source, filt, body)

    @torch.no_grad()
    def embed(self, batch: list[Prepared]) -> np.ndarray:
        """Features of prepared queries, embedded together as one batch."""
        labels = [p.labels for p in batch]
        masks = None if all(m is None for m in labels) else labels
        return self.model.embed([p.pixels for p in batch], masks).numpy()

    def answer(self, prepared: Prepared, feature: np.ndarray) -> Answer:
        """The page of hits of one embedded query, with what the page shows beside it."""
        q = prepared.query
        hits = self.index.search(feature[None], q.top_k, q.offset, [prepared.filter])[0]
        return Answer(hits, prepared.mask_source, prepared.filter.query, prepared.body_mask)

    def answer_batch(self, batch: list[Prepared]) -> list[Answer]:
        feats = self.embed(batch)
        return [self.answer(p, f) for p, f in zip(batch, feats, strict=True)]

    def search(self, image: bytes, mask: bytes | None = None, top_k: int = 10) -> Answer:
        """One query on its own (the page and the API batch concurrent ones: `Batcher`)."""
        return self.run(Query(image, mask, top_k))

    def run(self, query: Query) -> Answer:
        """One `Query` (page, labels, filters) on its own."""
        return self.answer_batch([self.prepare(query)])[0]
