"""Train -> checkpoint -> eval end to end, resume, failures, configs, DDP."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import tiny_overrides

from ccreid.config import ConfigError, load_config
from ccreid.engine import TrainingDiverged, run_evaluation, run_training
from ccreid.inference import CheckpointError, load_checkpoint

REPO = Path(__file__).resolve().parents[1]


def test_train_checkpoint_eval_end_to_end(tiny_synthetic: Path, tmp_path: Path) -> None:
    cfg = load_config(None, tiny_overrides(tiny_synthetic, tmp_path))
    result = run_training(cfg)
    run = result.run_dir
    for name in ("config.yaml", "metrics.csv", "metrics.json", "results.md", "checkpoints/last.safetensors"):  # fmt: skip
        assert (run / name).is_file(), name
    assert not (run / "checkpoints/best.safetensors").exists()  # no validation set, no "best"
    assert list((run / "tb").iterdir())
    assert set(result.results) == {"general", "sc", "cc"}
    rows = json.loads((run / "metrics.json").read_text())
    assert rows[0]["epoch"] == 1 and "cc/mAP" in rows[0]
    saved = json.loads((run / "results.json").read_text())
    assert saved["evaluated"] == {"checkpoint": "last", "epoch": 1}
    assert "Weights: `last` checkpoint, epoch 1." in (run / "results.md").read_text()
    again = run_evaluation(cfg, run / "checkpoints" / "last.safetensors")
    for name, r in result.results.items():
        assert again[name].mAP == pytest.approx(r.mAP, abs=1e-6)


def test_the_final_evaluation_runs_once(
    tiny_synthetic: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ccreid.engine.experiment as experiment

    calls = []
    real = experiment.evaluate_all

    def counting(model, eval_sets, *args, **kwargs):
        calls.append(sorted(eval_sets))
        return real(model, eval_sets, *args, **kwargs)

    monkeypatch.setattr(experiment, "evaluate_all", counting)
    run_training(load_config(None, tiny_overrides(tiny_synthetic, tmp_path, **{"train.epochs": 2})))
    assert calls == [["cc", "general", "sc"]]


@pytest.mark.reliability(
    tried="model selection",
    happens="`best` chosen on validation data only; no test image is read while training",
)
def test_model_selection_never_reads_a_test_image(
    tiny_synthetic: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With data.val_ids, ``best`` is chosen on held-out training ids; while training runs
    (selection included) no query or gallery image is opened."""
    import ccreid.data.images as dataset_module
    from ccreid.engine.trainer import Trainer

    cfg = load_config(None, tiny_overrides(tiny_synthetic, tmp_path, **{"data.val_ids": 2,
                                                                        "train.epochs": 2}))  # fmt: skip
    reads, phase = [], {"fitting": False}
    real_read, real_fit = dataset_module.read_image, Trainer.fit

    def spy_read(path):
        reads.append((phase["fitting"], str(path)))
        return real_read(path)

    def spy_fit(self, epochs):
        phase["fitting"] = True
        try:
            return real_fit(self, epochs)
        finally:
            phase["fitting"] = False

    monkeypatch.setattr(dataset_module, "read_image", spy_read)
    monkeypatch.setattr(Trainer, "fit", spy_fit)
    result = run_training(cfg)
    during = [p for fitting, p in reads if fitting]
    assert during and not any("/query/" in p or "/gallery/" in p for p in during)
    assert any("/query/" in p for fitting, p in reads if not fitting)  # the final evaluation
    best = load_checkpoint(result.run_dir / "checkpoints/best.safetensors")
    assert set(best.meta["metrics"]) == {"val"}
    rows = json.loads((result.run_dir / "metrics.json").read_text())
    assert "val/mAP" in rows[0] and "cc/mAP" not in rows[0] and "cc/mAP" in rows[-1]


