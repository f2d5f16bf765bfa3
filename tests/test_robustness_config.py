"""Configs with values no run could honour: each a ConfigError naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import tiny_overrides

from ccreid.config import ConfigError, load_config, validate_sampling
from ccreid.engine import run_training


@pytest.mark.reliability(
    tried=(
        "`data.batch_size` not a multiple of K, or holding < 2 identities; K < 2; epochs 0; "
        "negative weight decay; margin < 0; unknown precision"
    ),
    happens="`ConfigError` naming the key and value",
)
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


@pytest.mark.reliability(
    tried="K larger than the images of every identity; P larger than the identities",
    happens="`ConfigError` before a model is built, naming the key and the dataset",
    also=("test_training_checks_the_batch_against_the_data_before_building_a_model",),
)
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


@pytest.mark.reliability(
    tried="a config file of an older version",
    happens="`ConfigError` with both versions",
)
def test_a_config_file_of_an_older_version_is_refused(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text("version: 0\ndata:\n  mask_root: m\n")
    with pytest.raises(ConfigError, match=r"config version 0, this ccreid reads version 1"):
        load_config(old)


@pytest.mark.reliability(
    tried="`train.seed=-1`, `train.weight_decay=nan`, `data.pad=3000`",
    happens="`ConfigError` naming the key from `load_config`, before any work",
)
@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("train.seed=-1", "train.seed"),  # numpy's seeding refuses negatives
        ("train.seed=4294967296", "train.seed"),  # ...and seeds of 2**32 or more
        ("train.weight_decay=nan", "train.weight_decay"),  # failed after the model was built
        ("train.weight_decay=inf", "train.weight_decay"),
        ("data.pad=3000", "data.pad"),  # +125 MiB per sample, a crop of blank canvas
        ("data.pad=65", "data.pad"),  # more than half of 128 (the default width)
    ],
)
def test_seeds_non_finite_floats_and_huge_pads_name_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"\n  {re.escape(key)} must be"):
        load_config(None, ["data.mask_root=m", override])


@pytest.mark.reliability(
    tried="nan in any float setting",
    happens="`ConfigError` `<key> must be a finite number`",
)
def test_every_float_setting_must_be_finite() -> None:
    """Each float key, nan: the check walks the schema, so a key added later is covered."""
    from dataclasses import fields

    from ccreid.config import ExperimentConfig

    cfg = ExperimentConfig()
    float_keys = [f"{s}.{f.name}" for s in ("data", "model", "loss", "train", "eval")
                  for f in fields(getattr(cfg, s))
                  if isinstance(getattr(getattr(cfg, s), f.name), float)]  # fmt: skip
    assert len(float_keys) >= 9  # weight_decay, lr, gamma, margin, smoothing, weights, p...
    for key in float_keys:
        with pytest.raises(ConfigError, match=re.escape(key) + " must be a finite"):
            load_config(None, ["data.mask_root=m", f"{key}=nan"])


def test_the_papers_and_the_demos_pads_are_accepted() -> None:
    assert load_config(None, ["data.mask_root=m"]).data.pad == 10  # 256x128
    load_config(None, ["data.mask_root=m", "data.height=128", "data.width=64", "data.pad=4"])
    load_config(None, ["data.mask_root=m", "data.pad=64"])  # half of 128: the bound itself


def _tiny_run(root: Path, out: Path, **extra: object) -> Path:
    run_training(load_config(None, tiny_overrides(root, out, **extra)))
    return out / "tiny"


@pytest.mark.reliability(
    tried=(
        "`train --resume` with `data.height=128 train.cre=false train.lr=0.5` on a run trained "
        "otherwise"
    ),
    happens=(
        "`ConfigError` listing `data.height: 64 -> 128`, `train.cre: True -> False`, `train.lr: "
        "0.0003 -> 0.5`, pointing to `--overwrite` or another `name=`; run folder byte-identical"
    ),
)
def test_resume_refuses_a_changed_config_and_leaves_the_run_untouched(
    tiny_synthetic: Path, tmp_path: Path
) -> None:
    run = _tiny_run(tiny_synthetic, tmp_path)
    files = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    changed = {"data.height": 128, "train.cre": "false", "train.lr": 0.5}
    cfg = load_config(None, tiny_overrides(tiny_synthetic, tmp_path, **changed))
    with pytest.raises(ConfigError) as exc:
        run_training(cfg, resume=True)
    message = str(exc.value)
    for line in ("data.height: 64 -> 128", "train.cre: True -> False", "train.lr: 0.0003 -> 0.5"):
        assert f"\n  {line}" in message
    assert "--overwrite" in message and "name=" in message
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == files  # byte-identical


@pytest.mark.reliability(
    tried="`--resume` with more epochs (or other `data.workers`, `name`, `output_dir`)",
    happens=(
        "accepted; config.yaml rewritten atomically with the new values; fewer epochs than "
        "already trained is refused"
    ),
)
def test_resume_accepts_a_longer_schedule_and_records_it(
    tiny_synthetic: Path, tmp_path: Path
) -> None:
    from ccreid.config.loading import read_run_config
    from ccreid.inference.checkpoint import load_checkpoint

    run = _tiny_run(tiny_synthetic, tmp_path)
    longer = load_config(None, tiny_overrides(tiny_synthetic, tmp_path, **{"train.epochs": 2}))
    run_training(longer, resume=True)
    assert load_checkpoint(run / "checkpoints/last.safetensors").meta["epoch"] == 2
    assert read_run_config(run / "config.yaml").train.epochs == 2  # config.yaml follows
    before = (run / "config.yaml").read_bytes()
    shorter = load_config(None, tiny_overrides(tiny_synthetic, tmp_path))  # train.epochs=1
    with pytest.raises(ConfigError, match=r"train\.epochs=1: .* already holds 2 epochs"):
        run_training(shorter, resume=True)
    assert (run / "config.yaml").read_bytes() == before


@pytest.mark.reliability(
    tried="`--resume` where no run exists",
    happens="one-line `cannot resume: …/config.yaml does not exist` before reading any data",
)
def test_resume_without_a_run_is_refused_before_any_work(
    tiny_synthetic: Path, tmp_path: Path
) -> None:
    from ccreid.inference.checkpoint import CheckpointError

    cfg = load_config(
        None, tiny_overrides(tiny_synthetic, tmp_path, **{"data.root": tmp_path / "no"})
    )
    with pytest.raises(CheckpointError, match=r"cannot resume: .*config\.yaml does not exist"):
        run_training(cfg, resume=True)  # the data root is never read
