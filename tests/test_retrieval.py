"""Index build/add/search round trips and ONNX export parity."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from ccreid.retrieval import GalleryIndex, RetrievalIndexError
from ccreid.retrieval.export import export_onnx
from ccreid.retrieval.service import add_to_index, build_index, search


@pytest.fixture()
def gallery(tiny_synthetic: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A gallery folder (with masks) of 12 synthetic test images."""
    src, masks = (
        tiny_synthetic / "VC-Clothes" / "gallery",
        tiny_synthetic / "masks" / "VC-Clothes" / "gallery",
    )
    g, gm = tmp_path / "gallery", tmp_path / "gallery_masks"
    g.mkdir()
    gm.mkdir()
    for p in sorted(src.glob("*.jpg"))[:12]:
        shutil.copy(p, g / p.name)
        shutil.copy((masks / p.name).with_suffix(".png"), gm / p.with_suffix(".png").name)
    return g, gm


def test_query_finds_its_own_gallery_twin_first(
    tiny_checkpoint: Path, gallery, tmp_path: Path
) -> None:
    g, gm = gallery
    index = build_index(tiny_checkpoint, g, tmp_path / "idx", gm)
    assert index.index.ntotal == 12
    queries = sorted(g.glob("*.jpg"))[:3]
    samples, hits = search(tmp_path / "idx", queries, top_k=5, mask_root=gm)
    for q, hs in zip(samples, hits, strict=True):
        assert len(hs) == 5 and hs[0].path == q.path and hs[0].score == pytest.approx(1.0, abs=1e-3)
        assert [h.score for h in hs] == sorted((h.score for h in hs), reverse=True)


def test_add_appends_and_survives_reload(tiny_checkpoint: Path, gallery, tmp_path: Path) -> None:
    g, gm = gallery
    build_index(tiny_checkpoint, g, tmp_path / "idx", gm)
    _, skipped = add_to_index(tmp_path / "idx", [g], mask_root=gm)  # the same files again
    assert skipped == 12 and GalleryIndex.load(tmp_path / "idx").index.ntotal == 12
    more, more_masks = tmp_path / "more", tmp_path / "more_masks"
    more.mkdir()
    more_masks.mkdir()
    for f in g.glob("*.jpg"):
        shutil.copy(f, more / f"copy-{f.name}")
        shutil.copy(gm / f.with_suffix(".png").name, more_masks / f"copy-{f.stem}.png")
    _, skipped = add_to_index(tmp_path / "idx", [more], mask_root=more_masks)
    assert skipped == 0 and GalleryIndex.load(tmp_path / "idx").index.ntotal == 24


def test_dimension_and_model_mismatch_are_errors(
    tiny_checkpoint: Path, gallery, tmp_path: Path
) -> None:
    g, gm = gallery
    index = build_index(tiny_checkpoint, g, tmp_path / "idx", gm)
    with pytest.raises(RetrievalIndexError, match="dimension 7"):
        index.add(
            np.zeros((1, 7), np.float32), [{"path": "x", "pid": -1, "camid": -1, "clothes": -1}]
        )
    other = tmp_path / "other.safetensors"
    other.write_bytes(tiny_checkpoint.read_bytes() + b"")
    with open(other, "ab") as fh:
        fh.write(b" ")
    with pytest.raises(RetrievalIndexError, match="not the model this index was built with"):
        add_to_index(tmp_path / "idx", [g], checkpoint=other, mask_root=gm)
    with pytest.raises(RetrievalIndexError, match="is not an index folder"):
        GalleryIndex.load(tmp_path)


def test_approximate_index_kinds_build(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(500, 16)).astype(np.float32)
    rows = [{"path": str(i), "pid": i, "camid": 0, "clothes": 0} for i in range(500)]
    for kind in ("ivf", "hnsw"):
        idx = GalleryIndex.create(feats, rows, {}, kind)
        assert idx.search(feats[:3], 1)[0][0].pid == 0


def test_onnx_export_matches_pytorch(tiny_checkpoint: Path, tmp_path: Path) -> None:
    report = export_onnx(tiny_checkpoint, tmp_path / "m.onnx")
    assert report.max_abs_diff < 1e-3 and report.inputs == ("image", "mask")
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert props["ccreid.height"] == "64" and props["ccreid.mask_schema"] == "atr"
