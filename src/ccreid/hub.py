"""``ccreid.load``: a trained model from wherever it is kept.

A source is a checkpoint file of ``ccreid train``, a run folder (its ``best`` checkpoint
when it has one, else ``last``), a model folder written by ``ccreid package`` (its
``model.safetensors``), or the id ``owner/name`` of such a folder on the Hugging Face hub
(fetched through ``huggingface_hub``: from its cache when offline).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from ccreid.errors import InputError, require
from ccreid.inference import TrainedModel
from ccreid.inference import load as load_checkpoint_file
from ccreid.runfolder import RunFolder

MODEL_FILE = "model.safetensors"  # the weights of a model folder of `ccreid package`
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")
_TRUE = ("1", "true", "yes", "on")


def resolve_checkpoint(source: str | Path, prefer: str = "best") -> Path:
    """The checkpoint file a source names (see the module docstring)."""
    path = Path(source)
    if path.is_file():
        return path
    if path.is_dir():
        if (path / MODEL_FILE).is_file():
            return path / MODEL_FILE
        run = RunFolder(path)
        if run.is_run() or (path / RunFolder.CHECKPOINTS).is_dir():
            return run.checkpoint(prefer)
        raise InputError(
            f"{path} is a folder but neither a run folder of `ccreid train` nor a model folder "
            f"of `ccreid package` (it has no {MODEL_FILE})"
        )
    if HUB_ID.fullmatch(str(source)):
        return _hub_folder(str(source)) / MODEL_FILE
    raise InputError(f"model {source} does not exist: give a checkpoint, a run folder, a model "
                     "folder or a hub id owner/name")  # fmt: skip


def _offline() -> bool:
    """Whether the hub may not be reached (``HF_HUB_OFFLINE``, read now, not at import)."""
    from huggingface_hub import constants

    return constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE


def _hub_folder(repo_id: str) -> Path:
    """The model folder ``repo_id`` names on the hub, from the local cache when offline."""
    hub = require("huggingface_hub", "hub", f"loading the hub model {repo_id}")
    errors = require("huggingface_hub.errors", "hub", f"loading the hub model {repo_id}")
    offline = _offline()
    not_here = f"model {repo_id} is not a local path"
    try:
        folder = Path(hub.snapshot_download(repo_id, local_files_only=offline))
    except (errors.LocalEntryNotFoundError, errors.RepositoryNotFoundError) as exc:
        how = ("it is not in the hub cache and HF_HUB_OFFLINE is set: download it once online "
               f"(unset HF_HUB_OFFLINE, or `hf download {repo_id}`)") if offline else (
               "the hub has no such model, or it could not be reached: check the id, your "
               "network and, for a private model, `hf auth login`")  # fmt: skip
        raise InputError(f"{not_here}, and as a hub id {how} ({type(exc).__name__})") from None
    except OSError as exc:  # a network failure that no cache could cover
        raise InputError(f"{not_here}, and the hub could not be reached ({exc})") from None
    if not (folder / MODEL_FILE).is_file():
        raise InputError(f"hub model {repo_id} ({folder}) has no {MODEL_FILE}: it is not a model "
                         "folder of `ccreid package`")  # fmt: skip
    return folder


def load(
    source: str | Path, device: str | torch.device = "auto", mask_source: str | None = None,
    flip: bool | None = None, precision: str | None = None,
) -> TrainedModel:  # fmt: skip
    """The model ``source`` holds, ready to embed images: ``model.embed(images, masks)``.

    ``source``: a checkpoint, a run folder, a model folder of ``ccreid package`` or a hub
    id ``owner/name``. ``device``: auto (a GPU when there is one), cpu, cuda or cuda:N.
    ``mask_source`` (parser | predicted) says where BSGA's body mask comes from; ``flip``
    and ``precision`` override the checkpoint's ``eval.flip`` / ``eval.precision``."""
    return load_checkpoint_file(resolve_checkpoint(source), device, mask_source, flip, precision)
