"""Typed experiment configs, YAML loading and the adapter to library keyword arguments."""

from ccreid.config.loading import (
    ConfigError,
    apply_overrides,
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
    "apply_overrides",
    "from_yaml_text",
    "load_config",
    "to_yaml",
    "validate",
    "validate_sampling",
]
