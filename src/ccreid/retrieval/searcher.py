"""A loaded index and its model, answering queries given as image bytes (for `serve`).

Uploads are decoded in memory and never written anywhere; their size and pixel count are
checked before decoding. A model whose attention needs a body mask gets one from an
uploaded label PNG or from a configured parser; otherwise the query is refused."""

from __future__ import annotations

import io
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
from ccreid.parsing import body_mask, get_schema, to_parts
from ccreid.retrieval.index import GalleryIndex, Hit, fingerprint

MAX_SIDE = 4096


class QueryError(CCReIDError, ValueError):
    """A query the service cannot answer: the message says why (shown to the client)."""


@dataclass(frozen=True)
class Answer:
    hits: list[Hit]
    mask_source: str  # "upload", "parser", "predicted" (the model's mask head) or "none"


def _decode(data: bytes, what: str, max_side: int) -> Image.Image:
    try:
        im = Image.open(io.BytesIO(data))
        if max(im.size) > max_side:
            raise QueryError(f"{what} is {im.width}x{im.height}: at most {max_side} pixels a side")
        im.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise QueryError(f"{what} is not an image this service can read ({exc})") from None
    return im


class Searcher:
    """Model + index, loaded once. ``parser`` maps an RGB array to a label map (optional)."""

    def __init__(self, index_dir: Path, checkpoint: Path | None = None,
                 parser: Callable[[np.ndarray], np.ndarray] | None = None,
                 max_side: int = MAX_SIDE) -> None:  # fmt: skip
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
        self.parser, self.max_side = parser, max_side

    @property
    def needs_mask(self) -> bool:
        return self.model.needs_mask

    def info(self) -> dict:
        return {
            "checkpoint": str(self.checkpoint), "fingerprint": self.index.info["fingerprint"],
            "size": self.index.index.ntotal, "dim": self.index.info["dim"],
            "kind": self.index.info["kind"], "needs_mask": self.needs_mask,
            "can_parse": self.parser is not None, "attention": self.cfg.model.attention,
            "input": [self.augment.height, self.augment.width],
        }  # fmt: skip

    def _parts(self, image: np.ndarray, mask: bytes | None) -> tuple[np.ndarray | None, str]:
        if self.model.mask_source == "predicted":  # the head's mask; an upload goes unused
            return None, "predicted"
        if mask is not None:
            im = _decode(mask, "the mask", self.max_side)
            if im.mode not in ("L", "P"):
                raise QueryError(f"the mask is a mode-{im.mode} image: expected an 8-bit label PNG")
            labels = np.array(im, dtype=np.uint8)
            if labels.shape != image.shape[:2]:
                raise QueryError(
                    f"the mask is {labels.shape[1]}x{labels.shape[0]}, the image "
                    f"{image.shape[1]}x{image.shape[0]}: they must have the same size"
                )
            source = "upload"
        elif self.needs_mask and self.parser is not None:
            labels, source = self.parser(image), "parser"
        elif self.needs_mask:
            raise QueryError(
                "this model needs a body mask: upload the query's label PNG as 'mask' "
                "(or start the service with --parser)"
            )
        else:
            return None, "none"
        try:
            return to_parts(labels, self.schema), source
        except ValueError as exc:
            raise QueryError(
                f"the mask's labels do not fit schema {self.schema.name}: {exc}"
            ) from None

    @torch.no_grad()
    def search(self, image: bytes, mask: bytes | None = None, top_k: int = 10) -> Answer:
        rgb = np.array(_decode(image, "the query", self.max_side).convert("RGB"))
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
