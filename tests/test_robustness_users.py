"""Second robustness campaign (issue 22): what a careless or hostile user broke.

Each test names the mistake; each failed on the code before the fix."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_overrides
from PIL import Image

from ccreid.config import ConfigError, load_config
from ccreid.engine import run_evaluation, run_training

CONFIG = Path(__file__).parents[1] / "configs" / "base.yaml"


# --- data loss ---------------------------------------------------------------------------


@pytest.mark.reliability(
    tried="`ccreid parse ROOT --out ROOT` (or inside it, or around it)",
    happens="refused before any model is loaded; the dataset's PNGs untouched",
)
@pytest.mark.parametrize("where", ["same", "inside", "around"])
def test_parse_refuses_an_output_that_overlaps_the_images(cli, tmp_path: Path, where: str) -> None:
    images = tmp_path / "data" / "images"
    images.mkdir(parents=True)
    png = images / "0001_c1.png"
    Image.fromarray(np.full((8, 4, 3), 200, np.uint8)).save(png)
    before = png.read_bytes()
    out = {"same": images, "inside": images / "masks", "around": tmp_path / "data"}[where]
    res = cli("parse", images, "--out", out, "--model", "no/such-model", expect=1)
    assert "overlap" in res.err and "Traceback" not in res.err  # refused before any model
    assert png.read_bytes() == before and not (images / "masks").exists()


@pytest.mark.reliability(
    tried="`ccreid train` into a folder that already holds a run",
    happens=(
        "refused, nothing touched; `--resume` continues, `--overwrite` replaces (old TensorBoard "
        "events removed)"
    ),
)
def test_training_refuses_an_existing_run_unless_resume_or_overwrite(
    tiny_synthetic: Path, tmp_path: Path
) -> None:
    from ccreid.fileio import RunFolderError

    cfg = load_config(None, tiny_overrides(tiny_synthetic, tmp_path))
    run = run_training(cfg).run_dir
    first = (run / "checkpoints/last.safetensors").read_bytes()
    events = sorted(p.name for p in (run / "tb").iterdir())
    with pytest.raises(RunFolderError, match="already holds a run.*--resume.*--overwrite"):
        run_training(cfg)
    assert (run / "checkpoints/last.safetensors").read_bytes() == first  # untouched
    run_training(cfg, overwrite=True)
    assert sorted(p.name for p in (run / "tb").iterdir()) != events  # old events removed
    assert len(list((run / "tb").iterdir())) == 1


@pytest.mark.reliability(
    tried="two processes training into one run folder",
    happens=(
        "the second is refused naming the first's pid; a lock left by a dead process is taken over"
    ),
)
def test_a_live_lock_keeps_a_second_process_out_and_a_stale_one_is_taken_over(
    tiny_synthetic: Path, tmp_path: Path
) -> None:
    from ccreid.fileio import LOCK_NAME, RunFolderError

    cfg = load_config(None, tiny_overrides(tiny_synthetic, tmp_path))
    run = tmp_path / "tiny"
    run.mkdir()
    (run / LOCK_NAME).write_text(str(os.getppid()))  # a live process: the test runner's parent
    with pytest.raises(RunFolderError, match=f"another ccreid process \\(pid {os.getppid()}\\)"):
        run_training(cfg)
    (run / LOCK_NAME).write_text("999999999")  # no such process
    run_training(cfg)
    assert not (run / LOCK_NAME).exists()  # released at the end


# --- wrong or partial results ------------------------------------------------------------


@pytest.mark.reliability(
    tried="`ccreid eval` with a config of another image size; `eval.flip=true`",
    happens="the checkpoint's size is used (same numbers); the config's flip is honoured",
)
def test_eval_uses_the_checkpoints_image_size_and_the_configs_flip(
    tiny_synthetic: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    right = load_config(None, tiny_overrides(tiny_synthetic, tmp_path))
    wrong = load_config(None, tiny_overrides(tiny_synthetic, tmp_path, **{"data.height": 128,
                                                                         "data.width": 64}))  # fmt: skip
    a, b = run_evaluation(right, tiny_checkpoint), run_evaluation(wrong, tiny_checkpoint)
    assert {k: r.summary() for k, r in a.items()} == {k: r.summary() for k, r in b.items()}
    flip_cfg = load_config(None, tiny_overrides(tiny_synthetic, tmp_path, **{"eval.flip": True}))
    by_config = run_evaluation(flip_cfg, tiny_checkpoint)
    by_flag = run_evaluation(right, tiny_checkpoint, flip=True)
    assert {k: r.mAP for k, r in by_config.items()} == {k: r.mAP for k, r in by_flag.items()}
    assert {k: r.mAP for k, r in by_config.items()} != {k: r.mAP for k, r in a.items()}


@pytest.mark.reliability(
    tried="`ccreid extract CKPT out data.root=/nonexistent`",
    happens="the override applies (error naming the folder)",
)
def test_extract_applies_overrides_without_a_config(cli, tiny_checkpoint: Path, tmp_path) -> None:
    res = cli("extract", tiny_checkpoint, tmp_path / "f.npy", "data.root=/nonexistent", expect=1)
    assert "/nonexistent" in res.err and not (tmp_path / "f.npy").exists()


@pytest.mark.reliability(
    tried="IVF index, `--top-k 100`",
    happens="always 100 hits; nprobe tuned to `--recall` and stored in `info.json`",
)
def test_ivf_search_returns_k_results_and_stores_its_nprobe(
    tiny_checkpoint: Path, tiny_synthetic: Path, tmp_path: Path
) -> None:
    from ccreid.retrieval.index import GalleryIndex

    rng = np.random.default_rng(0)
    feats = rng.normal(size=(400, 16)).astype(np.float32)
    rows = [{"path": f"g/{i}.jpg", "pid": i % 40, "camid": 1, "clothes": 1} for i in range(400)]
    info = {"checkpoint": "x", "fingerprint": "y", "gallery_root": str(tmp_path)}
    index = GalleryIndex.create(feats, rows, info, "ivf")
    index.tune_nprobe(0.9)
    assert index.info["nprobe"] >= 1 and index.info["measured_recall"] >= 0.9
    index.save(tmp_path / "idx")
    loaded = GalleryIndex.load(tmp_path / "idx")
    hits = loaded.search(rng.normal(size=(5, 16)).astype(np.float32), top_k=100)
    assert [len(h) for h in hits] == [100] * 5
    assert loaded.info["nprobe"] == index.info["nprobe"]


@pytest.mark.reliability(
    tried="`index add` of indexed images; index folder and model moved",
    happens="skipped and counted; search still works with `--checkpoint`",
)
def test_index_add_skips_indexed_images_and_a_moved_index_still_searches(
    cli, tiny_checkpoint: Path, tiny_synthetic: Path, tmp_path: Path
) -> None:
    gallery = tiny_synthetic / "VC-Clothes" / "gallery"
    masks = tiny_synthetic / "masks" / "VC-Clothes" / "gallery"
    model = tmp_path / "model.safetensors"
    shutil.copy(tiny_checkpoint, model)
    cli("index", "build", model, gallery, "--out", tmp_path / "idx", "--mask-root", masks, expect=0)
    size = json.loads((tmp_path / "idx/info.json").read_text())["size"]
    res = cli("index", "add", tmp_path / "idx", gallery, "--mask-root", masks, expect=0)
    assert f"skipped {size} image(s) already in the index" in res.out
    assert json.loads((tmp_path / "idx/info.json").read_text())["size"] == size
    # Move the index folder and the model; search from elsewhere with --checkpoint.
    (tmp_path / "moved").mkdir()
    shutil.move(tmp_path / "idx", tmp_path / "moved/idx")
    shutil.move(model, tmp_path / "moved/model.safetensors")
    query = sorted((tiny_synthetic / "VC-Clothes" / "query").glob("*.jpg"))[0]
    qmasks = tiny_synthetic / "masks" / "VC-Clothes" / "query"
    res = cli("search", tmp_path / "moved/idx", query, "--mask-root", qmasks, "--json",
              "--checkpoint", tmp_path / "moved/model.safetensors", expect=0)  # fmt: skip
    results = json.loads(res.out)[0]["results"]
    assert results and all(Path(r["path"]).is_file() for r in results)


@pytest.mark.reliability(
    tried="`ccreid visualize A/full B/full`",
    happens="two runs, labelled `A/full` and `B/full`",
)
def test_visualize_keeps_runs_with_the_same_folder_name_apart() -> None:
    from ccreid.cli import unique_labels

    assert unique_labels([Path("/x/A/full"), Path("/x/B/full")]) == ["A/full", "B/full"]
    assert unique_labels([Path("/x/A/full"), Path("/y/cre")]) == ["full", "cre"]


def test_export_refuses_an_opset_it_cannot_honour_before_any_work(cli, tmp_path: Path) -> None:
    res = cli("export", "onnx", tmp_path / "missing.safetensors", tmp_path / "m.onnx",
              "--opset", "12", expect=1)  # fmt: skip
    assert "--opset 12 is not supported" in res.err  # not the missing checkpoint: checked first


@pytest.mark.reliability(
    tried="`export onnx --opset N`",
    happens="written at opset N (18 and up), or refused before any work",
    also=("test_export_refuses_an_opset_it_cannot_honour_before_any_work",),
)
def test_export_writes_the_opset_it_was_asked_for(tiny_checkpoint: Path, tmp_path: Path) -> None:
    import onnx

    from ccreid.retrieval.export import export_onnx

    export_onnx(tiny_checkpoint, tmp_path / "m.onnx", opset=20)
    model = onnx.load(str(tmp_path / "m.onnx"))
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [20]


# --- checked too late, or not at all -----------------------------------------------------


@pytest.mark.reliability(
    tried=(
        "`train.step_size=0`, `loss.label_smoothing=2`, `train.lr=inf`, `${nowhere}`, a YAML "
        "list, ... (12 cases)"
    ),
    happens="`ConfigError` naming the key, before a model is built",
    also=("test_a_yaml_list_is_not_a_config",),
)
@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("train.step_size=0", "train.step_size"),
        ("loss.label_smoothing=2", "loss.label_smoothing"),
        ("train.max_steps_per_epoch=0", "train.max_steps_per_epoch"),
        ("loss.weight=-1", "loss.weight"),
        ("train.gamma=-1", "train.gamma"),
        ("data.pad=-10", "data.pad"),
        ("data.random_erasing=-1", "data.random_erasing"),
        ("train.warmup_epochs=-2", "train.warmup_epochs"),
        ("eval.batch_size=0", "eval.batch_size"),
        ("data.height=100000000000000000000", "data.height"),
        ("train.lr=inf", "train.lr"),
        ("train.lr=${nowhere}", "nowhere"),
    ],
)
def test_impossible_values_are_config_errors_naming_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(CONFIG, [override, "data.mask_root=m"])


def test_a_yaml_list_is_not_a_config(tmp_path: Path) -> None:
    bad = tmp_path / "list.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="list.yaml: a config must be a mapping"):
        load_config(bad)


@pytest.mark.reliability(
    tried="`data.options.foo=1`; an evaluation set with an empty query or gallery",
    happens="`DatasetError` naming `data.options` / the set, when the data loads",
    also=("test_an_empty_evaluation_gallery_is_named_when_the_data_loads",),
)
def test_unknown_dataset_options_name_the_key(tiny_synthetic: Path) -> None:
    from ccreid.data import DatasetError, load_dataset

    with pytest.raises(
        DatasetError, match=r"data\.options \['foo'\] are not options of dataset 'prcc'"
    ):
        load_dataset("prcc", tiny_synthetic, foo=1)
    with pytest.raises(ValueError, match=r"data\.options \['foo'\]"):
        load_dataset("vcclothes", tiny_synthetic, foo=1)


def test_an_empty_evaluation_gallery_is_named_when_the_data_loads(tmp_path: Path) -> None:
    from ccreid.data import DatasetError, load_dataset

    root = tmp_path / "VC-Clothes"
    for split, names in {"train": ["0001-1-01-00", "0001-2-01-00", "0002-1-01-00"],
                         "query": ["0003-1-01-00"], "gallery": ["0003-1-02-00"]}.items():  # fmt: skip
        (root / split).mkdir(parents=True)
        for n in names:
            Image.fromarray(np.zeros((8, 4, 3), np.uint8)).save(root / split / f"{n}.jpg")
    with pytest.raises(DatasetError, match="evaluation set 'sc'.*has an empty query"):
        load_dataset("vcclothes", tmp_path)


@pytest.mark.reliability(
    tried="output with the wrong suffix, onto a folder, `--kind bogus`",
    happens="refused before the checkpoint is read; no folder left",
)
def test_outputs_are_checked_before_the_work(cli, tmp_path: Path) -> None:
    """Wrong suffix or a folder as output: refused before the (missing) checkpoint is read."""
    missing = tmp_path / "missing.safetensors"
    res = cli("extract", missing, tmp_path / "feats.txt", expect=1)
    assert "must end in .safetensors or .npy" in res.err
    (tmp_path / "dir.npy").mkdir()
    res = cli("extract", missing, tmp_path / "dir.npy", expect=1)
    assert "is a folder" in res.err
    res = cli(
        "index", "build", missing, tmp_path, "--out", tmp_path / "i", "--kind", "bogus", expect=1
    )
    assert "unknown index kind 'bogus'" in res.err and not (tmp_path / "i").exists()


@pytest.mark.reliability(
    tried="a 250-character file name; a stray `.write-test`",
    happens="atomic writes and write probes still work (temp names are shortened, probes unique)",
)
def test_long_file_names_and_concurrent_probes(tmp_path: Path) -> None:
    from ccreid.fileio import atomic_write_text, ensure_writable

    name = "x" * 250 + ".json"
    atomic_write_text(tmp_path / name, "{}")
    assert (tmp_path / name).read_text() == "{}"
    (tmp_path / ".write-test").mkdir()  # another process's probe, or a leftover
    ensure_writable(tmp_path)


@pytest.mark.reliability(
    tried="files written atomically (checkpoints, reports, indexes)",
    happens="mode follows the umask (0644 under 022), folder synced after the rename",
)
def test_atomically_written_files_honour_the_umask(tmp_path: Path) -> None:
    from ccreid.fileio import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "report.html", "<html>")
    finally:
        os.umask(old)
    assert (tmp_path / "report.html").stat().st_mode & 0o777 == 0o644


# --- one reading of masks, one-line errors ----------------------------------------------


def _palette_mask(path: Path, labels: np.ndarray) -> None:
    """A palette PNG (as SCHP writes) whose colours' luminance is not the label."""
    im = Image.fromarray(labels, mode="P")
    palette = np.zeros((256, 3), np.uint8)
    palette[:18] = np.random.default_rng(0).integers(0, 255, (18, 3))
    im.putpalette(palette.ravel().tolist())
    im.save(path)


