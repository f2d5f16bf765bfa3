"""ResNet backbone with an attention slot after layer2, BNNeck and a bias-free classifier."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from ccreid.config.schema import MASK_SOURCES, ModelConfig
from ccreid.errors import ConfigError, InputError, MaskRequiredError, UnknownNameError
from ccreid.models.attention import AttentionOptionError, build_attention, resize_mask
from ccreid.models.mask_head import MaskHead, binary_mask, head_target, mask_overlap


@dataclass(frozen=True)
class BackboneWidths:
    stage2: int  # channels after layer2, where the attention slot sits
    feature: int  # channels after layer4 = the re-ID feature dimension


BACKBONES = {
    "resnet18": BackboneWidths(128, 512),
    "resnet34": BackboneWidths(128, 512),
    "resnet50": BackboneWidths(512, 2048),
    # ResNet-18's layout at half its widths (32, 64, 128, 256 channels), random init only:
    # about a third of the compute, for small data and CPU budgets (the demo).
    "resnet18_w32": BackboneWidths(64, 256),
}
NARROW = {"resnet18_w32": 32}  # backbone -> width of its first stage
MaskPolicy = Literal["require", "ones"]


@dataclass
class ModelOutput:
    """Training output: logits for L_id, the pooled f_t and the BN feature f_b, and the
    mask head's logits at stage-2 resolution when the model has one."""

    logits: torch.Tensor
    pooled: torch.Tensor
    features: torch.Tensor
    mask_logits: torch.Tensor | None = None


