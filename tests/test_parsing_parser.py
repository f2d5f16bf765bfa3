"""`ccreid parse` and `ccreid masks` with a tiny SegFormer saved locally (no download)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ccreid.parsing import ATR, LIP, to_parts
from ccreid.parsing.parser import lip_to_atr_table


def tiny_segformer(folder: Path, labels: tuple[str, ...]) -> Path:
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    names = [
        n.replace("-", " ").title() for n in labels
    ]  # "Upper Clothes", as hub models spell them
    cfg = SegformerConfig(
        num_channels=3, depths=[1, 1, 1, 1], hidden_sizes=[8, 8, 16, 16], num_attention_heads=[1, 1, 1, 1],
        decoder_hidden_size=16, num_labels=len(labels), id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)},
    )  # fmt: skip
    SegformerForSemanticSegmentation(cfg).save_pretrained(folder)
    return folder


@pytest.fixture()
def images(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    for rel in ("a/1.jpg", "a/2.jpg", "b/3.png"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(
            np.random.default_rng(0).integers(0, 255, (40, 20, 3), dtype=np.uint8)
        ).save(root / rel)
    return root


def test_parse_writes_a_mirrored_tree_of_label_pngs_and_resumes(
    cli, images: Path, tmp_path: Path
) -> None:
    model = tiny_segformer(tmp_path / "model", ATR.labels)
    out = tmp_path / "masks"
    cli(
        "parse",
        str(images),
        "--out",
        str(out),
        "--model",
        str(model),
        "--size",
        "64",
        "--batch-size",
        "2",
    )
    masks = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert masks == ["a/1.png", "a/2.png", "b/3.png"]
    with Image.open(out / "a/1.png") as im:
        assert im.mode == "L" and im.size == (20, 40)
        assert np.asarray(im).max() < 18
    # Resume: a valid mask is kept (mtime unchanged); a truncated one is redone.
    kept = (out / "a/1.png").stat().st_mtime_ns
    (out / "b/3.png").write_bytes(b"\x89PNG broken")
    cli("parse", str(images), "--out", str(out), "--model", str(model), "--size", "64")
    assert (out / "a/1.png").stat().st_mtime_ns == kept
    with Image.open(out / "b/3.png") as im:
        assert im.size == (20, 40)
    cli("masks", "check", str(images), str(out))


@pytest.mark.reliability(
    tried="a parser whose labels are not the schema's",
    happens="refused before any image is read",
)
def test_model_with_other_labels_is_refused(cli, images: Path, tmp_path: Path) -> None:
    model = tiny_segformer(tmp_path / "lip", LIP.labels)
    res = cli("parse", str(images), "--out", str(tmp_path / "m"), "--model", str(model), expect=1)
    assert "schema 'atr' expects" in res.err
    assert not (tmp_path / "m").exists()


@pytest.mark.reliability(
    tried="corrupt image while parsing",
    happens="listed with its path, skipped, counted; exit 1",
)
def test_corrupt_image_is_reported_and_skipped(cli, images: Path, tmp_path: Path) -> None:
    (images / "a" / "bad.jpg").write_bytes(b"not a jpeg")
    model = tiny_segformer(tmp_path / "model", ATR.labels)
    res = cli("parse", images, "--out", tmp_path / "m", "--model", model, "--size", "64", expect=1)
    assert "wrote 3 masks" in res.out and "bad.jpg" in res.out


def test_import_lip_masks_converts_to_atr_keeping_parts(cli, images: Path, tmp_path: Path) -> None:
    src = tmp_path / "schp"
    lip = np.arange(20, dtype=np.uint8).repeat(40)[:800].reshape(40, 20)
    for rel in ("a/1.png", "a/2.png", "b/3.png"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(lip).save(src / rel)
    out = tmp_path / "masks"
    cli(
        "parse",
        str(images),
        "--out",
        str(out),
        "--from-schp",
        str(src),
        "--schema",
        "lip",
        "--to-atr",
    )
    atr = np.asarray(Image.open(out / "a/1.png"))
    assert np.array_equal(to_parts(atr, ATR), to_parts(lip, LIP))
    assert np.array_equal(lip_to_atr_table()[:20][[5, 9, 12]], [4, 6, 5])


def test_masks_check_fails_on_missing_and_show_draws(cli, images: Path, tmp_path: Path) -> None:
    out = tmp_path / "masks"
    (out / "a").mkdir(parents=True)
    Image.fromarray(np.full((40, 20), 4, np.uint8)).save(out / "a/1.png")
    cli("masks", "check", str(images), str(out), expect=1)
    cli(
        "masks",
        "show",
        str(images / "a/1.jpg"),
        "--mask",
        str(out / "a/1.png"),
        "--out",
        str(tmp_path / "s.png"),
    )
    with Image.open(tmp_path / "s.png") as im:
        assert im.width > 200


def test_bf16_is_used_only_when_it_keeps_the_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ccreid.parsing import parser as P

    model = tiny_segformer(tmp_path / "model", ATR.labels)
    parser = P.SegFormerParser(str(model), bf16=True, input_size=(32, 32))
    image = [np.random.default_rng(1).integers(0, 255, (40, 20, 3), dtype=np.uint8)]
    real_predict = parser._predict

    def disagreeing(images, bf16):
        out = real_predict(images, False)
        return [(o + 1) % 18 for o in out] if bf16 else out

    monkeypatch.setattr(parser, "_predict", disagreeing)
    with pytest.warns(UserWarning, match="parsing in fp32"):
        parser(image)
    assert parser.bf16 is False
