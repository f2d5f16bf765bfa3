"""Retrieval and deployment: FAISS gallery index, search, ONNX export."""

from ccreid.retrieval.index import (
    INDEX_KINDS,
    GalleryIndex,
    Hit,
    RetrievalIndexError,
    fingerprint,
    make_index,
)

__all__ = ["INDEX_KINDS", "GalleryIndex", "Hit", "RetrievalIndexError", "fingerprint", "make_index"]