class ReIDModel(nn.Module):
    """``forward(images, masks)``: `ModelOutput` in training, f_b in eval mode."""

    def __init__(
        self,
        backbone: nn.Module,
        attention: nn.Module,
        feature_dim: int,
        num_classes: int,
        mask_policy: MaskPolicy = "require",
        mask_head: MaskHead | None = None,
        mask_source: str = "parser",
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.attention = attention
        self.mask_head = mask_head
        self.mask_source = mask_source
        self.bnneck = nn.BatchNorm1d(feature_dim)
        self.bnneck.bias.requires_grad_(False)
        self.classifier = nn.Linear(feature_dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)
        self.mask_policy = mask_policy
        self.feature_dim = feature_dim

    @property
    def mask_source(self) -> str:
        """Where BSGA's mask comes from at inference: the caller's (parser) masks, or the
        model's own mask head (predicted). Training always uses the caller's masks."""
        return self._mask_source

    @mask_source.setter
    def mask_source(self, source: str) -> None:
        if source not in MASK_SOURCES:
            raise InputError(
                f"mask_source must be one of {', '.join(MASK_SOURCES)}, got {source!r}"
            )
        if source == "predicted" and self.mask_head is None:
            raise InputError(
                "mask_source='predicted' needs a model trained with a mask head "
                "(model.mask_head=true); this one has none"
            )
        self._mask_source = source

    @property
    def attention_needs_mask(self) -> bool:
        return bool(getattr(self.attention, "needs_mask", False))

    @property
    def trains_on_masks(self) -> bool:
        """Whether a training batch must carry body masks (BSGA, or the mask head's target)."""
        return self.attention_needs_mask or self.mask_head is not None

    @property
    def needs_mask(self) -> bool:
        """Whether callers must pass body masks to embed images (training aside)."""
        return self.attention_needs_mask and self.mask_source == "parser"

    def _mask(self, images: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor | None:
        if not self.attention_needs_mask or (masks is not None and masks.numel()):
            return masks
        if self.mask_policy == "ones":
            return images.new_ones(images.shape[0], 1, *images.shape[-2:])
        raise MaskRequiredError()

    def stage2(self, images: torch.Tensor) -> torch.Tensor:
        """Features after layer2: the input of the attention slot."""
        b = self.backbone
        return b.layer2(b.layer1(b.maxpool(b.relu(b.bn1(b.conv1(images))))))

    def _stages(
        self, images: torch.Tensor, masks: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The last feature map and the mask head's logits (None when not needed: no head,
        or evaluation on the caller's masks)."""
        x = self.stage2(images)
        mask_logits = None
        if self.mask_head is not None and (self.training or self.mask_source == "predicted"):
            mask_logits = self.mask_head(x)
            if not self.training:
                masks = binary_mask(mask_logits)
        x = self.attention(x, self._mask(images, masks))
        return self.backbone.layer4(self.backbone.layer3(x)), mask_logits

    def feature_map(self, images: torch.Tensor, masks: torch.Tensor | None = None) -> torch.Tensor:
        return self._stages(images, masks)[0]

    @torch.no_grad()
    def predict_mask(self, images: torch.Tensor) -> torch.Tensor:
        """The head's binary body mask at the images' size, (B, 1, H, W)."""
        if self.mask_head is None:
            raise InputError("this model has no mask head (train with model.mask_head=true)")
        logits = self.mask_head(self.stage2(images))
        return resize_mask(binary_mask(logits).float(), images.shape[-2:])

    def forward(self, images: torch.Tensor, masks: torch.Tensor | None = None, frames: int = 1):
        """``frames`` > 1: ``images`` are clips of that many consecutive frames (B*T, 3, H, W);
        each frame is embedded on its own (with its own mask) and f_t is averaged over
        the clip before BNNeck (temporal average pooling)."""
        feature_map, mask_logits = self._stages(images, masks)
        pooled = F.adaptive_avg_pool2d(feature_map, 1).flatten(1)
        if frames > 1:
            pooled = pooled.view(-1, frames, pooled.shape[1]).mean(1)
        features = self.bnneck(pooled)
        if not self.training:
            return features
        return ModelOutput(self.classifier(features), pooled, features, mask_logits)


IMAGENET_WEIGHTS = ("imagenet1k_v1", "imagenet1k_v2")
WEIGHTS_CHOICES = (
    "imagenet1k_v1, imagenet1k_v2, none, or a path to a .pth / .safetensors state dict"
)
_STATE_DICT_SUFFIXES = (".pth", ".pt", ".safetensors")


def _resolve_weights(weights: str | Path | None) -> str | Path | None:
    """An ImageNet weights name, None (random initialisation) or an existing file.

    ``None`` and "none" both mean random initialisation (torchvision's ``weights=None``);
    names are matched case-insensitively. Anything else must be an existing file: a value
    that looks like a path is reported as missing, any other as an unknown name.
    """
    if weights is None:
        return None
    if isinstance(weights, str) and weights.lower() in (*IMAGENET_WEIGHTS, "none"):
        return None if weights.lower() == "none" else weights.lower()
    if not isinstance(weights, str | Path):
        raise InputError(f"weights must be a name or a path, got {type(weights).__name__}")
    path = Path(weights)
    if path.is_file():
        return path
    if path.is_dir():
        raise InputError(f"weights {path} is a folder; expected a state dict file")
    if isinstance(weights, Path) or path.suffix in _STATE_DICT_SUFFIXES or len(path.parts) > 1:
        raise InputError(f"weights file {path} does not exist")
    raise InputError(f"unknown weights {str(weights)!r}; expected {WEIGHTS_CHOICES}")


def narrow_resnet18(base: int) -> nn.Module:
    """torchvision's ResNet-18 (its module names, blocks and initialisation) with stage
    widths base, 2 base, 4 base, 8 base instead of 64 .. 512."""
    from torchvision.models.resnet import BasicBlock, ResNet

    net = ResNet(BasicBlock, [2, 2, 2, 2])
    net.conv1 = nn.Conv2d(3, base, kernel_size=7, stride=2, padding=3, bias=False)
    net.bn1 = nn.BatchNorm2d(base)
    inplanes = base
    for i in range(1, 5):
        planes, stride = base * 2 ** (i - 1), 1 if i == 1 else 2
        down = None
        if stride != 1 or inplanes != planes:
            down = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                                 nn.BatchNorm2d(planes))  # fmt: skip
        setattr(net, f"layer{i}", nn.Sequential(BasicBlock(inplanes, planes, stride, down),
                                                BasicBlock(planes, planes)))  # fmt: skip
        inplanes = planes
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return net


def _backbone(name: str, weights: str | None, last_stride: int) -> nn.Module:
    if name not in BACKBONES:
        raise UnknownNameError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}")
    tv_weights = None
    if name in NARROW and weights in IMAGENET_WEIGHTS:
        raise InputError(f"{name} has no ImageNet weights: use model.weights=none")
    if weights in IMAGENET_WEIGHTS:  # torchvision's own download
        available = torchvision.models.get_model_weights(name)
        if weights.upper() not in available.__members__:
            known = ", ".join(m.lower() for m in available.__members__ if m != "DEFAULT")
            raise InputError(f"{name} has no {weights} weights in torchvision (it has: {known})")
        tv_weights = available[weights.upper()]
    if name in NARROW:
        net = narrow_resnet18(NARROW[name])
    else:
        net = getattr(torchvision.models, name)(weights=tv_weights)
    if last_stride == 1:
        block = net.layer4[0]
        conv = block.conv2 if name == "resnet50" else block.conv1
        conv.stride = (1, 1)
        if block.downsample is not None:
            block.downsample[0].stride = (1, 1)
    elif last_stride != 2:
        raise InputError(f"last_stride must be 1 or 2, got {last_stride}")
    net.fc = nn.Identity()
    return net


def build_model(
    num_classes: int,
    backbone: str = "resnet50",
    attention: str = "bsga",
    weights: str | Path | None = "none",
    last_stride: int = 1,
    mask_policy: MaskPolicy = "require",
    attention_options: Mapping[str, Any] | None = None,
    mask_head: bool = False,
    mask_source: str = "parser",
) -> ReIDModel:
    """A re-ID model. ``weights``: "imagenet1k_v1" / "imagenet1k_v2" load torchvision's
    ImageNet weights (downloaded), "none" or None starts from random, anything else is a
    path to a torchvision-named backbone state dict. ``attention_options`` go to the
    attention module, which declares the ones it takes (BSGA: ``share_mask_conv``,
    ``init``). ``mask_head`` adds a body-mask head on the stage-2 features;
    ``mask_source="predicted"`` makes BSGA use it at inference."""
    weights = _resolve_weights(weights)
    named = weights if isinstance(weights, str) else None
    net = _backbone(backbone, named, last_stride)  # downloads only the ImageNet names
    if isinstance(weights, Path):
        load_backbone_weights(net, weights)
    widths = BACKBONES[backbone]
    attn = build_attention(attention, widths.stage2, attention_options or {})
    head = MaskHead(widths.stage2) if mask_head else None
    return ReIDModel(net, attn, widths.feature, num_classes, mask_policy, head, mask_source)


def model_from_config(cfg: ModelConfig, num_classes: int, weights: str | None = None) -> ReIDModel:
    """The network a config's model section describes (``weights`` overrides its
    ``weights``, e.g. "none" when a checkpoint's weights follow): the one place a config
    becomes a model. An option the attention module does not take names its key."""
    try:
        return build_model(
            num_classes, backbone=cfg.backbone, attention=cfg.attention,
            weights=cfg.weights if weights is None else weights, last_stride=cfg.last_stride,
            attention_options=dict(cfg.attention_options), mask_head=cfg.mask_head,
            mask_source=cfg.mask_source,
        )  # fmt: skip
    except AttentionOptionError as exc:
        raise ConfigError(f"model.attention_options: {exc}") from None


def load_backbone_weights(net: nn.Module, path: str | Path) -> None:
    """Load torchvision-named weights (safetensors or a tensors-only .pth); fc is ignored."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(f"{path}: missing keys {missing[:5]}, unexpected keys {unexpected[:5]}")


@torch.no_grad()
def activation_map(
    model: ReIDModel, images: torch.Tensor, masks: torch.Tensor | None = None
) -> torch.Tensor:
    """Class-independent activation of the last stage (the mean over its channels),
    upsampled to the input and scaled to [0, 1] per image: where the model looks."""
    model.eval()
    fmap = model.feature_map(images, masks).float().mean(dim=1, keepdim=True)
    up = F.interpolate(fmap, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    lo = up.flatten(1).min(dim=1).values[:, None, None]
    hi = up.flatten(1).max(dim=1).values[:, None, None]
    return (up - lo) / (hi - lo).clamp_min(1e-12)


@torch.no_grad()
def head_and_parser_masks(
    model: ReIDModel, images: torch.Tensor, masks: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The head's binary mask and the parser's body mask, (B, 1, h, w) each, at the
    resolution BSGA uses them (the stage-2 features')."""
    logits = model.mask_head(model.stage2(images))
    return binary_mask(logits), head_target(masks, logits.shape[-2:])


def mask_head_overlap(
    model: ReIDModel, images: torch.Tensor, masks: torch.Tensor
) -> tuple[int, int]:
    """Intersection and union of the head's mask and the parser's (see above)."""
    return mask_overlap(*head_and_parser_masks(model, images, masks))
