"""Fault injection: SIGKILL while writing, a full disk. Nothing already written is lost."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_overrides
from PIL import Image

from ccreid.config import load_config
from ccreid.engine import run_training
from ccreid.inference import load_checkpoint, save_checkpoint


def _run_until(script: str, sentinel: Path, tmp_path: Path, timeout: float = 300) -> None:
    """Start ``script`` in a child, wait until it creates ``sentinel``, then SIGKILL it."""
    path = tmp_path / "child.py"
    path.write_text(script)
    child = subprocess.Popen([sys.executable, str(path)], cwd=Path(__file__).parent)
    deadline = time.monotonic() + timeout
    while not sentinel.exists():
        assert child.poll() is None, "the child ended before reaching the write"
        assert time.monotonic() < deadline, "the child never reached the write"
        time.sleep(0.2)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()


@pytest.mark.reliability(
    tried="SIGKILL while a checkpoint is being written, then `--resume`",
    happens="the previous complete `last` loads; training continues to the end",
)
@pytest.mark.slow
def test_sigkill_while_writing_a_checkpoint_then_resume(
    tiny_synthetic: Path, tmp_path: Path
) -> None:
    overrides = tiny_overrides(
        tiny_synthetic, tmp_path, **{"train.epochs": 2, "train.max_steps_per_epoch": 2}
    )
    sentinel = tmp_path / "writing"
    _run_until(
        f"""
import time
from ccreid.config import load_config
from ccreid.engine import run_training
from ccreid.inference import checkpoint as C
real, calls = C.save_file, []
def hanging_save(tensors, path, metadata=None):
    calls.append(path)
    if len(calls) == 2:  # epoch 1 wrote last (no validation set: no best); hang in epoch 2's
        open(path, "wb").write(b"half a checkpoint")
        open({str(sentinel)!r}, "w").close()
        time.sleep(600)
    real(tensors, path, metadata=metadata)
C.save_file = hanging_save
run_training(load_config(None, {overrides!r}))
""",
        sentinel,
        tmp_path,
    )
    last = tmp_path / "tiny/checkpoints/last.safetensors"
    assert load_checkpoint(last).meta["epoch"] == 1  # the complete file of epoch 1 survived
    run_training(load_config(None, overrides), resume=True)
    assert load_checkpoint(last).meta["epoch"] == 2


@pytest.mark.reliability(
    tried="SIGKILL of `ccreid parse` mid-write, then rerun",
    happens=(
        "no truncated mask under a final name; rerun removes the partial file and completes; "
        "`masks check` passes"
    ),
)
def test_sigkill_during_parse_leaves_no_truncated_mask(tmp_path: Path) -> None:
    from test_parsing_parser import tiny_segformer

    from ccreid.parsing import ATR

    images = tmp_path / "images"
    images.mkdir()
    for i in range(4):
        Image.fromarray(np.full((40, 20, 3), 40 * i, np.uint8)).save(images / f"{i}.jpg")
    model = tiny_segformer(tmp_path / "model", ATR.labels)
    out, sentinel = tmp_path / "masks", tmp_path / "writing"
    _run_until(
        f"""
import sys, time
from PIL import Image
real, calls = Image.Image.save, []
def hanging_save(self, fp, *args, **kwargs):
    calls.append(fp)
    if len(calls) == 3:
        open(fp, "wb").write(b"\\x89PNG half")
        open({str(sentinel)!r}, "w").close()
        time.sleep(600)
    return real(self, fp, *args, **kwargs)
Image.Image.save = hanging_save
from ccreid import cli
sys.argv = ["ccreid", "parse", {str(images)!r}, "--out", {str(out)!r}, "--model", {str(model)!r},
            "--size", "32", "--batch-size", "1"]
cli.main()
""",
        sentinel,
        tmp_path,
    )
    finished = sorted(p.name for p in out.glob("*.png"))
    assert finished == ["0.png", "1.png"]  # the third mask never got its final name
    for name in finished:
        with Image.open(out / name) as im:
            im.load()
    assert list(out.glob(".*.partial"))  # the killed write's temp file
    subprocess.run([sys.executable, "-m", "ccreid.cli", "parse", str(images), "--out", str(out), "--model",
                    str(model), "--size", "32"], check=True, capture_output=True)  # fmt: skip
    assert sorted(p.name for p in out.glob("*.png")) == ["0.png", "1.png", "2.png", "3.png"]
    assert not list(out.glob(".*.partial"))
    res = subprocess.run([sys.executable, "-m", "ccreid.cli", "masks", "check", str(images), str(out)],
                         capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 0, res.stdout


@pytest.mark.reliability(
    tried="disk full while writing a checkpoint",
    happens='`OSError` "No space left on device"; previous file byte-identical; no temp file left',
)
def test_full_disk_fails_clearly_and_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch
) -> None:
    from ccreid.inference import checkpoint as C

    path = tmp_path / "last.safetensors"
    save_checkpoint(path, torch.nn.Linear(3, 3), {"epoch": 1})
    before = path.read_bytes()

    def no_space(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device", filename)

    monkeypatch.setattr(C, "save_file", no_space)
    with pytest.raises(OSError, match="No space left on device"):
        save_checkpoint(path, torch.nn.Linear(3, 3), {"epoch": 2})
    assert path.read_bytes() == before
    assert load_checkpoint(path).meta["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]  # no temp file left
