"""The inference floor: checkpoints, devices, precision, preprocessing, feature extraction
and `TrainedModel` (what ``ccreid.load`` returns). It knows nothing of training."""

from ccreid.inference.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    load_model_weights,
    save_checkpoint,
)
from ccreid.inference.device import select_device
from ccreid.inference.features import (
    InferenceOptions,
    OneProcess,
    Shards,
    evaluate_all,
    evaluate_set,
    extract_features,
    forward_batch,
    labels_of,
)
from ccreid.inference.precision import autocast, describe_cpu, machine_kind, resolve_dtype
from ccreid.inference.preprocess import Preprocessing
from ccreid.inference.trained import TrainedModel, inference_options, load, preprocessing_of

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "InferenceOptions",
    "OneProcess",
    "Preprocessing",
    "Shards",
    "TrainedModel",
    "autocast",
    "describe_cpu",
    "evaluate_all",
    "evaluate_set",
    "extract_features",
    "forward_batch",
    "inference_options",
    "labels_of",
    "load",
    "load_checkpoint",
    "load_model_weights",
    "machine_kind",
    "preprocessing_of",
    "resolve_dtype",
    "save_checkpoint",
    "select_device",
]
