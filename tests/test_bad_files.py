"""Bad files met at load time: each a clear error naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ccreid.data import AugmentConfig, ImageReadError, ReIDImageDataset, Sample
from ccreid.inference import CheckpointError, load_checkpoint, save_checkpoint
from ccreid.inference.checkpoint import load_model_weights
from ccreid.models import build_model


@pytest.mark.reliability(
    tried="zero-byte image; mask of the wrong size; mask labels outside the schema",
    happens="`ImageReadError` naming the file (and both sizes / the labels)",
    also=(
        "test_mask_of_the_wrong_size_names_the_file",
        "test_mask_with_labels_outside_the_schema_names_the_file",
    ),
)
def test_zero_byte_image_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").write_bytes(b"")
    ds = ReIDImageDataset(
        [Sample(str(tmp_path / "empty.jpg"), 0, 0, 0)], AugmentConfig(height=32, width=16)
    )
    with pytest.raises(ImageReadError, match=r"cannot decode image .*empty\.jpg"):
        ds[0]


def test_mask_of_the_wrong_size_names_the_file(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((40, 20, 3), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((20, 10), np.uint8)).save(tmp_path / "a_mask.png")
    sample = Sample(str(tmp_path / "a.png"), 0, 0, 0, str(tmp_path / "a_mask.png"))
    ds = ReIDImageDataset([sample], AugmentConfig(height=32, width=16), masks=True)
    with pytest.raises(ImageReadError, match=r"mask .*a_mask\.png is 10x20, image is 20x40"):
        ds[0]


def test_mask_with_labels_outside_the_schema_names_the_file(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((40, 20, 3), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.full((40, 20), 19, np.uint8)).save(tmp_path / "m.png")
    ds = ReIDImageDataset([Sample(str(tmp_path / "a.png"), 0, 0, 0, str(tmp_path / "m.png"))],
                          AugmentConfig(height=32, width=16), cre=True)  # fmt: skip
    with pytest.raises(ImageReadError, match=r"m\.png: labels \[19\] are outside the atr schema"):
        ds[0]


@pytest.mark.reliability(
    tried="checkpoint of another architecture; another number of classes",
    happens="refused; classes differ: loads for evaluation, refused for training",
    also=("test_other_number_of_classes_loads_for_evaluation_only",),
)
def test_checkpoint_of_another_architecture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r18.safetensors"
    save_checkpoint(path, build_model(5, backbone="resnet18"), {})
    target = build_model(5, backbone="resnet34")
    with pytest.raises(CheckpointError, match="does not fit this model"):
        load_model_weights(target, load_checkpoint(path), path, for_eval=True)


def test_other_number_of_classes_loads_for_evaluation_only(tmp_path: Path) -> None:
    path = tmp_path / "c5.safetensors"
    trained = build_model(5, backbone="resnet18")
    save_checkpoint(path, trained, {})
    evaluator = build_model(9, backbone="resnet18")
    load_model_weights(evaluator, load_checkpoint(path), path, for_eval=True)
    assert torch.equal(evaluator.backbone.conv1.weight, trained.backbone.conv1.weight)
    with pytest.raises(CheckpointError, match="classifier.weight has shape"):
        load_model_weights(
            build_model(9, backbone="resnet18"), load_checkpoint(path), path, for_eval=False
        )
