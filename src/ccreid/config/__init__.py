"""Typed experiment configs: the schema, YAML loading with ``base:`` chains and overrides,
validation, and the reading of a run's stored config. Imports nothing of ccreid but its
errors, so every other package can read the vocabulary of the settings from here."""

from ccreid.config.loading import (
    apply_overrides,
    config_changes,
    from_yaml_text,
    load_config,
    packaged_config_names,
    read_run_config,
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
from ccreid.errors import ConfigError

__all__ = [
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "ExperimentConfig",
    "LossConfig",
    "ModelConfig",
    "TrainConfig",
    "apply_overrides",
    "config_changes",
    "from_yaml_text",
    "load_config",
    "packaged_config_names",
    "read_run_config",
    "to_yaml",
    "validate",
    "validate_sampling",
]
