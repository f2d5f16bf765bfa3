"""An index folder never loses data: concurrent writers, interrupted saves, an `index build`
onto something that is already there, and file names that are not text."""

from __future__ import annotations

import csv
import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ccreid.fileio
import ccreid.retrieval.index as index_module
from ccreid.fileio import LOCK_NAME
from ccreid.retrieval.index import GalleryIndex
from ccreid.retrieval.service import build_index


def copy_images(tiny_synthetic: Path, folder: Path, start: int, count: int, prefix: str = ""):
    """``count`` gallery images (from the ``start``-th) and their masks, in ``folder`` and
    ``folder``-masks; returns both folders."""
    src = tiny_synthetic / "VC-Clothes" / "gallery"
    masks_src = tiny_synthetic / "masks" / "VC-Clothes" / "gallery"
    images, masks = folder, folder.with_name(folder.name + "-masks")
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    for p in sorted(src.glob("*.jpg"))[start : start + count]:
        shutil.copy(p, images / f"{prefix}{p.name}")
        shutil.copy(masks_src / f"{p.stem}.png", masks / f"{prefix}{p.stem}.png")
    return images, masks


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file (and folder: None) under ``folder``, by relative path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() if p.is_file() else None
            for p in sorted(folder.rglob("*"))}  # fmt: skip


def random_index(n: int, dim: int = 8, seed: int = 0, start: int = 0) -> GalleryIndex:
    rows = [{"path": f"{i}.jpg", "pid": i, "camid": 1, "clothes": 1} for i in range(start, n)]
    feats = np.random.default_rng(seed).normal(size=(len(rows), dim)).astype(np.float32)
    return GalleryIndex.create(feats, rows, {"checkpoint": "m", "fingerprint": "abc"})


# --- 1. two writers at once ---------------------------------------------------------------

# Runs `ccreid ARGS` with embedding held until both racers have loaded the index, so that
# without a lock both would save what they appended to the same old index.
RACER = r"""
import sys, time
from pathlib import Path
import ccreid.retrieval.service as service
barrier, me, other = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
embed = service.embed
def embed_when_both_loaded(*args, **kwargs):
    (barrier / me).touch()
    deadline = time.monotonic() + 300
    while not (barrier / other).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return embed(*args, **kwargs)
service.embed = embed_when_both_loaded
from ccreid.cli import main
sys.argv = ["ccreid", *sys.argv[4:]]
main()
"""


@pytest.mark.reliability(
    tried="two `index add` on one index at once",
    happens=(
        "the second waits for the first's lock (printing its pid and command), re-reads the "
        "index and appends: both batches are kept"
    ),
)
def test_two_index_adds_at_once_keep_both_batches(
    tiny_checkpoint: Path, tiny_synthetic: Path, tmp_path: Path
) -> None:
    base, base_masks = copy_images(tiny_synthetic, tmp_path / "base", 0, 6)
    build_index(tiny_checkpoint, base, tmp_path / "idx", base_masks)
    batches = {name: copy_images(tiny_synthetic, tmp_path / name, start, 3, f"{name}-")
               for name, start in (("a", 6), ("b", 9))}  # fmt: skip
    (tmp_path / "barrier").mkdir()
    racers = []
    for me, other in (("a", "b"), ("b", "a")):
        add = ["index", "add", tmp_path / "idx", batches[me][0], "--mask-root", batches[me][1]]
        racer = [sys.executable, "-c", RACER, tmp_path / "barrier", me, other, *add]
        racers.append(subprocess.Popen(racer, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True))  # fmt: skip
    outputs = [r.communicate(timeout=600) for r in racers]
    assert [r.returncode for r in racers] == [0, 0], outputs
    said = sorted(out.strip().splitlines()[-1] for out, _ in outputs)
    assert said == ["index now holds 12 images", "index now holds 9 images"]
    final = GalleryIndex.load(tmp_path / "idx")
    names = {Path(r["path"]).name.split("-")[0] for r in final.rows}
    assert final.index.ntotal == len(final.rows) == 12 and {"a", "b"} <= names
    assert not (tmp_path / "idx" / LOCK_NAME).exists()


@pytest.mark.reliability(
    tried="`index add` while another process holds the index lock for over 2 minutes",
    happens=(
        "`error: … is being written by another ccreid process (pid N) running `ccreid index add "
        "…` (waited 120 s)`, nothing changed"
    ),
)
def test_a_held_index_lock_names_its_holder_and_changes_nothing(
    cli, tiny_checkpoint: Path, tiny_synthetic: Path, tmp_path: Path, monkeypatch
) -> None:
    base, base_masks = copy_images(tiny_synthetic, tmp_path / "base", 0, 4)
    build_index(tiny_checkpoint, base, tmp_path / "idx", base_masks)
    more, more_masks = copy_images(tiny_synthetic, tmp_path / "more", 4, 2)
    holder = os.getppid()  # a live process: the test runner's parent
    lock = tmp_path / "idx" / LOCK_NAME
    lock.write_text(f"{holder}\n\nccreid index add idx other/\n")
    before = snapshot(tmp_path / "idx")
    monkeypatch.setattr(index_module, "LOCK_WAIT_S", 0.5)
    res = cli("index", "add", tmp_path / "idx", more, "--mask-root", more_masks, expect=1)
    assert f"another ccreid process (pid {holder}) running `ccreid index add idx other/`" in (
        res.err.replace("\n", " ")
    )
    assert "waiting up to" in res.err and "Traceback" not in res.err
    assert snapshot(tmp_path / "idx") == before  # the holder's lock file included


