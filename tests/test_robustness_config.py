"""Configs with values no run could honour: each a ConfigError naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import tiny_overrides

from ccreid.config import ConfigError, load_config, validate_sampling
from ccreid.engine import run_training


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["data.batch_size=30"],
            r"data\.batch_size \(30\) must be a positive multiple of "
            r"data\.num_instances \(4\)",
        ),  # fmt: skip
        (["data.batch_size=4"], r"data\.batch_size \(4\) must hold at least 2 identities"),
        (["data.num_instances=1"], "data.num_identities and data.num_instances must be >= 2"),
        (["train.epochs=0"], r"train\.epochs must be >= 1"),
        (["train.weight_decay=-0.1"], r"train\.weight_decay must be >= 0"),
        (["data.height=8"], r"data\.height/width must be >= 32"),
        (["train.precision=fp8"], r"train\.precision must be"),
        (["loss.margin=-1"], r"loss\.margin must be >= 0"),
    ],
)
def test_impossible_values_name_the_key(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, ["data.mask_root=m", *overrides])


def test_batch_size_sets_the_identities_per_batch() -> None:
    cfg = load_config(None, ["data.mask_root=m", "data.batch_size=48", "data.num_instances=6"])
    assert cfg.data.identities_per_batch == 8


def test_k_larger_than_every_identity_and_p_larger_than_the_ids_are_refused() -> None:
    cfg = load_config(None, ["data.mask_root=m", "data.num_instances=5"])
    with pytest.raises(ConfigError, match=r"data\.num_instances \(5\) is larger than the images "
                                          r"of every identity in toy's training split \(at most 3\)"):  # fmt: skip
        validate_sampling(cfg, [0] * 3 + [1] * 2 + list(range(2, 10)), "toy")
    with pytest.raises(ConfigError, match=r"a batch of 8 identities .* the 3 of toy"):
        validate_sampling(cfg, [0, 0, 0, 0, 0, 1, 2], "toy")
    validate_sampling(cfg, [i // 5 for i in range(40)], "toy")  # 8 ids of 5 images: fine


def test_training_checks_the_batch_against_the_data_before_building_a_model(
    tiny_synthetic: Path, tmp_path: Path
) -> None:
    cfg = load_config(None, tiny_overrides(tiny_synthetic, tmp_path, **{"data.num_instances": 99}))
    with pytest.raises(ConfigError, match=r"data\.num_instances \(99\)"):
        run_training(cfg)
    assert not (tmp_path / "tiny" / "checkpoints").exists()


def test_a_config_file_of_an_older_version_is_refused(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text("version: 0\ndata:\n  mask_root: m\n")
    with pytest.raises(ConfigError, match=r"config version 0, this ccreid reads version 1"):
        load_config(old)