@pytest.mark.reliability(
    tried="a palette label PNG (SCHP); RGB, LA or 16-bit masks",
    happens=(
        "read as label indices everywhere; the others refused alike by training and `masks check`"
    ),
    also=("test_colour_or_16_bit_masks_are_refused_the_same_way_everywhere",),
)
def test_palette_masks_are_read_as_label_indices_everywhere(tmp_path: Path) -> None:
    from ccreid.data import Sample
    from ccreid.data.images import read_parts
    from ccreid.parsing import ATR, get_schema, to_parts
    from ccreid.parsing.labelmaps import read_label_map
    from ccreid.parsing.masks import check_masks

    labels = np.zeros((16, 8), np.uint8)
    labels[2:6] = 2  # hair
    labels[6:12] = 4  # upper clothes
    (tmp_path / "img").mkdir()
    (tmp_path / "masks").mkdir()
    Image.fromarray(np.zeros((16, 8, 3), np.uint8)).save(tmp_path / "img/a.jpg")
    _palette_mask(tmp_path / "masks/a.png", labels)
    np.testing.assert_array_equal(read_label_map(tmp_path / "masks/a.png"), labels)
    parts = read_parts(tmp_path / "masks/a.png", ATR, (16, 8))[0].numpy()
    np.testing.assert_array_equal(parts, to_parts(labels, ATR))
    assert check_masks(tmp_path / "img", tmp_path / "masks", get_schema("atr")).complete
    assert Sample  # the same reader serves training, masks check and plots


