"""Attention modules for the slot between ResNet stage 2 and stage 3.

Every module has the signature ``forward(x, mask=None) -> x`` so the backbone treats them
alike; only BSGA uses the body mask. ``needs_mask`` tells the model whether to demand one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ccreid.errors import InputError
from ccreid.registry import Registry


def _tracing() -> bool:
    """Data-dependent checks cannot run while torch.export / ONNX export trace the graph."""
    return torch.compiler.is_compiling() or torch.compiler.is_exporting() or torch.jit.is_tracing()


ATTENTIONS: Registry[type[nn.Module]] = Registry("attention module")


class AttentionOptionError(InputError):
    """An option an attention module does not take, or a value it refuses."""


def build_attention(name: str, channels: int, options: Mapping[str, Any]) -> nn.Module:
    """The registered module ``name`` for ``channels`` stage-2 channels. A module declares
    the options it takes (its ``options``); any other is refused, naming the accepted."""
    cls = ATTENTIONS.get(name)
    accepted = tuple(getattr(cls, "options", ()))
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise AttentionOptionError(
            f"attention module {name!r} takes no option {', '.join(unknown)} "
            f"(it takes: {', '.join(accepted) or 'none'})"
        )
    try:
        return cls(channels, **options)
    except (TypeError, ValueError) as exc:
        raise AttentionOptionError(f"attention module {name!r}: {exc}") from None


@ATTENTIONS.register("none")
class Identity(nn.Module):
    needs_mask = False

    def __init__(self, channels: int) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return x


@ATTENTIONS.register("bsga")
class BSGA(nn.Module):
    """Body shape-guided attention (paper eq. 2-5, docs/conventions.md#bsga).

    ``A_f = sigmoid(conv([conv(M'), conv(X)]) * conv(M'))``, ``X_out = X * A_f``.
    The two 7x7 convolutions on the mask are separate unless ``share_mask_conv``.
    Biases are kept: without them ``conv(M')`` is 0 on empty background and the map is
    stuck at 0.5 there.

    ``init="body_prior"`` starts the map where the paper says it ends (higher on the body):
    the mask convolutions average (weights 1/k^2, bias 0, so conv(M') is ~1 on the body
    and ~0 away from it) and the attention convolution gets bias ``BODY_PRIOR_BIAS``, so
    A_f starts near sigmoid(bias) on the body and 0.5 on the background. The formula is
    unchanged; ``init="default"`` is PyTorch's initialisation.
    """

    needs_mask = True
    options = ("share_mask_conv", "init")
    BODY_PRIOR_BIAS = 2.0

    def __init__(
        self, channels: int, kernel_size: int = 7, share_mask_conv: bool = False,
        init: str = "body_prior",
    ) -> None:  # fmt: skip
        super().__init__()
        pad = kernel_size // 2
        self.reduce = nn.Conv2d(channels, 2, kernel_size, padding=pad)
        self.mask_embed = nn.Conv2d(1, 1, kernel_size, padding=pad)
        self.attend = nn.Conv2d(3, 1, kernel_size, padding=pad)
        self.mask_gate = (
            self.mask_embed if share_mask_conv else nn.Conv2d(1, 1, kernel_size, padding=pad)
        )
        self.last_attention: torch.Tensor | None = None
        if init == "body_prior":
            self._body_prior()
        elif init != "default":
            raise InputError(f"BSGA init must be 'default' or 'body_prior', got {init!r}")

    @torch.no_grad()
    def _body_prior(self) -> None:
        for conv in {self.mask_embed, self.mask_gate}:
            conv.weight.fill_(1.0 / conv.weight[0, 0].numel())
            conv.bias.zero_()
        self.attend.bias.fill_(self.BODY_PRIOR_BIAS)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            raise InputError("BSGA needs the body mask")
        if mask.ndim == 3:
            mask = mask.unsqueeze(1)
        if mask.ndim != 4 or mask.shape[0] != x.shape[0] or mask.shape[1] != 1:
            raise InputError(
                f"mask of shape {tuple(mask.shape)} does not fit features {tuple(x.shape)}: "
                "expected (batch, 1, H, W)"
            )
        if not _tracing() and not torch.all((mask == 0) | (mask == 1)):
            raise InputError("BSGA mask values must be 0 or 1")
        m = resize_mask(mask.to(x.dtype), x.shape[-2:])
        reduced = self.reduce(x) if _tracing() else conv_as_matmul_and_fold(x, self.reduce)
        x_c = torch.cat([self.mask_embed(m), reduced.to(x.dtype)], dim=1)
        a_f = torch.sigmoid(self.attend(x_c) * self.mask_gate(m))
        if not _tracing():  # kept for visualisation; not part of an exported graph
            self.last_attention = a_f.detach()
        return x * a_f


def conv_as_matmul_and_fold(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv(x)`` for a stride-1, 'same'-padded convolution with few output channels, as a
    1x1 convolution to every (output channel, kernel offset) followed by col2im.

    The same linear map (sums in another order): with only 2 output channels, a direct
    7x7 convolution runs far below the CPU's matrix speed, while the 1x1 form is one
    matrix product. Measured on BSGA's 512->2 7x7 convolution at 32x16 in fp32: 3-5x
    faster (benchmarks/bench_model.py). In bf16 / fp16 (autocast included) this is the
    direct convolution: its accumulator sums the 49 kernel offsets' products in fp32 and
    rounds once, where the folded form rounds each product first (about 4x the error),
    and a fold with compensated products measured slower than the direct convolution.
    """
    if _computes_below_fp32(x):
        return conv(x)
    out_ch, in_ch, kh, kw = conv.weight.shape
    flipped = conv.weight.flip(-2, -1).reshape(out_ch, in_ch, kh * kw).transpose(1, 2)
    per_offset = F.conv2d(x, flipped.reshape(out_ch * kh * kw, in_ch, 1, 1))
    h, w = x.shape[-2:]
    out = F.fold(
        per_offset.reshape(len(x), out_ch * kh * kw, h * w), (h, w), (kh, kw),
        padding=(kh // 2, kw // 2),
    )  # fmt: skip
    return out if conv.bias is None else out + conv.bias.view(1, -1, 1, 1).to(out.dtype)


def _computes_below_fp32(x: torch.Tensor) -> bool:
    """Whether a convolution of ``x`` runs in bf16 / fp16 (autocast on, or such an input)."""
    device = x.device.type
    if torch.amp.is_autocast_available(device) and torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device) in (torch.bfloat16, torch.float16)
    return x.dtype in (torch.bfloat16, torch.float16)


def resize_mask(mask: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """M': bilinear resize of a (B, 1, H, W) body mask to the feature size, kept in {0, 1}."""
    m = F.interpolate(mask, size=tuple(size), mode="bilinear", align_corners=False)
    return (m >= 0.5).to(mask.dtype)


def attention_region_means(attention: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """Mean of a (B, 1, h, w) attention map on body and on background pixels of M'.

    The paper says BSGA's map ends "higher on the body shape, lower on the background":
    these two numbers say whether a trained model does.
    """
    m = resize_mask(mask.float().reshape(len(mask), 1, *mask.shape[-2:]), attention.shape[-2:])
    a = attention.float()
    body, background = m.sum(), (1 - m).sum()
    return {
        "body": float((a * m).sum() / body) if body > 0 else float("nan"),
        "background": float((a * (1 - m)).sum() / background) if background > 0 else float("nan"),
    }


@ATTENTIONS.register("se")
class SqueezeExcitation(nn.Module):
    """Channel attention of Hu et al. (reduction 16)."""

    needs_mask = False

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1), nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1), nn.Sigmoid(),
        )  # fmt: skip

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return x * self.fc(F.adaptive_avg_pool2d(x, 1))


@ATTENTIONS.register("eca")
class ECA(nn.Module):
    """Efficient channel attention (Wang et al.): a 1-D conv across pooled channels."""

    needs_mask = False

    def __init__(self, channels: int, gamma: int = 2, b: int = 1) -> None:
        super().__init__()
        k = int(abs((math.log2(channels) + b) / gamma))
        k = k if k % 2 else k + 1
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        w = F.adaptive_avg_pool2d(x, 1).flatten(1).unsqueeze(1)  # (B, 1, C)
        return x * torch.sigmoid(self.conv(w)).transpose(1, 2).unsqueeze(-1)


@ATTENTIONS.register("cbam")
class CBAM(nn.Module):
    """Channel then spatial attention (Woo et al.)."""

    needs_mask = False

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1, bias=False), nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1, bias=False),
        )  # fmt: skip
        self.spatial = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        ca = self.mlp(F.adaptive_avg_pool2d(x, 1)) + self.mlp(F.adaptive_max_pool2d(x, 1))
        x = x * torch.sigmoid(ca)
        sa = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(sa))


