"""Every table of the paper is one command: configs per row, CIA/PSA, knobs, `compare`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from ccreid.config import load_config, to_yaml
from ccreid.config.loading import from_yaml_text
from ccreid.models import ATTENTIONS, build_model

# What each packaged config must say: (dataset, CRE, attention, triplet), from the tables.
ROWS = {
    "prcc/baseline_bctri": ("prcc", False, "none", "bctri"),
    "prcc/cre": ("prcc", True, "none", "bctri"),
    "prcc/bsga": ("prcc", False, "bsga", "bctri"),
    "prcc/cre_bsga_no_tri": ("prcc", True, "bsga", "none"),
    "prcc/full": ("prcc", True, "bsga", "bctri"),
    "prcc/cre_cia": ("prcc", True, "cia", "bctri"),
    "prcc/cre_psa": ("prcc", True, "psa", "bctri"),
    "prcc/cre_se": ("prcc", True, "se", "bctri"),
    "prcc/cre_bsga_tri": ("prcc", True, "bsga", "tri"),
    "vcclothes/cre_cia": ("vcclothes", True, "cia", "bctri"),
    "vcclothes/cre_psa": ("vcclothes", True, "psa", "bctri"),
    "nkup/baseline": ("nkup", False, "none", "bctri"),
    "nkup/bsga": ("nkup", False, "bsga", "bctri"),
    "nkup/cre": ("nkup", True, "none", "bctri"),
    "nkup/full": ("nkup", True, "bsga", "bctri"),
    "ltcc/baseline": ("ltcc", False, "none", "bctri"),
    "ltcc/full": ("ltcc", True, "bsga", "bctri"),
}


@pytest.mark.parametrize(("name", "row"), ROWS.items())
def test_configs_resolve_and_say_what_their_row_says(name: str, row: tuple) -> None:
    cfg = load_config(name)
    assert (cfg.data.name, cfg.train.cre, cfg.model.attention, cfg.loss.triplet) == row
    assert (cfg.data.height, cfg.data.width, cfg.train.epochs, cfg.train.lr) == (256, 128, 60, 3e-4)
    assert cfg.model.weights == "imagenet1k_v1"


@pytest.mark.parametrize("name", ["cia", "psa"])
def test_cia_and_psa_keep_the_shape_and_pass_gradients(name: str) -> None:
    module = ATTENTIONS.get(name)(32)
    x = torch.randn(2, 32, 16, 8, requires_grad=True)
    out = module(x)
    assert out.shape == x.shape
    out.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for p in module.parameters():
        if p.grad is not None:
            assert torch.isfinite(p.grad).all()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


def test_cia_starts_as_the_identity_and_aggregates_by_channel_affinity() -> None:
    from ccreid.models.attention import ChannelInteractionAggregation

    cia = ChannelInteractionAggregation(3).eval()
    x = torch.randn(1, 3, 4, 2)
    assert torch.allclose(cia(x), x)  # BN scale 0 at start
    torch.nn.init.ones_(cia.norm.weight)
    cia.norm.running_mean.zero_()
    cia.norm.running_var.fill_(1 - cia.norm.eps)
    flat = x.reshape(3, 8).double()
    expected = torch.zeros(3, 8, dtype=torch.double)
    for i in range(3):  # s_ij = exp(c_i . c_j) / sum_k exp(c_i . c_k); c'_i = sum_j s_ij c_j
        weights = [torch.exp(flat[i] @ flat[j]) for j in range(3)]
        for j in range(3):
            expected[i] += weights[j] / sum(weights) * flat[j]
    assert torch.allclose(cia(x) - x, expected.reshape(1, 3, 4, 2).float(), atol=1e-4)


def test_psa_is_the_sum_of_a_channel_and_a_spatial_gate() -> None:
    from ccreid.models.attention import PolarizedSelfAttention

    psa = PolarizedSelfAttention(8)
    for conv in (psa.ch_query, psa.ch_value, psa.ch_up, psa.sp_query, psa.sp_value):
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    x = torch.randn(2, 8, 4, 2)
    # All-zero projections: LayerNorm of zeros is its bias 0, sigmoid(0) = 0.5 in both gates.
    assert torch.allclose(psa(x), x)


def test_models_with_cia_and_psa_train_a_step() -> None:
    for name in ("cia", "psa"):
        model = build_model(5, backbone="resnet18", attention=name).train()
        out = model(torch.randn(4, 3, 64, 32))
        out.logits.sum().backward()


def test_imagenet_v1_is_the_default_and_names_torchvisions_v1(monkeypatch) -> None:
    import torchvision

    seen = []
    real = torchvision.models.resnet18
    monkeypatch.setattr(
        torchvision.models, "resnet18", lambda weights=None: seen.append(weights) or real()
    )
    build_model(3, backbone="resnet18", attention="none", weights="imagenet1k_v1")
    assert seen == [torchvision.models.ResNet18_Weights.IMAGENET1K_V1]
    with pytest.raises(ValueError, match="resnet18 has no imagenet1k_v2 weights"):
        build_model(3, backbone="resnet18", attention="none", weights="imagenet1k_v2")


def test_an_old_config_with_pretrained_still_loads(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text("model:\n  pretrained: false\n  attention: none\ntrain:\n  cre: false\n")
    assert load_config(old).model.weights == "none"
    text = to_yaml(load_config(None, ["model.attention=none", "train.cre=false"])).replace(
        "weights: imagenet1k_v1", "pretrained: true"
    )
    assert from_yaml_text(text).model.weights == "imagenet1k_v2"  # what DEFAULT loaded then


def test_erased_copies_can_carry_their_own_clothes_label() -> None:
    from ccreid.data import InputNormalizer, ReIDItem
    from ccreid.engine.trainer import step_inputs

    batch = ReIDItem(torch.zeros(2, 3, 8, 4, dtype=torch.uint8), torch.zeros(2, 3, 8, 4, dtype=torch.uint8),
                     torch.empty(0), torch.tensor([0, 1]), torch.tensor([1, 1]), torch.tensor([3, 5]),
                     torch.tensor([0, 1]))  # fmt: skip
    args = (True, torch.device("cpu"), False, InputNormalizer())
    _, _, pids, same, _ = step_inputs(batch, *args)
    _, _, _, own, _ = step_inputs(batch, *args, erased_clothes_base=10)
    assert pids.tolist() == [0, 1, 0, 1]
    assert same.tolist() == [3, 5, 3, 5] and own.tolist() == [3, 5, 10, 11]


def test_distance_and_eval_precision_knobs_reach_the_library() -> None:
    from ccreid.engine.build import build_objective
    from ccreid.inference import inference_options

    cfg = load_config("prcc/cre_bsga_tri", ["loss.distance=euclidean", "train.precision=bf16"])
    assert build_objective(cfg).triplet.distance == "euclidean"
    assert inference_options(cfg, torch.device("cpu")).dtype is None  # eval.precision=fp32
    auto = load_config("prcc/full", ["eval.precision=auto", "train.precision=bf16"])
    assert inference_options(auto, torch.device("cpu")).dtype == torch.bfloat16


def test_compare_lays_out_runs_with_the_papers_numbers_verbatim(
    cli, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    full = tiny_checkpoint.parents[1]  # a tiny training: VC-Clothes, CRE + BSGA + L_BCTri
    other = tmp_path / "baseline"
    other.mkdir()
    cfg = load_config(None, ["data.name=prcc", "model.attention=none", "train.cre=false"])
    (other / "config.yaml").write_text(to_yaml(cfg))
    (other / "results.json").write_text(json.dumps({"sc": {"top1": 90.0, "mAP": 80.0},
                                                    "cc": {"top1": 40.0, "mAP": 35.5}}))  # fmt: skip
    stray = tmp_path / "stray"
    shutil.copytree(other, stray)
    stray_cfg = load_config(None, ["data.name=prcc", "model.attention=eca", "train.cre=false"])
    (stray / "config.yaml").write_text(to_yaml(stray_cfg))
    res = cli(
        "compare", full, other, stray, "--paper", "table4", "--out", tmp_path / "t4.md", expect=0
    )
    md = (tmp_path / "t4.md").read_text()
    ours = json.loads((full / "results.json").read_text())
    row = next(line for line in md.splitlines() if line.startswith("| CRE + BSGA + L_BCTri |"))
    assert f"{ours['cc']['mAP']:.1f} / 84.3 ({ours['cc']['mAP'] - 84.3:+.1f})" in row
    assert "- / 61.8" in row  # no PRCC run of the full method
    base = next(line for line in md.splitlines() if line.startswith("| baseline + L_BCTri |"))
    assert "35.5 / 44.9 (-9.4)" in base and "40.0 / 47.2 (-7.2)" in base
    assert "full camera-A gallery" in md and "not rows of this table" in md and "stray" in md
    assert "Table 4" in res.out
