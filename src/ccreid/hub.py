"""``ccreid.load``: a trained model from wherever it is kept.

A source is a checkpoint file of ``ccreid train``, a run folder (its ``best`` checkpoint
when it has one, else ``last``), or a model folder written by ``ccreid package``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ccreid.errors import InputError
from ccreid.inference import TrainedModel
from ccreid.inference import load as load_checkpoint_file
from ccreid.runfolder import RunFolder


def resolve_checkpoint(source: str | Path, prefer: str = "best") -> Path:
    """The checkpoint file a source names (see the module docstring)."""
    path = Path(source)
    if path.is_file():
        return path
    if path.is_dir():
        run = RunFolder(path)
        if run.is_run() or (path / RunFolder.CHECKPOINTS).is_dir():
            return run.checkpoint(prefer)
        raise InputError(
            f"{path} is a folder but neither a run folder of `ccreid train` nor a model folder "
            "of `ccreid package`"
        )
    raise InputError(f"model {source} does not exist: give a checkpoint, a run folder or a "
                     "model folder")  # fmt: skip


def load(
    source: str | Path, device: str | torch.device = "auto", mask_source: str | None = None,
    flip: bool | None = None, precision: str | None = None,
) -> TrainedModel:  # fmt: skip
    """The model ``source`` holds, ready to embed images: ``model.embed(images, masks)``.

    ``device``: auto (a GPU when there is one), cpu, cuda or cuda:N. ``mask_source``
    (parser | predicted) says where BSGA's body mask comes from; ``flip`` and
    ``precision`` override the checkpoint's ``eval.flip`` / ``eval.precision``."""
    return load_checkpoint_file(resolve_checkpoint(source), device, mask_source, flip, precision)
