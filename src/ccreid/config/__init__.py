"""Typed experiment configs, YAML loading and the adapter to library keyword arguments."""

from ccreid.config.loading import (
    ConfigError,
    from_yaml_text,
    load_config,
    to_yaml,
    validate,
    validate_sampling,
)
from ccreid.config.schema import (
    DataConfig,
    EvalConfig,
    ExperimentConfig,
    LossConfig,
    ModelConfig,
    TrainConfig,
)

__all__ = [
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "ExperimentConfig",
    "LossConfig",
    "ModelConfig",
    "TrainConfig",
    "from_yaml_text",
    "load_config",
    "to_yaml",
    "validate",
    "validate_sampling",
]
