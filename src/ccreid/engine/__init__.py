"""Training loop, checkpoints, distributed helpers, feature extraction and experiment runs."""

from ccreid.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ccreid.engine.experiment import (
    RunResult,
    load_trained_model,
    results_table,
    run_evaluation,
    run_training,
)
from ccreid.engine.inference import InferenceOptions, evaluate_all, extract_features
from ccreid.engine.trainer import EpochLog, Trainer, TrainingDiverged

__all__ = [
    "CheckpointError",
    "EpochLog",
    "InferenceOptions",
    "RunResult",
    "Trainer",
    "TrainingDiverged",
    "evaluate_all",
    "extract_features",
    "load_checkpoint",
    "load_trained_model",
    "results_table",
    "run_evaluation",
    "run_training",
    "save_checkpoint",
]
