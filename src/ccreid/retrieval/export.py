"""ONNX export of the feature extractor (image and mask in, BN feature out), checked
against PyTorch with ONNX Runtime; preprocessing parameters travel as ONNX metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ccreid.config import adapter as A
from ccreid.engine.experiment import load_trained_model
from ccreid.errors import CCReIDError, InputError, require
from ccreid.fileio import atomic_write, check_output_file

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
) -> ExportReport:
    """Write ``out`` and return the largest |ONNX - PyTorch| on random inputs (dynamic batch).

    The graph takes (image, mask), or the image alone when the model needs no mask (no
    BSGA, or ``mask_source="predicted"``: the mask head runs inside the graph)."""
    onnx = require("onnx", "export", "ONNX export")
    ort = require("onnxruntime", "export", "checking an ONNX export")
    require("onnxscript", "export", "ONNX export")

    out = Path(out)
    check_output_file(out, ".onnx")
    if not MIN_OPSET <= opset <= onnx.defs.onnx_opset_version():
        raise InputError(
            f"--opset {opset} is not supported: use {MIN_OPSET}..{onnx.defs.onnx_opset_version()}"
        )
    model, cfg = load_trained_model(checkpoint, torch.device("cpu"), mask_source)
    model = model.float().to(memory_format=torch.contiguous_format)
    aug = A.augment_config(cfg)
    gen = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, 3, aug.height, aug.width, generator=gen)
    mask = (torch.rand(batch, 1, aug.height, aug.width, generator=gen) > 0.4).float()
    wrapper = _FeatureExtractor(model).eval()
    batch_dim = torch.export.Dim("batch", min=1, max=4096)
    inputs = {"image": image, "mask": mask} if model.needs_mask else {"image": image}
    program = torch.onnx.export(
        wrapper, tuple(inputs.values()), dynamo=True, opset_version=opset,
        input_names=list(inputs), output_names=["features"],
        dynamic_shapes={name: {0: batch_dim} for name in inputs},
    )  # fmt: skip
    proto = _with_opset(program.model_proto, opset, onnx)
    meta = {
        "ccreid.height": str(aug.height), "ccreid.width": str(aug.width),
        "ccreid.mean": json.dumps(list(aug.mean)), "ccreid.std": json.dumps(list(aug.std)),
        "ccreid.mask_schema": cfg.data.schema, "ccreid.needs_mask": str(model.needs_mask).lower(),
        "ccreid.attention": cfg.model.attention, "ccreid.backbone": cfg.model.backbone,
        "ccreid.mask_source": model.mask_source,
        "ccreid.output": "BN feature f_b; L2-normalise and compare by cosine similarity",
    }  # fmt: skip
    onnx.helper.set_model_props(proto, meta)
    atomic_write(out, lambda tmp: onnx.save(proto, str(tmp)))
    try:
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped failures
        raise ExportParityError(
            f"{out} was written, but ONNX Runtime {ort.__version__} cannot load it "
            f"(opset {opset}?): {str(exc).splitlines()[0]}"
        ) from None
    names = tuple(i.name for i in session.get_inputs())
    check_image = torch.randn(
        batch + 1, 3, aug.height, aug.width, generator=gen
    )  # another batch size
    check_mask = (torch.rand(batch + 1, 1, aug.height, aug.width, generator=gen) > 0.4).float()
    feeds = {"image": check_image.numpy(), "mask": check_mask.numpy()}
    ort_out = session.run(None, {k: v for k, v in feeds.items() if k in names})[0]
    with torch.no_grad():
        ref = wrapper(check_image, check_mask if model.needs_mask else None).numpy()
    diff = float(np.abs(ort_out - ref).max())
    if diff > MAX_ABS_DIFF:
        raise ExportParityError(
            f"{out}: ONNX Runtime differs from PyTorch by {diff:.2e} (> {MAX_ABS_DIFF})"
        )
    return ExportReport(out, diff, names)
