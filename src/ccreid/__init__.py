"""ccreid: clothes-changing person re-identification with CRE, BSGA and the batch
cross-clothes triplet loss.

    import ccreid
    model = ccreid.load("runs/prcc-full")          # a run folder or a checkpoint file
    features = model.embed(["a.jpg", "b.jpg"], masks=["a.png", "b.png"])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["TrainedModel", "__version__", "load"]

if TYPE_CHECKING:
    from ccreid.hub import load
    from ccreid.inference import TrainedModel


def __getattr__(name: str) -> Any:
    """``load`` and ``TrainedModel`` are imported on first use: ``import ccreid`` stays cheap
    (the command line, for one, imports torch only when a command needs it)."""
    if name == "load":
        from ccreid.hub import load

        return load
    if name == "TrainedModel":
        from ccreid.inference import TrainedModel

        return TrainedModel
    raise AttributeError(f"module 'ccreid' has no attribute {name!r}")