# --- 2. a save that fails part way ----------------------------------------------------------


@pytest.mark.reliability(
    tried="a save that fails after `index.faiss` (disk full, kill)",
    happens=(
        "the new generation's files are removed or ignored; `info.json` still names the previous "
        "complete generation, which loads with its old size"
    ),
)
@pytest.mark.parametrize("failing", [1, 2, 3])
def test_a_save_that_fails_part_way_leaves_the_previous_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: int
) -> None:
    folder = tmp_path / "idx"
    random_index(40).save(folder)
    before = snapshot(folder)
    grown = GalleryIndex.load(folder)
    extra = random_index(50, seed=1, start=40)
    grown.add(extra.index.reconstruct_n(0, 10), extra.rows)
    writes: list[str] = []
    real = ccreid.fileio.atomic_write

    def disk_full_at_one_write(path, *args, **kwargs):
        writes.append(Path(path).name)
        if len(writes) == failing:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(ccreid.fileio, "atomic_write", disk_full_at_one_write)
    monkeypatch.setattr(index_module, "atomic_write", disk_full_at_one_write)
    with pytest.raises(OSError, match="No space left"):
        grown.save(folder)
    monkeypatch.undo()
    again = GalleryIndex.load(folder)
    assert again.index.ntotal == len(again.rows) == 40
    assert snapshot(folder) == before  # no half-written generation left behind
    grown.save(folder)  # the next save works
    assert GalleryIndex.load(folder).index.ntotal == 50


