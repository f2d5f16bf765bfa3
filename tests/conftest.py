"""Shared fixtures: a tiny synthetic clothes-changing dataset made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccreid.synthetic import SyntheticConfig, generate

TINY = SyntheticConfig(train_ids=8, test_ids=4, images_per_camera=3, seed=3)


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """VC-Clothes-layout dataset: 8 train ids, 4 test ids, 12 images each, ATR masks."""
    return generate(tmp_path_factory.mktemp("synthetic"), TINY)


def tiny_overrides(root: Path, out: Path, **extra: object) -> list[str]:
    """Config overrides for a fast run on the tiny dataset (ResNet-18, 64x32)."""
    base = {
        "data.root": root, "data.mask_root": root / "masks", "data.height": 64, "data.width": 32,
        "data.pad": 2, "data.workers": 0, "data.num_identities": 4, "data.num_instances": 2,
        "model.backbone": "resnet18", "model.weights": "none", "train.epochs": 1,
        "train.eval_every": 1, "train.max_steps_per_epoch": 3, "train.precision": "fp32",
        "output_dir": out, "name": "tiny", "eval.batch_size": 64,
    }  # fmt: skip
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_synthetic: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BSGA ResNet-18 trained for a few steps on the tiny dataset."""
    from ccreid.config import load_config
    from ccreid.engine import run_training

    out = tmp_path_factory.mktemp("trained")
    run_training(load_config(None, tiny_overrides(tiny_synthetic, out)))
    return out / "tiny" / "checkpoints" / "last.safetensors"


@pytest.fixture()
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """``cli(*args, expect=code)`` runs ``ccreid ARGS`` in process (see cli_helpers)."""
    from cli_helpers import invoke

    def run(*args: object, expect: int | None = None):
        result = invoke(args, monkeypatch, capsys)
        if expect is not None:
            assert result.code == expect, result.err
        return result

    return run