@pytest.mark.reliability(
    tried="resume with 2 persistent data workers (also moving augmentation to the device)",
    happens="bit-identical weights to an uninterrupted run",
)
@pytest.mark.parametrize(
    "resumed_with",
    [{}, {"data.augment_on": "device", "data.decode_on": "device", "data.cache": True}],
    ids=["same", "moved"],
)
def test_resume_gives_the_same_weights(
    tiny_synthetic: Path, tmp_path: Path, resumed_with: dict[str, object]
) -> None:
    """With two persistent data workers (the default's kind), 2 epochs in one go equal
    1 epoch then --resume to 2, bit for bit; also when the resumed epoch augments on the
    device and caches decoded files (settings that change no tensor)."""
    extra = {
        "train.epochs": 2,
        "train.max_steps_per_epoch": 2,
        "train.eval_every": 5,
        "data.workers": 2,
    }
    straight = load_config(None, tiny_overrides(tiny_synthetic, tmp_path / "a", **extra))
    run_training(straight)
    first = load_config(
        None, tiny_overrides(tiny_synthetic, tmp_path / "b", **{**extra, "train.epochs": 1})
    )
    run_training(first)
    resumed = load_config(
        None, tiny_overrides(tiny_synthetic, tmp_path / "b", **extra, **resumed_with)
    )
    run_training(resumed, resume=True)
    a = load_checkpoint(tmp_path / "a/tiny/checkpoints/last.safetensors")
    b = load_checkpoint(tmp_path / "b/tiny/checkpoints/last.safetensors")
    assert a.meta["epoch"] == b.meta["epoch"] == 2
    for k, v in a.model.items():
        assert torch.equal(v, b.model[k]), k


@pytest.mark.reliability(
    tried="Ctrl-C mid-epoch, then `--resume`",
    happens="`last` stays at the last complete epoch; the resumed run equals an uninterrupted one",
)
def test_ctrl_c_keeps_last_and_resume_equals_an_uninterrupted_run(
    tiny_synthetic: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ccreid.engine.trainer import Trainer

    extra = {"train.epochs": 2, "train.max_steps_per_epoch": 3, "train.eval_every": 5}
    run_training(load_config(None, tiny_overrides(tiny_synthetic, tmp_path / "a", **extra)))
    cfg = load_config(None, tiny_overrides(tiny_synthetic, tmp_path / "b", **extra))
    original, calls = Trainer.train_step, {"n": 0}

    def interrupted(self, batch):
        calls["n"] += 1
        if calls["n"] == 5:  # epoch 2, step 2
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(Trainer, "train_step", interrupted)
    last = tmp_path / "b/tiny/checkpoints/last.safetensors"
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg)
    assert load_checkpoint(last).meta["epoch"] == 1  # the complete epoch, not mid-epoch weights
    monkeypatch.setattr(Trainer, "train_step", original)
    run_training(cfg, resume=True)
    a = load_checkpoint(tmp_path / "a/tiny/checkpoints/last.safetensors")
    b = load_checkpoint(last)
    for k, v in a.model.items():
        assert torch.equal(v, b.model[k]), k


@pytest.mark.reliability(
    tried="NaN loss",
    happens="stops with the epoch and step; last good checkpoint kept",
)
def test_nan_loss_stops_with_epoch_and_step_and_keeps_last_checkpoint(
    tiny_synthetic: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = load_config(None, tiny_overrides(tiny_synthetic, tmp_path, **{"train.epochs": 2}))
    from ccreid.engine.trainer import StepResult, Trainer

    original = Trainer.train_step
    calls = {"n": 0}

    def poisoned(self, batch):
        calls["n"] += 1
        res = original(self, batch)
        return (
            StepResult(float("nan"), res.identity, res.triplet, res.images)
            if calls["n"] == 5
            else res
        )

    monkeypatch.setattr(Trainer, "train_step", poisoned)
    with pytest.raises(TrainingDiverged, match="epoch 2, step 2"):
        run_training(cfg)
    assert load_checkpoint(tmp_path / "tiny/checkpoints/last.safetensors").meta["epoch"] == 1


@pytest.mark.reliability(
    tried="unwritable output folder",
    happens="fails before training, names the folder (CLI: one line, exit 1)",
    also=("test_cli.py::test_unwritable_output_folder_is_reported",),
)
def test_unwritable_output_fails_before_training(tiny_synthetic: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cfg = load_config(None, tiny_overrides(tiny_synthetic, blocker))
    with pytest.raises(PermissionError, match="cannot write to output folder"):
        run_training(cfg)


@pytest.mark.reliability(
    tried="resume with another number of classes",
    happens="refused, naming both numbers",
)
def test_resume_refuses_another_number_of_classes(tiny_synthetic: Path, tmp_path: Path) -> None:
    cfg = load_config(None, tiny_overrides(tiny_synthetic, tmp_path))
    run = run_training(cfg).run_dir
    ckpt_path = run / "checkpoints/last.safetensors"
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(ckpt_path), "pt") as fh:
        meta = fh.metadata()
    info = json.loads(meta["ccreid"])
    info["num_classes"] = 99
    save_file(load_file(str(ckpt_path)), str(ckpt_path), metadata={"ccreid": json.dumps(info)})
    with pytest.raises(CheckpointError, match="trained for 99 identities"):
        run_training(cfg, resume=True)


@pytest.mark.reliability(
    tried="truncated checkpoint; a pickle with code in it",
    happens="`CheckpointError`; the pickle is never executed",
)
def test_truncated_and_pickled_checkpoints_are_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.safetensors"
    from ccreid.inference import save_checkpoint

    save_checkpoint(good, torch.nn.Linear(2, 2), {"note": "x"})
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(good.read_bytes()[:40])
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(truncated)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError):
        load_checkpoint(evil)
    assert not marker.exists()


