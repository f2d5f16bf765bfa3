"""Training: one build step, the training loop, checkpoints of a run, DDP helpers, and the
experiment runner that writes a run folder (evaluation of a checkpoint included)."""

from ccreid.engine.build import TrainingParts, build_parts, check_training_config
from ccreid.engine.experiment import RunResult, run_evaluation, run_training
from ccreid.engine.trainer import EpochLog, Trainer, TrainingDiverged

__all__ = [
    "EpochLog",
    "RunResult",
    "Trainer",
    "TrainingDiverged",
    "TrainingParts",
    "build_parts",
    "check_training_config",
    "run_evaluation",
    "run_training",
]
