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
    """Four 7x7 convolutions with biases on 512 channels (docs/conventions.md#bsga),
    counted by hand: 512->2, 1->1, 3->1 and a second 1->1."""
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


def _max_relative_error(out: torch.Tensor, reference: torch.Tensor) -> float:
    """Largest deviation from the reference, relative to the reference's largest entry."""
    return ((out.double() - reference).abs().max() / reference.abs().max()).item()


@pytest.mark.reliability(
    tried="BSGA's 512→2 7x7 conv under bf16 autocast",
    happens=(
        "the direct convolution (fp32 accumulator, one rounding); max error no worse than "
        "`nn.Conv2d`'s (was 4x it)"
    ),
)
@pytest.mark.parametrize(
    ("channels", "size", "memory_format"),
    [(512, (32, 16), torch.channels_last), (128, (16, 8), torch.contiguous_format)],
)
def test_folded_conv_under_bf16_autocast_is_as_accurate_as_the_direct_one(
    channels: int, size: tuple[int, int], memory_format: torch.memory_format
) -> None:
    """BSGA's 512->2 7x7 convolution under autocast: the folded form sums the 49 kernel
    offsets' products in fp32 and rounds once, so it is no less accurate than nn.Conv2d.
    The input is bf16 (what layer2 gives under autocast), the weights fp32 masters."""
    from ccreid.models.attention import conv_as_matmul_and_fold

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(channels, 2, 7, padding=3)
    x = torch.randn(4, channels, *size).bfloat16().contiguous(memory_format=memory_format)
    with torch.no_grad():
        reference = torch.nn.functional.conv2d(
            x.double(), conv.weight.double(), conv.bias.double(), padding=3
        )
        with torch.autocast("cpu", dtype=torch.bfloat16):
            direct, folded = conv(x), conv_as_matmul_and_fold(x, conv)
    assert folded.dtype == direct.dtype == torch.bfloat16
    assert folded.shape == direct.shape
    assert _max_relative_error(folded, reference) <= _max_relative_error(direct, reference)


@pytest.mark.parametrize("memory_format", [torch.channels_last, torch.contiguous_format])
def test_folded_conv_gradients_under_bf16_autocast_match_fp32(
    memory_format: torch.memory_format,
) -> None:
    from ccreid.models.attention import conv_as_matmul_and_fold

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(64, 2, 7, padding=3)
    x = torch.randn(2, 64, 16, 8).bfloat16().contiguous(memory_format=memory_format)
    x.requires_grad_()
    upstream = torch.randn(2, 2, 16, 8)
    params = [conv.weight, conv.bias]
    exact = torch.autograd.grad((conv(x.float()) * upstream).sum(), [x, *params])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        folded = conv_as_matmul_and_fold(x, conv)
    grads = torch.autograd.grad((folded.float() * upstream).sum(), [x, *params])
    for got, want in zip(grads, exact, strict=True):
        assert _max_relative_error(got, want.double()) < 1e-2


@pytest.mark.reliability(
    tried="`build_model(..., weights=None)` (torchvision's convention)",
    happens='random initialisation, like "none"',
)
def test_weights_none_means_random_initialisation() -> None:
    """torchvision's convention: weights=None is a randomly initialised backbone."""
    for weights in (None, "none", "None"):
        model = build_model(3, backbone="resnet18", attention="none", weights=weights)
        assert model.eval()(torch.randn(1, 3, 64, 32)).shape == (1, 512)


@pytest.mark.reliability(
    tried='`weights="imagenet"` (an unknown name)',
    happens=(
        "`InputError` listing imagenet1k_v1, imagenet1k_v2, none, or a path to a .pth / "
        ".safetensors state dict"
    ),
)
def test_unknown_weights_name_lists_the_accepted_values() -> None:
    from ccreid.errors import InputError

    accepted = "imagenet1k_v1, imagenet1k_v2, none, or a path to a .pth / .safetensors state dict"
    with pytest.raises(InputError, match="unknown weights 'imagenet'") as caught:
        build_model(3, backbone="resnet18", weights="imagenet")
    assert accepted in str(caught.value)


@pytest.mark.reliability(
    tried="`weights=` a missing .pth path",
    happens="`InputError: weights file … does not exist`",
)
@pytest.mark.parametrize("as_path", [True, False])
def test_missing_weights_file_says_it_does_not_exist(tmp_path, as_path: bool) -> None:
    from ccreid.errors import InputError

    missing = tmp_path / "resnet18.pth"
    with pytest.raises(InputError, match=r"weights file .*resnet18\.pth does not exist"):
        build_model(3, backbone="resnet18", weights=missing if as_path else str(missing))


def test_half_width_resnet18_has_half_the_channels_and_no_imagenet_weights() -> None:
    from ccreid.errors import InputError

    model = build_model(5, backbone="resnet18_w32", weights="none")
    x, m = torch.randn(2, 3, 128, 64), torch.ones(2, 1, 128, 64)
    model.eval()
    with torch.no_grad():
        assert model(x, m).shape == (2, 256)
    full = build_model(5, backbone="resnet18", weights="none")
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    # Halving every width quarters the convolutions' weights: well under a third in total.
    assert count(model) < count(full) / 3
    with pytest.raises(InputError, match="no ImageNet weights"):
        build_model(5, backbone="resnet18_w32", weights="imagenet1k_v1")