@ATTENTIONS.register("cia")
class ChannelInteractionAggregation(nn.Module):
    """CIA of IANet (Hou et al., CVPR 2019, Sec. 3.2; this paper's reference [16]).

    Interaction: each channel's spatial response c_i (length H*W) is compared with every
    other, s_ij = exp(c_i . c_j) / sum_k exp(c_i . c_k) (a C x C relation, softmax over j).
    Aggregation: c'_i = sum_j s_ij c_j. Output: X + BN(C'), the BatchNorm's scale starting
    at 0 so the block begins as the identity and a pre-trained backbone is not disturbed.
    The relation is computed in fp32 (a dot product over H*W saturates bf16).
    """

    needs_mask = False

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels)
        nn.init.zeros_(self.norm.weight)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, c, h, w = x.shape
        flat = x.float().reshape(b, c, h * w)
        relation = torch.softmax(flat @ flat.transpose(1, 2), dim=-1)  # (b, c, c)
        aggregated = (relation @ flat).reshape(b, c, h, w).to(x.dtype)
        return x + self.norm(aggregated)


@ATTENTIONS.register("psa")
class PolarizedSelfAttention(nn.Module):
    """Polarized self-attention, parallel layout (Liu et al., 2021; reference [31]).

    Channel-only branch (eq. 1-2): A_ch = sigmoid(LN(W_z(W_v(X) . softmax(W_q(X))))), with
    W_q: C -> 1 and W_v: C -> C/2 1x1 convolutions, the softmax over the H*W positions,
    W_z: C/2 -> C and LayerNorm over channels; Z_ch = A_ch * X.
    Spatial-only branch (eq. 3-4): A_sp = sigmoid(softmax(GAP(W_q'(X))) . W_v'(X)), with
    W_q', W_v': C -> C/2, the softmax over channels; Z_sp = A_sp * X.
    Output (eq. 5, parallel): Z_ch + Z_sp.
    """

    needs_mask = False

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = channels // 2
        self.ch_query = nn.Conv2d(channels, 1, 1)
        self.ch_value = nn.Conv2d(channels, half, 1)
        self.ch_up = nn.Conv2d(half, channels, 1)
        self.ch_norm = nn.LayerNorm(channels)
        self.sp_query = nn.Conv2d(channels, half, 1)
        self.sp_value = nn.Conv2d(channels, half, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, c, h, w = x.shape
        # Channel-only: one attention weight per channel.
        q = torch.softmax(self.ch_query(x).reshape(b, 1, h * w), dim=-1)  # (b, 1, hw)
        v = self.ch_value(x).reshape(b, -1, h * w)  # (b, c/2, hw)
        z = (v @ q.transpose(1, 2)).unsqueeze(-1)  # (b, c/2, 1, 1)
        a_ch = torch.sigmoid(self.ch_norm(self.ch_up(z).flatten(1))).reshape(b, c, 1, 1)
        # Spatial-only: one attention weight per position.
        q_sp = torch.softmax(F.adaptive_avg_pool2d(self.sp_query(x), 1).flatten(1), dim=1)
        v_sp = self.sp_value(x).reshape(b, -1, h * w)  # (b, c/2, hw)
        a_sp = torch.sigmoid((q_sp.unsqueeze(1) @ v_sp).reshape(b, 1, h, w))
        return x * a_ch + x * a_sp
