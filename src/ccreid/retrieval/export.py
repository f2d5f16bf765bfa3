"""ONNX export of the feature extractor (image and mask in, BN feature out), checked
against PyTorch with ONNX Runtime; preprocessing parameters travel as ONNX metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ccreid.errors import CCReIDError, InputError, require
from ccreid.fileio import atomic_write, check_output_file
from ccreid.hub import resolve_checkpoint
from ccreid.inference import Preprocessing, TrainedModel, load, select_device

MAX_ABS_DIFF = 1e-3
MIN_OPSET = 18  # the dynamo exporter writes opset 18 graphs; others are converted from it


def _with_opset(proto, opset: int, onnx):
    """The exported graph at exactly ``opset`` (converted when the exporter chose another)."""
    current = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    if current == opset:
        return proto
    try:
        converted = onnx.version_converter.convert_version(proto, opset)
    except Exception as exc:  # the converter raises plain RuntimeErrors
        raise InputError(f"the graph cannot be converted to opset {opset}: {exc}") from None
    return converted


class ExportParityError(CCReIDError, RuntimeError):
    """ONNX Runtime's output differs from PyTorch's by more than the tolerance."""


@dataclass(frozen=True)
class ExportReport:
    path: Path
    max_abs_diff: float
    inputs: tuple[str, ...]


class _FeatureExtractor(nn.Module):
    """Eval-mode forward with a fixed signature: (image[, mask]) -> f_b."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.eval()

    def forward(self, image: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(image, mask)


def export_onnx(
    checkpoint: str | Path,
    out: str | Path,
    opset: int = 18,
    batch: int = 2,
    seed: int = 0,
    mask_source: str | None = None,
    device: str = "cpu",
) -> ExportReport:
    """Write ``out`` and return the largest |ONNX - PyTorch| on random inputs (dynamic batch).

    The graph takes (image, mask), or the image alone when the model needs no mask (no
    BSGA, or ``mask_source="predicted"``: the mask head runs inside the graph). The graph
    is traced on the CPU; ``device`` runs the parity check's PyTorch reference (and ONNX
    Runtime's CUDA provider when it is a GPU and the provider is installed)."""
    onnx = require("onnx", "export", "ONNX export")
    ort = require("onnxruntime", "export", "checking an ONNX export")
    require("onnxscript", "export", "ONNX export")
    out = Path(out)
    check_output_file(out, ".onnx")
    if not MIN_OPSET <= opset <= onnx.defs.onnx_opset_version():
        raise InputError(
            f"--opset {opset} is not supported: use {MIN_OPSET}..{onnx.defs.onnx_opset_version()}"
        )
    trained = load(resolve_checkpoint(checkpoint), "cpu", mask_source)
    model = trained.model.float().to(memory_format=torch.contiguous_format)
    wrapper = _FeatureExtractor(model).eval()
    gen = torch.Generator().manual_seed(seed)
    inputs = _random_inputs(trained.preprocessing, batch, gen, model.needs_mask)
    proto = _graph(wrapper, inputs, opset, onnx)
    onnx.helper.set_model_props(proto, _metadata(trained))
    atomic_write(out, lambda tmp: onnx.save(proto, str(tmp)))
    check = _random_inputs(trained.preprocessing, batch + 1, gen, True)  # another batch size
    diff, names = _parity(out, wrapper, check, opset, ort, select_device(device))
    if diff > MAX_ABS_DIFF:
        raise ExportParityError(
            f"{out}: ONNX Runtime differs from PyTorch by {diff:.2e} (> {MAX_ABS_DIFF})"
        )
    return ExportReport(out, diff, names)


def _random_inputs(prep: Preprocessing, batch: int, gen: torch.Generator,
                   with_mask: bool) -> dict[str, torch.Tensor]:  # fmt: skip
    """A normalised-looking image batch and a random body mask (drawn even when unused, so
    the draws that follow do not depend on the model)."""
    image = torch.randn(batch, 3, prep.height, prep.width, generator=gen)
    mask = (torch.rand(batch, 1, prep.height, prep.width, generator=gen) > 0.4).float()
    return {"image": image, "mask": mask} if with_mask else {"image": image}


def _graph(wrapper: nn.Module, inputs: dict[str, torch.Tensor], opset: int, onnx):
    batch_dim = torch.export.Dim("batch", min=1, max=4096)
    program = torch.onnx.export(
        wrapper, tuple(inputs.values()), dynamo=True, opset_version=opset,
        input_names=list(inputs), output_names=["features"],
        dynamic_shapes={name: {0: batch_dim} for name in inputs},
    )  # fmt: skip
    return _with_opset(program.model_proto, opset, onnx)


def _metadata(trained: TrainedModel) -> dict[str, str]:
    """Everything a runtime needs to feed the graph, as ONNX metadata (``ccreid.*``)."""
    cfg, prep, model = trained.config, trained.preprocessing, trained.model
    return {
        "ccreid.height": str(prep.height), "ccreid.width": str(prep.width),
        "ccreid.mean": json.dumps(list(prep.mean)), "ccreid.std": json.dumps(list(prep.std)),
        "ccreid.mask_schema": prep.schema, "ccreid.needs_mask": str(model.needs_mask).lower(),
        "ccreid.attention": cfg.model.attention, "ccreid.backbone": cfg.model.backbone,
        "ccreid.mask_source": model.mask_source,
        "ccreid.output": "BN feature f_b; L2-normalise and compare by cosine similarity",
    }  # fmt: skip


def _parity(out: Path, wrapper: nn.Module, check: dict[str, torch.Tensor], opset: int, ort,
            device: torch.device) -> tuple[float, tuple[str, ...]]:  # fmt: skip
    """The largest |ONNX Runtime - PyTorch| on ``check`` inputs, and the graph's inputs."""
    providers = ["CPUExecutionProvider"]
    if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    try:
        session = ort.InferenceSession(str(out), providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped failures
        raise ExportParityError(
            f"{out} was written, but ONNX Runtime {ort.__version__} cannot load it "
            f"(opset {opset}?): {str(exc).splitlines()[0]}"
        ) from None
    names = tuple(i.name for i in session.get_inputs())
    ort_out = session.run(None, {k: v.numpy() for k, v in check.items() if k in names})[0]
    model = wrapper.to(device)
    with torch.no_grad():
        mask = check["mask"].to(device) if "mask" in names else None
        ref = model(check["image"].to(device), mask).cpu().numpy()
    return float(np.abs(ort_out - ref).max()), names
