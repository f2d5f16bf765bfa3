"""Re-ID models: ResNet + attention slot (BSGA, SE, CBAM, ECA) + BNNeck."""

from ccreid.models.attention import (
    ATTENTIONS,
    BSGA,
    CBAM,
    ECA,
    SqueezeExcitation,
    attention_region_means,
)
from ccreid.models.reid_model import (
    BACKBONES,
    ModelOutput,
    ReIDModel,
    activation_map,
    build_model,
    load_backbone_weights,
)

__all__ = [
    "ATTENTIONS",
    "BACKBONES",
    "BSGA",
    "CBAM",
    "ECA",
    "ModelOutput",
    "ReIDModel",
    "activation_map",
    "SqueezeExcitation",
    "attention_region_means",
    "build_model",
    "load_backbone_weights",
]
