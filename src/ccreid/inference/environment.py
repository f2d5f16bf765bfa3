"""What a run ran on: library versions, Python, the device and precision actually used,
the CPU (model, cores, the flags that decide bf16 speed) or GPU, the project's git commit
when it runs from a checkout, and the command line. A run folder keeps it beside its
numbers (``environment.json``), since the same code is 2-3x faster or 15x slower in bf16
depending on the machine."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from ccreid.inference.precision import SPEED_FLAGS, cpu_flags, cpu_model

LIBRARIES = ("ccreid", "torch", "torchvision", "numpy", "pillow", "omegaconf", "faiss-cpu",
             "onnxruntime", "transformers")  # fmt: skip


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that can change a number (absent ones left out)."""
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def git_commit(folder: Path | None = None) -> dict[str, Any] | None:
    """The commit of the checkout ccreid runs from (and whether it has local changes), or
    None for an installed package."""
    where = folder or Path(__file__).resolve().parents[3]
    if not (where / "src" / "ccreid").is_dir():  # an installed package, not a checkout
        return None
    try:
        commit = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10)  # fmt: skip
        if commit.returncode != 0:
            return None
        status = subprocess.run(["git", "-C", str(where), "status", "--porcelain"],
                                capture_output=True, text=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return {"commit": commit.stdout.strip(), "local_changes": bool(status.stdout.strip())}


def machine(device: torch.device) -> dict[str, Any]:
    """The processor a run used: the GPU's name, or the CPU's model, cores and flags."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return {"gpu": props.name, "gpu_memory_gib": round(props.total_memory / 2**30, 1),
                "cuda": torch.version.cuda}  # fmt: skip
    flags = cpu_flags()
    return {"cpu": cpu_model(), "cores": torch.get_num_threads(),
            "flags": [f for f in SPEED_FLAGS if f in flags]}  # fmt: skip


def environment(device: torch.device, dtype: torch.dtype | None) -> dict[str, Any]:
    """Everything above, for ``device`` and the autocast ``dtype`` (None = fp32)."""
    return {
        "versions": library_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
        "precision": "fp32" if dtype is None else str(dtype).removeprefix("torch."),
        "machine": machine(device),
        "git": git_commit(),
        "command": sys.argv,
    }