@pytest.mark.reliability(
    tried=(
        "unknown config key, wrong type, negative lr, bad sampler, old config version, "
        "`model.mask_source=predicted` without a head"
    ),
    happens="`ConfigError` naming the key (and file)",
    also=("test_config_files_chain_through_base",),
)
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.epoch=3"], "train.epoch"),
        (["train.lr=fast"], "train.lr"),
        (["train.lr=-1"], "train.lr must be a finite number > 0"),
        (["data.sampler=random"], "data.sampler"),
        (["version=0"], "config version 0"),
        (["model.mask_source=predicted"], "model.mask_source=predicted needs model.mask_head"),
        (["model.mask_source=guess"], "model.mask_source must be one of parser, predicted"),
        (["loss.mask_weight=-1"], "loss.mask_weight must be >= 0"),
        (["nonsense"], "key=value"),
    ],
)
def test_config_errors_name_the_key(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, ["data.mask_root=m", *overrides])


@pytest.mark.reliability(
    tried="training with CRE, BSGA or a mask head and no `data.mask_root`",
    happens="`ConfigError` before any folder is made",
)
@pytest.mark.parametrize(
    "overrides",
    [["model.attention=bsga", "train.cre=false"], ["model.attention=none", "train.cre=true"],
     ["model.attention=none", "train.cre=false", "model.mask_head=true"]],
)  # fmt: skip
def test_training_without_masks_is_refused_when_it_reads_them(overrides, tmp_path: Path) -> None:
    cfg = load_config(None, ["data.mask_root=null", f"output_dir={tmp_path}", *overrides])
    with pytest.raises(ConfigError, match="data.mask_root is required"):
        run_training(cfg)
    assert not (tmp_path / cfg.name).exists()


def test_config_files_chain_through_base(tmp_path: Path) -> None:
    cfg = load_config(REPO / "configs/prcc/cre_bsga_tri.yaml", ["train.epochs=3"])
    assert (cfg.data.name, cfg.loss.triplet, cfg.train.epochs, cfg.train.lr) == (
        "prcc",
        "tri",
        3,
        3e-4,
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: " + str(REPO / "configs/base.yaml") + "\nmodel:\n  backbon: resnet18\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: key 'model\.backbon'"):
        load_config(bad)


@pytest.mark.slow
def test_ddp_two_processes_train_and_match_single_process_eval(
    tiny_synthetic: Path, tmp_path: Path
) -> None:
    overrides = tiny_overrides(tiny_synthetic, tmp_path)
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "--master_port", "29531", "-m", "ccreid.cli",
         "train", str(REPO / "configs/base.yaml"), *overrides],
        check=True, env=env, cwd=tmp_path, timeout=600, capture_output=True, text=True,
    )  # fmt: skip
    # Rank 0 alone prints the table and the run folder.
    assert res.stdout.count("| cc |") == 1 and res.stdout.count("run folder:") == 1, res.stdout
    run = tmp_path / "tiny"
    ddp_results = json.loads((run / "results.json").read_text())
    cfg = load_config(None, overrides)
    single = run_evaluation(cfg, run / "checkpoints/last.safetensors")
    # Final evaluation after training in DDP equals one process evaluating the checkpoint.
    for name, r in single.items():
        assert r.metrics() == ddp_results[name]
