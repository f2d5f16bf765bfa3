"""`ccreid.load(...)` gives a TrainedModel that embeds images from every form a user holds
them in, with every kind of mask, and every route (Python, `search`, `serve`, dataset
extraction) embeds a query the same way."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_overrides
from PIL import Image

import ccreid
from ccreid.config import load_config
from ccreid.data import Sample
from ccreid.engine import run_training
from ccreid.errors import InputError, MaskRequiredError
from ccreid.inference import load_checkpoint, save_checkpoint
from ccreid.parsing import ATR, body_mask, to_parts


@pytest.fixture(scope="module")
def query(tiny_synthetic: Path) -> tuple[Path, Path]:
    image = sorted((tiny_synthetic / "VC-Clothes" / "query").glob("*.jpg"))[0]
    mask = tiny_synthetic / "masks" / "VC-Clothes" / "query" / image.with_suffix(".png").name
    return image, mask


@pytest.fixture(scope="module")
def model(tiny_checkpoint: Path):
    return ccreid.load(tiny_checkpoint, device="cpu")


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, atol=1e-5)


def test_a_trained_model_carries_its_preprocessing(model, tiny_checkpoint: Path) -> None:
    assert isinstance(model, ccreid.TrainedModel)
    prep = model.preprocessing
    assert (prep.height, prep.width, prep.schema) == (64, 32, "atr")
    assert model.needs_mask and model.mask_source == "parser"
    assert model.checkpoint == tiny_checkpoint and model.device == torch.device("cpu")


def test_paths_pil_arrays_and_tensors_give_the_same_features(model, query) -> None:
    """The same picture as a file, a PIL image, a uint8 array, a uint8 tensor and a float
    tensor in [0, 1], with its label map as a file or an array: one feature."""
    image, mask = query
    labels = np.array(Image.open(mask))
    pixels = np.array(Image.open(image).convert("RGB"))
    from ccreid.data import read_image

    decoded = read_image(image)  # the project's decoder (PIL's JPEG decoder may differ)
    reference = model.embed([image], masks=[mask])
    assert reference.shape == (1, model.feature_dim)
    assert torch.allclose(reference.norm(dim=1), torch.ones(1))
    forms = [
        (decoded, labels),
        (decoded.permute(1, 2, 0).numpy(), Image.open(mask)),
        (decoded.float() / 255, torch.from_numpy(labels)),
        (Image.fromarray(decoded.permute(1, 2, 0).numpy()), labels),
    ]
    for img, msk in forms:
        assert _close(model.embed(img, msk), reference), type(img)
    # a PIL-decoded array is a valid input too (its JPEG decoding may differ by a level)
    assert model.embed(pixels, labels).shape == (1, model.feature_dim)


def test_a_batch_of_images_equals_them_one_by_one(model, tiny_synthetic: Path) -> None:
    folder = tiny_synthetic / "VC-Clothes" / "gallery"
    images = sorted(folder.glob("*.jpg"))[:5]
    masks = [
        tiny_synthetic / "masks/VC-Clothes/gallery" / p.with_suffix(".png").name for p in images
    ]
    together = model.embed(images, masks, batch_size=2)
    alone = torch.cat([model.embed(i, m) for i, m in zip(images, masks, strict=True)])
    assert _close(together, alone)


def test_embed_equals_dataset_extraction(model, tiny_synthetic: Path) -> None:
    """model.embed on files and the data-loader path of evaluation give one feature."""
    folder = tiny_synthetic / "VC-Clothes" / "gallery"
    images = sorted(folder.glob("*.jpg"))[:4]
    masks = [
        tiny_synthetic / "masks/VC-Clothes/gallery" / p.with_suffix(".png").name for p in images
    ]
    samples = [Sample(str(i), 0, 0, 0, str(m)) for i, m in zip(images, masks, strict=True)]
    assert _close(model.embed(images, masks), model.embed_samples(samples))


def test_binary_masks_give_the_features_of_their_label_maps(model, query) -> None:
    image, mask = query
    labels = np.array(Image.open(mask))
    binary = body_mask(to_parts(labels, ATR))
    by_labels = model.embed(image, labels)
    assert _close(model.embed(image, binary.astype(bool)), by_labels)
    assert _close(model.embed(image, binary.astype(np.float32)), by_labels)
    assert _close(model.embed(image, binary, mask_schema="binary"), by_labels)


def test_a_bsga_model_without_masks_says_how_to_get_them(model, query) -> None:
    with pytest.raises(MaskRequiredError, match="`ccreid parse` makes them.*mask head"):
        model.embed(query[0])


def test_bad_inputs_are_named(model, query) -> None:
    image, mask = query
    with pytest.raises(InputError, match="2 images but 1 masks"):
        model.embed([image, image], [mask])
    with pytest.raises(InputError, match=r"values in \[0, 1\]"):
        model.embed(torch.full((3, 8, 4), 2.0), np.zeros((8, 4), np.uint8))
    with pytest.raises(InputError, match="mask is 4x8, image is"):
        model.embed(image, np.zeros((8, 4), np.uint8))
    with pytest.raises(InputError, match="outside the atr schema"):
        model.embed(image, np.full(np.array(Image.open(mask)).shape, 99, np.uint8))
    with pytest.raises(InputError, match="cannot read an image from a dict"):
        model.embed({"not": "an image"}, mask)


def test_a_run_folder_loads_its_checkpoint(tiny_checkpoint: Path, query) -> None:
    from_folder = ccreid.load(tiny_checkpoint.parents[1], device="cpu")
    assert from_folder.checkpoint == tiny_checkpoint  # no validation set: no best
    image, mask = query
    assert _close(
        from_folder.embed(image, mask), ccreid.load(tiny_checkpoint, "cpu").embed(image, mask)
    )


def test_predicted_masks_need_no_mask(tiny_synthetic: Path, tmp_path_factory, query) -> None:
    out = tmp_path_factory.mktemp("head")
    run_training(
        load_config(None, tiny_overrides(tiny_synthetic, out, **{"model.mask_head": "true"}))
    )
    model = ccreid.load(out / "tiny", device="cpu", mask_source="predicted")
    assert not model.needs_mask
    image, mask = query
    features = model.embed([image, Image.open(image)])
    assert features.shape == (2, model.feature_dim) and torch.isfinite(features).all()
    assert _close(model.embed(image, mask), model.embed(image))  # a given mask goes unused


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_embedding_on_cuda_matches_the_cpu(tiny_checkpoint: Path, query) -> None:
    image, mask = query
    on_gpu = ccreid.load(tiny_checkpoint, device="cuda", precision="fp32").embed(image, mask)
    on_cpu = ccreid.load(tiny_checkpoint, device="cpu", precision="fp32").embed(image, mask)
    assert torch.allclose(on_gpu, on_cpu, atol=1e-3)


def with_flip(checkpoint: Path, out: Path) -> Path:
    """A copy of ``checkpoint`` whose stored config says eval.flip=true (same weights)."""
    ckpt = load_checkpoint(checkpoint)
    assert ckpt.meta["config"].count("  flip: false") == 1  # eval.flip (data.flip is 0.5)
    meta = {k: v for k, v in ckpt.meta.items() if k != "format"}
    meta["config"] = ckpt.meta["config"].replace("  flip: false", "  flip: true")
    return save_checkpoint(out, ccreid.load(checkpoint, "cpu").model, meta)


@pytest.fixture(scope="module")
def flip_index(tiny_synthetic: Path, tiny_checkpoint: Path, tmp_path_factory) -> dict:
    """An index of a checkpoint whose config says eval.flip=true."""
    from ccreid.retrieval.service import build_index

    folder = tmp_path_factory.mktemp("flip")
    ckpt = with_flip(tiny_checkpoint, folder / "flip.safetensors")
    assert "flip: true" in load_checkpoint(ckpt).meta["config"]
    gallery = tiny_synthetic / "VC-Clothes" / "gallery"
    masks = tiny_synthetic / "masks" / "VC-Clothes" / "gallery"
    build_index(ckpt, gallery, folder / "idx", masks)
    return {"checkpoint": ckpt, "index": folder / "idx", "folder": folder}


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _sixteen_bit_copy(image: Path, out: Path) -> Path:
    """The query as a 16-bit RGB PNG (each 8-bit level times 257)."""
    rgb = np.array(Image.open(image).convert("RGB")).astype(">u2") * 257
    raw = b"".join(b"\x00" + row.tobytes() for row in rgb)
    header = struct.pack(">IIBBBBB", rgb.shape[1], rgb.shape[0], 16, 2, 0, 0, 0)
    out.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
                    + _png_chunk(b"IDAT", zlib.compress(raw)) + _png_chunk(b"IEND", b""))  # fmt: skip
    return out


def test_search_serve_and_python_rank_queries_alike(flip_index: dict, tiny_synthetic: Path) -> None:
    """The same queries (one as a 16-bit PNG) through `search`, `serve` and the Python API,
    with a checkpoint whose eval.flip is true: the same rankings, the same scores."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from ccreid.retrieval.index import GalleryIndex
    from ccreid.retrieval.searcher import Searcher
    from ccreid.retrieval.server import create_app
    from ccreid.retrieval.service import search

    qdir, mdir = tiny_synthetic / "VC-Clothes" / "query", tiny_synthetic / "masks/VC-Clothes/query"
    images = sorted(qdir.glob("*.jpg"))[:4]
    sixteen = _sixteen_bit_copy(
        images[0], flip_index["folder"] / images[0].with_suffix(".png").name
    )
    queries = [sixteen, *images[1:]]
    masks = [mdir / q.with_suffix(".png").name for q in images]
    masks_dir = flip_index["folder"] / "qmasks"
    masks_dir.mkdir(exist_ok=True)
    for q, m in zip(queries, masks, strict=True):
        (masks_dir / q.with_suffix(".png").name).write_bytes(m.read_bytes())
    _, cli_hits = search(flip_index["index"], queries, top_k=10, mask_root=masks_dir)
    client = TestClient(create_app(Searcher(flip_index["index"])), "http://127.0.0.1")
    index = GalleryIndex.load(flip_index["index"])
    model = ccreid.load(flip_index["checkpoint"], "cpu")
    assert model.options.flip  # the checkpoint's eval.flip is honoured
    for q, m, hits in zip(queries, masks, cli_hits, strict=True):
        answer = client.post("/api/search", files={"image": (q.name, q.read_bytes()),
                             "mask": ("m.png", m.read_bytes())}, data={"top_k": "10"}).json()  # fmt: skip
        python = index.search(model.embed(q, m).numpy(), 10)[0]
        served = [(r["path"], r["score"]) for r in answer["results"]]
        assert [index.relative(h.path) for h in hits] == [p for p, _ in served]
        assert [h.path for h in hits] == [h.path for h in python]
        assert np.allclose([h.score for h in hits], [s for _, s in served], atol=1e-5)
        assert np.allclose([h.score for h in hits], [h.score for h in python], atol=1e-5)
