"""Re-ID models: ResNet + attention slot (BSGA, SE, CBAM, ECA) + BNNeck."""

from ccreid.models.attention import (
    ATTENTIONS,
    BSGA,
    CBAM,
    ECA,
    SqueezeExcitation,
    attention_region_means,
    build_attention,
)
from ccreid.models.reid_model import (
    BACKBONES,
    ModelOutput,
    ReIDModel,
    activation_map,
    build_model,
    load_backbone_weights,
    model_from_config,
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
    "build_attention",
    "build_model",
    "model_from_config",
    "load_backbone_weights",
]