@pytest.mark.parametrize("mode", ["RGB", "LA", "I;16"])
def test_colour_or_16_bit_masks_are_refused_the_same_way_everywhere(tmp_path: Path, mode) -> None:
    from ccreid.data import ImageReadError
    from ccreid.data.images import read_parts
    from ccreid.parsing import ATR, get_schema
    from ccreid.parsing.masks import check_masks

    (tmp_path / "img").mkdir()
    (tmp_path / "masks").mkdir()
    Image.fromarray(np.zeros((16, 8, 3), np.uint8)).save(tmp_path / "img/a.jpg")
    Image.new(mode, (8, 16)).save(tmp_path / "masks/a.png")
    with pytest.raises(ImageReadError, match=f"mode-{mode} image: expected an 8-bit"):
        read_parts(tmp_path / "masks/a.png", ATR, (16, 8))
    res = check_masks(tmp_path / "img", tmp_path / "masks", get_schema("atr"))
    assert res.bad_labels == [tmp_path / "masks/a.png"] and not res.size_mismatch


@pytest.mark.reliability(
    tried="a 16-bit image; a 7000 x 7000 mask",
    happens="image scaled to 8 bits; mask named as too large, one line",
    also=("test_a_decompression_bomb_mask_is_one_line",),
)
def test_sixteen_bit_images_are_scaled_to_eight(tmp_path: Path) -> None:
    from ccreid.data import read_image

    deep = np.full((8, 4), 40000, np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    image = read_image(tmp_path / "deep.png")
    assert image.dtype.is_floating_point is False and int(image.max()) == 40000 >> 8


def test_a_decompression_bomb_mask_is_one_line(cli, tmp_path: Path) -> None:
    Image.new("L", (7000, 7000)).save(tmp_path / "big.png")
    Image.fromarray(np.zeros((16, 8, 3), np.uint8)).save(tmp_path / "a.jpg")
    res = cli("masks", "show", tmp_path / "a.jpg", "--mask", tmp_path / "big.png",
              "--out", tmp_path / "s.png", expect=1)  # fmt: skip
    assert "too large for a label map" in res.err and "Traceback" not in res.err


@pytest.mark.reliability(
    tried="a corrupt image read by a data worker (`data.workers=2`)",
    happens="one line naming the file, not the worker's traceback",
)
def test_a_corrupt_image_read_by_a_data_worker_is_one_line(
    cli, tiny_synthetic: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(tiny_synthetic, data)
    victim = sorted((data / "VC-Clothes" / "gallery").glob("*.jpg"))[0]
    victim.write_bytes(b"not a jpeg")
    overrides = tiny_overrides(data, tmp_path, **{"data.workers": 2})
    res = cli("eval", CONFIG, "--checkpoint", tiny_checkpoint, *overrides, expect=1)
    first = res.err.strip().splitlines()
    assert (
        len(first) == 1
        and first[0].startswith("error: cannot decode image")
        and victim.name in first[0]
    )


@pytest.mark.reliability(
    tried=(
        "`parse --from-schp` with an unreadable image; `--size 0`; a looping image link; a "
        "manifest with a BOM"
    ),
    happens="listed, skipped, counted; usage error; named; read",
    also=(
        "test_parse_size_zero_is_a_usage_error",
        "test_a_looping_image_link_is_named",
        "test_a_manifest_saved_with_a_bom_is_read",
    ),
)
def test_schp_import_lists_skips_and_counts_unreadable_images(cli, tmp_path: Path) -> None:
    images, src = tmp_path / "images", tmp_path / "schp"
    images.mkdir()
    src.mkdir()
    for name in ("a", "b"):
        Image.fromarray(np.zeros((16, 8, 3), np.uint8)).save(images / f"{name}.jpg")
        Image.fromarray(np.zeros((16, 8), np.uint8)).save(src / f"{name}.png")
    (images / "c.jpg").write_bytes(b"garbage")
    Image.fromarray(np.zeros((16, 8), np.uint8)).save(src / "c.png")
    res = cli("parse", images, "--out", tmp_path / "out", "--from-schp", src, expect=1)
    assert "wrote 2 masks" in res.out and "c.jpg" in res.out and "1 failed" in res.out


def test_a_manifest_saved_with_a_bom_is_read(tmp_path: Path) -> None:
    from ccreid.data import load_dataset

    rows = ["path,pid,camid,clothes,split"]
    for i, (pid, cam, clo, split) in enumerate([(1, 1, 1, "train"), (1, 2, 2, "train"),
            (2, 1, 1, "train"), (2, 2, 2, "train"), (3, 1, 1, "query"), (3, 2, 2, "gallery")]):  # fmt: skip
        Image.fromarray(np.zeros((8, 4, 3), np.uint8)).save(tmp_path / f"{i}.jpg")
        rows.append(f"{i}.jpg,{pid},{cam},{clo},{split}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n", encoding="utf-8-sig")
    data = load_dataset("manifest", tmp_path)
    assert data.num_train_pids == 2


def test_parse_size_zero_is_a_usage_error(cli, tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    res = cli("parse", tmp_path / "img", "--out", tmp_path / "m", "--size", "0", expect=2)
    assert "--size must be >= 32" in res.err


def test_a_looping_image_link_is_named(tmp_path: Path) -> None:
    from ccreid.errors import InputError
    from ccreid.imagefiles import list_images

    (tmp_path / "x.jpg").symlink_to(tmp_path / "x.jpg")
    with pytest.raises(InputError, match="x.jpg is a link that leads to no file"):
        list_images(tmp_path)


def test_a_mask_model_without_masks_names_the_config_key(
    cli, tiny_synthetic: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    overrides = tiny_overrides(tiny_synthetic, tmp_path, **{"data.mask_root": "null",
                                                            "model.attention": "none",
                                                            "train.cre": False})  # fmt: skip
    res = cli("eval", CONFIG, "--checkpoint", tiny_checkpoint, *overrides, expect=1)
    assert "set data.mask_root=" in res.err and "mask_policy" not in res.err
