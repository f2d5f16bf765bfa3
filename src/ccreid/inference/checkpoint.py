"""Checkpoints as one safetensors file: model and optimizer tensors plus JSON metadata.

Nothing is pickled, so loading a checkpoint can never run code. Writes go to a temporary
file in the same folder and are renamed into place, so a crash leaves the previous file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ccreid.errors import CCReIDError
from ccreid.fileio import atomic_write

FORMAT = "ccreid-checkpoint-1"


class CheckpointError(CCReIDError, ValueError):
    """A checkpoint that cannot be read or does not fit the model."""


@dataclass
class Checkpoint:
    model: dict[str, torch.Tensor]
    meta: dict[str, Any]
    optimizer: dict[str, Any] | None = None
    extra_tensors: dict[str, torch.Tensor] = field(default_factory=dict)


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors, scalars = {}, {}
    for pid, pstate in state["state"].items():
        for key, value in pstate.items():
            name = f"optim/{pid}/{key}"
            if isinstance(value, torch.Tensor):
                tensors[name] = value.detach().cpu().contiguous()
            else:
                scalars[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    items = list(tensors.items()) + list(meta["scalars"].items())
    for name, value in items:
        _, pid, key = name.split("/", 2)
        state.setdefault(int(pid), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    meta: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write model weights, optional optimizer state and JSON-able ``meta`` atomically."""
    path = Path(path)
    tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    full_meta = {"format": FORMAT, **meta}
    if optimizer is not None:
        opt_tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
        tensors.update(opt_tensors)
        full_meta["optimizer"] = opt_meta
    for k, v in (extra_tensors or {}).items():
        tensors[f"extra/{k}"] = v.detach().cpu().contiguous()
    metadata = {"ccreid": json.dumps(full_meta)}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
    return path


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint` (never unpickles)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), "pt") as fh:
            raw_meta = (fh.metadata() or {}).get("ccreid")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint ({exc})") from None
    if raw_meta is None:
        raise CheckpointError(f"{path} is a safetensors file but not a ccreid checkpoint")
    meta = json.loads(raw_meta)
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: unknown checkpoint format {meta.get('format')!r}")
    model = {k[6:]: v for k, v in tensors.items() if k.startswith("model/")}
    optim_t = {k: v for k, v in tensors.items() if k.startswith("optim/")}
    optimizer = _unflatten_optimizer(optim_t, meta["optimizer"]) if "optimizer" in meta else None
    extra = {k[6:]: v for k, v in tensors.items() if k.startswith("extra/")}
    return Checkpoint(model, meta, optimizer, extra)


def load_model_weights(
    model: nn.Module, ckpt: Checkpoint, path: str | Path, for_eval: bool
) -> None:
    """Load weights; for evaluation a classifier of another size is tolerated (unused)."""
    state = dict(ckpt.model)
    own = model.state_dict()
    if (
        for_eval
        and "classifier.weight" in state
        and state["classifier.weight"].shape != own["classifier.weight"].shape
    ):
        state["classifier.weight"] = own["classifier.weight"]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise CheckpointError(
            f"{path} does not fit this model: missing {missing[:4]}, unexpected {unexpected[:4]}"
        )
    for k, v in state.items():
        if own[k].shape != v.shape:
            raise CheckpointError(
                f"{path}: {k} has shape {tuple(v.shape)}, model has {tuple(own[k].shape)}"
            )
    model.load_state_dict(state)
