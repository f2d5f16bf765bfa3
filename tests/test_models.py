"""ResNet + attention slot + BNNeck: shapes, BSGA's definition, weights loading."""

from __future__ import annotations

import pytest
import torch
import torchvision

from ccreid.models import ATTENTIONS, BSGA, ModelOutput, attention_region_means, build_model


@pytest.mark.parametrize(
    ("size", "backbone", "dim"), [((256, 128), "resnet50", 2048), ((128, 64), "resnet18", 512)]
)
def test_output_shapes(size, backbone, dim) -> None:
    model = build_model(7, backbone=backbone)
    x, m = torch.randn(2, 3, *size), torch.ones(2, 1, *size)
    model.train()
    out = model(x, m)
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (2, 7) and out.pooled.shape == out.features.shape == (2, dim)
    model.eval()
    with torch.no_grad():
        assert model(x, m).shape == (2, dim)
    # last stride 1: layer4 keeps layer3's resolution (16 x 8 for 256 x 128)
    assert model.feature_map(x, m).shape[-2:] == (size[0] // 16, size[1] // 16)


def test_bsga_has_the_papers_parameter_count_at_resnet50_stage_2() -> None:
    """Four 7x7 convolutions with biases on 512 channels (SPEC section 2), counted by hand:
    512->2, 1->1, 3->1 and a second 1->1."""
    by_hand = (512 * 2 * 49 + 2) + (1 * 49 + 1) + (3 * 49 + 1) + (1 * 49 + 1)
    assert sum(p.numel() for p in BSGA(512).parameters()) == by_hand == 50_426
    shared = sum(p.numel() for p in BSGA(512, share_mask_conv=True).parameters())
    assert shared == by_hand - 50


def test_body_prior_init_starts_high_on_the_body_and_at_one_half_away_from_it() -> None:
    bsga = BSGA(16, init="body_prior")
    torch.nn.init.zeros_(bsga.attend.weight)  # isolate the bias: A_x = BODY_PRIOR_BIAS
    mask = torch.zeros(1, 1, 128, 64)
    mask[..., 32:96, 16:48] = 1
    bsga(torch.randn(1, 16, 32, 16), mask)
    means = attention_region_means(bsga.last_attention, mask)
    inner = bsga.last_attention[0, 0, 11:21, 7:9]  # well inside the body: full 7x7 support
    expected = torch.sigmoid(torch.tensor(BSGA.BODY_PRIOR_BIAS))
    assert torch.allclose(inner, expected.expand_as(inner), atol=1e-5)
    assert bsga.last_attention[0, 0, 0, 0] == pytest.approx(0.5)  # far from the body
    assert means["body"] > means["background"] + 0.2  # edges of the body see part of the mask


def test_zero_mask_with_zero_biases_gives_half_everywhere() -> None:
    bsga = BSGA(32)
    for conv in (bsga.reduce, bsga.mask_embed, bsga.attend, bsga.mask_gate):
        torch.nn.init.zeros_(conv.bias)
    x = torch.randn(2, 32, 8, 4)
    out = bsga(x, torch.zeros(2, 1, 32, 16))
    assert torch.allclose(bsga.last_attention, torch.full_like(bsga.last_attention, 0.5))
    assert torch.allclose(out, x * 0.5)


def test_mask_is_resized_and_binarised_inside() -> None:
    bsga = BSGA(8)
    mask = torch.zeros(1, 1, 64, 32)
    mask[..., 16:48, 8:24] = 1
    bsga(torch.randn(1, 8, 16, 8), mask)
    assert bsga.last_attention.shape == (1, 1, 16, 8)


def test_gradients_reach_every_bsga_conv() -> None:
    model = build_model(5, backbone="resnet18")
    model.train()
    mask = torch.zeros(4, 1, 64, 32)
    mask[..., 10:60, 6:26] = 1
    out = model(torch.randn(4, 3, 64, 32), mask)
    out.logits.sum().backward()
    for name in ("reduce", "mask_embed", "attend", "mask_gate"):
        grad = getattr(model.attention, name).weight.grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_shared_mask_conv_option() -> None:
    assert BSGA(16).mask_gate is not BSGA(16).mask_embed
    shared = BSGA(16, share_mask_conv=True)
    assert shared.mask_gate is shared.mask_embed


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        (torch.ones(3, 1, 32, 16), "does not fit"),
        (torch.full((2, 1, 32, 16), 0.5), "must be 0 or 1"),
    ],
)
def test_bad_masks_are_clear_errors(mask, message) -> None:
    with pytest.raises(ValueError, match=message):
        BSGA(8)(torch.randn(2, 8, 8, 4), mask)


def test_missing_mask_is_an_error_unless_opted_in() -> None:
    x = torch.randn(2, 3, 64, 32)
    with pytest.raises(ValueError, match="needs body masks"):
        build_model(3, backbone="resnet18")(x)
    assert build_model(3, backbone="resnet18", mask_policy="ones").eval()(x).shape == (2, 512)


@pytest.mark.parametrize("name", ["none", "se", "cbam", "eca"])
def test_every_attention_in_the_slot_runs_without_mask(name: str) -> None:
    assert name in ATTENTIONS
    model = build_model(3, backbone="resnet18", attention=name).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 32)).shape == (2, 512)


def test_torchvision_state_dict_loads_into_backbone(tmp_path) -> None:
    reference = torchvision.models.resnet50()
    path = tmp_path / "resnet50.pth"
    torch.save(reference.state_dict(), path)
    model = build_model(4, weights=path)
    assert torch.equal(model.backbone.conv1.weight, reference.conv1.weight)
    assert torch.equal(
        model.backbone.layer4[2].bn3.running_mean, reference.layer4[2].bn3.running_mean
    )


def test_bnneck_bias_is_frozen_and_classifier_has_no_bias() -> None:
    model = build_model(4, backbone="resnet18")
    assert not model.bnneck.bias.requires_grad and model.classifier.bias is None


@pytest.mark.parametrize("channels_last", [False, True])
def test_conv_as_matmul_and_fold_is_the_same_convolution(channels_last: bool) -> None:
    from ccreid.models.attention import conv_as_matmul_and_fold

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(12, 2, 7, padding=3)
    x = torch.randn(3, 12, 9, 5, requires_grad=True)
    if channels_last:
        x = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
    direct = conv(x)
    folded = conv_as_matmul_and_fold(x, conv)
    torch.testing.assert_close(folded, direct, rtol=1e-5, atol=1e-5)
    grads_direct = torch.autograd.grad(direct.square().sum(), [x, conv.weight, conv.bias])
    grads_folded = torch.autograd.grad(folded.square().sum(), [x, conv.weight, conv.bias])
    for a, b in zip(grads_folded, grads_direct, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
