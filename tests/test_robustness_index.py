"""A broken index folder is named with the file at fault, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ccreid.retrieval.index import GalleryIndex, RetrievalIndexError


@pytest.fixture()
def index_dir(tmp_path: Path) -> Path:
    rows = [{"path": f"{i}.jpg", "pid": i, "camid": 1, "clothes": 1} for i in range(20)]
    info = {"checkpoint": "m.safetensors", "fingerprint": "abc", "gallery_root": str(tmp_path)}
    feats = np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32)
    GalleryIndex.create(feats, rows, info).save(tmp_path / "idx")
    return tmp_path / "idx"


@pytest.mark.reliability(
    tried=(
        "truncated `index.faiss`, `info.json` not an object or lacking a key, `meta.csv` without "
        "header"
    ),
    happens="`RetrievalIndexError` naming the file",
    also=(
        "test_broken_info_json",
        "test_meta_csv_without_header",
    ),
)
def test_truncated_faiss_file(index_dir: Path) -> None:
    data = (index_dir / "index.faiss").read_bytes()
    (index_dir / "index.faiss").write_bytes(data[: len(data) // 3])
    with pytest.raises(RetrievalIndexError, match=r"index\.faiss is not a FAISS index"):
        GalleryIndex.load(index_dir)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", r"info\.json is not valid JSON"),
        ("[1, 2]", r"info\.json must hold a JSON object, found list"),
        (
            '{"dim": 8, "kind": "flat", "checkpoint": "m"}',
            r"info\.json lacks the key\(s\) fingerprint",
        ),
        (
            '{"dim": 8, "kind": "flat", "checkpoint": "m", "fingerprint": "f", "generation": "2"}',
            r"info\.json: generation must be an integer >= 0, found '2'",
        ),
    ],
)
def test_broken_info_json(index_dir: Path, text: str, message: str) -> None:
    (index_dir / "info.json").write_text(text)
    with pytest.raises(RetrievalIndexError, match=message):
        GalleryIndex.load(index_dir)


def test_meta_csv_without_header(index_dir: Path) -> None:
    lines = (index_dir / "meta.csv").read_text().splitlines()
    (index_dir / "meta.csv").write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(RetrievalIndexError, match=r"meta\.csv must start with the header line"):
        GalleryIndex.load(index_dir)


def test_a_good_index_round_trips(index_dir: Path) -> None:
    index = GalleryIndex.load(index_dir)
    assert (
        index.index.ntotal == 20 and json.loads((index_dir / "info.json").read_text())["size"] == 20
    )


def test_a_generation_file_that_info_json_names_but_is_missing(index_dir: Path) -> None:
    info = json.loads((index_dir / "info.json").read_text())
    (index_dir / "info.json").write_text(json.dumps({**info, "generation": 3}))
    with pytest.raises(
        RetrievalIndexError, match=r"not an index folder: index\.3\.faiss is missing"
    ):
        GalleryIndex.load(index_dir)