@pytest.mark.reliability(
    tried="an index folder written before generations (`index.faiss` + `meta.csv`)",
    happens="loads as generation 0; the next save upgrades it",
)
def test_an_index_in_the_layout_before_generations_loads_and_grows(tmp_path: Path) -> None:
    import faiss

    folder = tmp_path / "old"
    folder.mkdir()
    feats = np.random.default_rng(0).normal(size=(20, 8)).astype(np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    flat = faiss.IndexFlatIP(8)
    flat.add(feats)
    faiss.write_index(flat, str(folder / "index.faiss"))
    with (folder / "meta.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "pid", "camid", "clothes"])
        writer.writerows([f"{i}.jpg", i, 1, 1] for i in range(20))
    info = {"checkpoint": "m", "fingerprint": "abc", "dim": 8, "kind": "flat", "size": 20}
    (folder / "info.json").write_text(json.dumps(info))
    old = GalleryIndex.load(folder)
    assert old.index.ntotal == 20 and old.search(feats[:1], 1)[0][0].path.endswith("/0.jpg")
    extra = random_index(25, seed=1, start=20)
    old.add(extra.index.reconstruct_n(0, 5), extra.rows)
    old.save(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["index.1.faiss", "info.json", "meta.1.csv"]
    assert GalleryIndex.load(folder).index.ntotal == 25


def test_leftovers_of_a_killed_save_are_ignored_and_then_removed(tmp_path: Path) -> None:
    folder = tmp_path / "idx"
    random_index(30).save(folder)
    (folder / "index.1.faiss").write_bytes(b"half")  # a save killed before its switch
    (folder / ".meta.1.csv.x1y2.tmp").write_text("path,pid")
    loaded = GalleryIndex.load(folder)
    assert loaded.index.ntotal == 30
    loaded.save(folder)  # generation 2: past the leftover's number, which it then removes
    assert sorted(p.name for p in folder.iterdir()) == ["index.2.faiss", "info.json", "meta.2.csv"]
    assert GalleryIndex.load(folder).index.ntotal == 30


def test_a_reader_that_loses_a_race_with_a_save_reads_the_new_generation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "idx"
    random_index(30).save(folder)
    newer = random_index(35, seed=2)
    real = index_module._read_info

    def a_save_right_after_reading_info(path: Path) -> dict:
        info = real(path)
        if info.get("generation", 0) == 0:
            newer.save(folder)  # switches to generation 1 and removes generation 0
        return info

    monkeypatch.setattr(index_module, "_read_info", a_save_right_after_reading_info)
    assert GalleryIndex.load(folder).index.ntotal == 35


# --- 3. index build onto something that is already there --------------------------------------


@pytest.mark.reliability(
    tried="`index build --out` onto an existing index",
    happens=(
        "`error: … already holds an index: pass --overwrite …`, before the model is read; "
        "`--overwrite` replaces it atomically"
    ),
)
def test_index_build_refuses_an_existing_index_before_reading_the_model(
    cli, tiny_checkpoint: Path, tiny_synthetic: Path, tmp_path: Path
) -> None:
    gallery, masks = copy_images(tiny_synthetic, tmp_path / "gallery", 0, 6)
    idx = tmp_path / "idx"
    cli("index", "build", tiny_checkpoint, gallery, "--out", idx, "--mask-root", masks, expect=0)
    before = snapshot(idx)
    missing_model = tmp_path / "no-such-model.safetensors"
    res = cli("index", "build", missing_model, gallery, "--out", idx, "--mask-root", masks,
              expect=1)  # fmt: skip
    assert "already holds an index" in res.err and "--overwrite" in res.err
    assert snapshot(idx) == before
    smaller, smaller_masks = copy_images(tiny_synthetic, tmp_path / "smaller", 0, 3)
    cli("index", "build", tiny_checkpoint, smaller, "--out", idx, "--mask-root", smaller_masks,
        "--overwrite", expect=0)  # fmt: skip
    assert GalleryIndex.load(idx).index.ntotal == 3
    assert sorted(p.name for p in idx.iterdir()) == ["index.1.faiss", "info.json", "meta.1.csv"]


@pytest.mark.reliability(
    tried="`index build --out` = / inside / around the gallery folder",
    happens=(
        "`error: output folder … and image folder … overlap`, the user's `meta.csv` untouched, "
        "nothing created"
    ),
)
@pytest.mark.parametrize("where", ["same", "inside", "around"])
def test_index_build_refuses_out_overlapping_the_gallery(
    cli, tiny_checkpoint: Path, tiny_synthetic: Path, tmp_path: Path, where: str
) -> None:
    gallery, masks = copy_images(tiny_synthetic, tmp_path / "data" / "gallery", 0, 4)
    (gallery / "meta.csv").write_text("my own notes\n")
    before = snapshot(tmp_path / "data")
    out = {"same": gallery, "inside": gallery / "idx", "around": tmp_path / "data"}[where]
    res = cli("index", "build", tiny_checkpoint, gallery, "--out", out, "--mask-root", masks,
              "--overwrite", expect=1)  # fmt: skip
    assert "overlap" in res.err and "Traceback" not in res.err
    assert snapshot(tmp_path / "data") == before  # the user's meta.csv included


@pytest.mark.reliability(
    tried="`index build --out` a non-empty folder that is not an index",
    happens="refused even with `--overwrite`, folder untouched",
)
def test_index_build_refuses_a_folder_that_holds_something_else(
    cli, tiny_checkpoint: Path, tiny_synthetic: Path, tmp_path: Path
) -> None:
    gallery, masks = copy_images(tiny_synthetic, tmp_path / "gallery", 0, 4)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    res = cli("index", "build", tiny_checkpoint, gallery, "--out", out, "--mask-root", masks,
              "--overwrite", expect=1)  # fmt: skip
    assert "is not empty and holds no index" in res.err
    assert snapshot(out) == {"notes.txt": b"keep me"}


# --- 14. a file name that is not UTF-8 ---------------------------------------------------------


@pytest.mark.reliability(
    tried="a gallery file whose name is not UTF-8",
    happens=(
        "`error: image file name b'…bad\\xff.jpg' is not valid UTF-8: rename the file`, no "
        "`--out` left behind"
    ),
)
def test_a_gallery_file_name_that_is_not_utf8_is_named_and_leaves_no_out(
    cli, tiny_checkpoint: Path, tiny_synthetic: Path, tmp_path: Path
) -> None:
    gallery, masks = copy_images(tiny_synthetic, tmp_path / "gallery", 0, 3)
    first = sorted(gallery.iterdir())[0]
    bad = os.fsdecode(b"bad\xff")  # what Python makes of the byte: a lone surrogate
    shutil.copy(first, gallery / f"{bad}.jpg")
    shutil.copy(masks / f"{first.stem}.png", masks / f"{bad}.png")
    out = tmp_path / "out"
    res = cli("index", "build", tiny_checkpoint, gallery, "--out", out, "--mask-root", masks,
              expect=1)  # fmt: skip
    assert r"bad\xff.jpg" in res.err and "not valid UTF-8" in res.err
    assert "Traceback" not in res.err and not out.exists()


def test_a_folder_lock_names_its_holder_and_respects_one_from_another_host(
    tmp_path: Path,
) -> None:
    from ccreid.fileio import FolderLock, LockHolder, RunFolderError

    with FolderLock(tmp_path):
        me = LockHolder.read(tmp_path / LOCK_NAME)
        assert me is not None and me.pid == os.getpid() and me.command
    assert not (tmp_path / LOCK_NAME).exists()
    (tmp_path / LOCK_NAME).write_text("999999999\nanother-host.example\nccreid index add x y\n")
    with pytest.raises(RunFolderError, match=r"\(pid 999999999\) on another-host\.example running"):
        FolderLock(tmp_path).__enter__()  # that pid may be alive there: not taken over
