"""The mask head: BSGA with its own predicted body mask, so no parser at inference."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_overrides

import ccreid
from ccreid.config import load_config
from ccreid.data import load_dataset
from ccreid.data.images import load_batch
from ccreid.engine import run_training
from ccreid.errors import InputError
from ccreid.losses import mask_loss
from ccreid.models import build_model


def test_head_predicts_one_logit_per_stage2_position_and_binary_masks() -> None:
    model = build_model(5, backbone="resnet18", weights="none", mask_head=True).eval()
    images = torch.randn(2, 3, 64, 32)
    model.train()
    out = model(images, torch.ones(2, 1, 64, 32))
    assert out.mask_logits.shape == (2, 1, 8, 4)  # stage 2 is stride 8
    mask = model.eval().predict_mask(images)
    assert mask.shape == (2, 1, 64, 32)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}


def test_head_is_well_under_one_percent_of_the_model() -> None:
    model = build_model(5, backbone="resnet50", weights="none", mask_head=True)
    head = sum(p.numel() for p in model.mask_head.parameters())
    total = sum(p.numel() for p in model.parameters())
    assert head / total < 0.01


def test_mask_loss_is_bce_plus_dice_by_hand() -> None:
    logits = torch.tensor([[[[2.0, -1.0], [0.0, 3.0]]]])
    target = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
    p = [1 / (1 + np.exp(-v)) for v in (2.0, -1.0, 0.0, 3.0)]
    t = [1, 0, 1, 0]
    bce = -np.mean(
        [ti * np.log(pi) + (1 - ti) * np.log(1 - pi) for pi, ti in zip(p, t, strict=True)]
    )
    dice = 1 - (2 * sum(pi * ti for pi, ti in zip(p, t, strict=True)) + 1) / (sum(p) + sum(t) + 1)
    assert float(mask_loss(logits, target)) == pytest.approx(bce + dice, rel=1e-5)


def test_mask_loss_decreases_on_a_tiny_set(tiny_synthetic: Path) -> None:
    cfg = load_config(None, tiny_overrides(tiny_synthetic, tiny_synthetic))
    data = load_dataset(root=str(tiny_synthetic), name="vcclothes",
                        mask_root=str(tiny_synthetic / "masks"))  # fmt: skip
    from ccreid.data import AugmentConfig

    raw, masks = load_batch(
        data.train[:16], AugmentConfig.of(cfg.data), cfg.data.schema, masks=True
    )
    images = raw.float() / 255
    torch.manual_seed(0)
    model = build_model(5, backbone="resnet18", weights="none", mask_head=True).train()
    opt = torch.optim.Adam(model.mask_head.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        feats = model.stage2(images).detach()
        target = torch.nn.functional.interpolate(masks.float(), feats.shape[-2:]) >= 0.5
        loss = mask_loss(model.mask_head(feats), target.float())
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


@pytest.mark.reliability(
    tried="a BSGA model without a head, embedding with no masks (Python, `index build`)",
    happens="refused, naming `ccreid parse` and `model.mask_head=true` / `--mask-source predicted`",
    also=("test_cli_eval_extract_index_search_without_masks",),
)
def test_a_model_without_head_refuses_predicted_masks_and_says_how() -> None:
    model = build_model(5, backbone="resnet18", weights="none")
    with pytest.raises(InputError, match="model.mask_head=true"):
        model.mask_source = "predicted"
    with pytest.raises(InputError, match="`ccreid parse` makes them.*mask head"):
        model.eval()(torch.randn(1, 3, 64, 32))


@pytest.fixture(scope="module")
def head_checkpoint(tiny_synthetic: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CRE + BSGA with a mask head, trained for a few steps (parser masks in training)."""
    out = tmp_path_factory.mktemp("head")
    overrides = tiny_overrides(tiny_synthetic, out, **{"model.mask_head": "true"})
    result = run_training(load_config(None, overrides))
    assert all(np.isfinite(log.mask) and log.mask > 0 for log in result.logs)
    return out / "tiny" / "checkpoints" / "last.safetensors"


@pytest.fixture(scope="module")
def images_only(tiny_synthetic: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny dataset's images with no mask folder anywhere."""
    root = tmp_path_factory.mktemp("no_masks")
    shutil.copytree(tiny_synthetic / "VC-Clothes", root / "VC-Clothes")
    return root


def test_python_embeds_without_masks(head_checkpoint: Path, images_only: Path) -> None:
    model = ccreid.load(head_checkpoint, "cpu", "predicted").model
    assert not model.needs_mask
    feats = model(torch.randn(3, 3, 64, 32))
    assert feats.shape == (3, model.feature_dim) and torch.isfinite(feats).all()


def test_cli_eval_extract_index_search_without_masks(
    cli, head_checkpoint: Path, images_only: Path, tmp_path: Path
) -> None:
    config = head_checkpoint.parents[1] / "config.yaml"
    free = [f"data.root={images_only}", "data.mask_root=null", "model.mask_source=predicted"]
    res = cli("eval", config, "--checkpoint", head_checkpoint, *free, expect=0)
    assert "cc" in res.out.lower()
    out = tmp_path / "feats.safetensors"
    cli("extract", head_checkpoint, out, *free, expect=0)
    assert out.is_file()
    gallery = images_only / "VC-Clothes" / "gallery"
    index = tmp_path / "idx"
    cli("index", "build", head_checkpoint, gallery, "--out", index, "--mask-source", "predicted",
        expect=0)  # fmt: skip
    query = next((images_only / "VC-Clothes" / "query").glob("*.jpg"))
    res = cli("search", index, query, "--top-k", "3", expect=0)
    assert res.out.count(".jpg") >= 3
    # the same checkpoint with parser masks and none given: refused, naming both ways out
    res = cli("index", "build", head_checkpoint, gallery, "--out", tmp_path / "idx2",
              "--mask-source", "parser", expect=1)  # fmt: skip
    assert "--mask-root" in res.err and "--mask-source predicted" in res.err


def test_onnx_export_with_predicted_masks_has_one_input(
    head_checkpoint: Path, tmp_path: Path
) -> None:
    pytest.importorskip("onnxruntime")
    from ccreid.retrieval.export import export_onnx

    report = export_onnx(head_checkpoint, tmp_path / "m.onnx", mask_source="predicted")
    assert report.inputs == ("image",)
    assert report.max_abs_diff < 1e-3


def test_served_queries_use_the_heads_mask(
    head_checkpoint: Path, images_only: Path, tmp_path: Path
) -> None:
    pytest.importorskip("faiss")
    from ccreid.retrieval.searcher import Searcher
    from ccreid.retrieval.service import build_index

    gallery = images_only / "VC-Clothes" / "gallery"
    build_index(head_checkpoint, gallery, tmp_path / "idx", mask_source="predicted")
    searcher = Searcher(tmp_path / "idx")
    assert not searcher.needs_mask
    query = next((images_only / "VC-Clothes" / "query").glob("*.jpg")).read_bytes()
    answer = searcher.search(query, top_k=3)
    assert answer.mask_source == "predicted" and len(answer.hits) == 3
