"""Every CLI command with a missing path, an unwritable output and an unknown dataset:
exit code 1, a first line "error: ..." naming what is at fault, and no traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from cli_helpers import invoke
from conftest import tiny_overrides

from ccreid import cli

CONFIG = Path(__file__).parents[1] / "configs" / "base.yaml"


@pytest.fixture(scope="module")
def places(tiny_synthetic: Path, tiny_checkpoint: Path, tmp_path_factory) -> dict[str, str]:
    """Paths the cases are written with: real inputs, missing ones and a blocked output."""
    from ccreid.retrieval.service import build_index

    tmp = tmp_path_factory.mktemp("cli_robustness")
    (tmp / "file").write_text("a file where a folder is needed")
    image = sorted((tiny_synthetic / "VC-Clothes" / "query").glob("*.jpg"))[0]
    mask = tiny_synthetic / "masks" / "VC-Clothes" / "query" / image.with_suffix(".png").name
    gallery = tiny_synthetic / "VC-Clothes" / "gallery"
    gallery_masks = tiny_synthetic / "masks" / "VC-Clothes" / "gallery"
    index = tmp / "index"
    build_index(tiny_checkpoint, gallery, index, gallery_masks)
    return {
        "ckpt": str(tiny_checkpoint), "run": str(tiny_checkpoint.parents[1]), "data": str(tiny_synthetic),
        "image": str(image), "mask": str(mask), "gallery": str(gallery), "index": str(index),
        "gallery_masks": str(gallery_masks), "query_masks": str(mask.parent),
        "config": str(CONFIG), "missing": str(tmp / "missing"), "blocked": str(tmp / "file" / "out"),
        "tmp": str(tmp),
    }  # fmt: skip


def run_cli(args: list[str], capsys, monkeypatch) -> tuple[int, str]:
    result = invoke(args, monkeypatch, capsys)
    return result.code, result.err


TINY = "{tiny}"  # stands for the tiny-run overrides (dataset, masks, small model)

MISSING_PATH = {
    "train config": (["train", "{missing}.yaml"], "{missing}.yaml"),
    "train dataset root": (["train", "{config}", TINY, "data.root={missing}"], "{missing}"),
    "eval config": (["eval", "{missing}.yaml", "--checkpoint", "{ckpt}"], "{missing}.yaml"),
    "eval checkpoint": (["eval", "{config}", "--checkpoint", "{missing}.st", TINY], "{missing}.st"),
    "extract checkpoint": (["extract", "{missing}.st", "{tmp}/f.npy"], "{missing}.st"),
    "extract config": (
        ["extract", "{ckpt}", "{tmp}/f.npy", "--config", "{missing}.yaml"],
        "{missing}.yaml",
    ),  # fmt: skip
    "data stats root": (["data", "stats", "vcclothes", "{missing}"], "{missing}"),
    "data stats masks": (
        ["data", "stats", "vcclothes", "{data}", "--mask-root", "{missing}"],
        "{missing}",
    ),  # fmt: skip
    "parse root": (["parse", "{missing}", "--out", "{tmp}/masks"], "{missing}"),
    "parse schp folder": (
        ["parse", "{gallery}", "--out", "{tmp}/m2", "--from-schp", "{missing}"],
        "{missing}",
    ),  # fmt: skip
    "masks check images": (["masks", "check", "{missing}", "{data}"], "{missing}"),
    "masks check masks": (["masks", "check", "{data}", "{missing}"], "{missing}"),
    "masks show image": (["masks", "show", "{missing}.jpg", "--mask", "{mask}"], "{missing}.jpg"),
    "masks show mask": (["masks", "show", "{image}", "--mask", "{missing}.png"], "{missing}.png"),
    "visualize run": (["visualize", "{missing}"], "{missing}"),
    "index build checkpoint": (
        ["index", "build", "{missing}.st", "{gallery}", "--out", "{tmp}/i"],
        "{missing}.st",
    ),  # fmt: skip
    "index build gallery": (
        ["index", "build", "{ckpt}", "{missing}", "--out", "{tmp}/i"],
        "{missing}",
    ),  # fmt: skip
    "index add index": (["index", "add", "{missing}", "{image}"], "{missing}"),
    "index add image": (["index", "add", "{index}", "{missing}.jpg"], "{missing}.jpg"),
    "search index": (["search", "{missing}", "{image}"], "{missing}"),
    "search query": (["search", "{index}", "{missing}.jpg"], "{missing}.jpg"),
    "export checkpoint": (["export", "onnx", "{missing}.st", "{tmp}/m.onnx"], "{missing}.st"),
}

UNWRITABLE_OUTPUT = {
    "demo": (["demo", "--out", "{blocked}"], "{blocked}"),
    "synth": (["synth", "{blocked}", "--ids", "2", "--test-ids", "2"], "{blocked}"),
    "train": (["train", "{config}", TINY, "output_dir={blocked}"], "{blocked}"),
    "extract": (["extract", "{ckpt}", "{blocked}/f.npy", "--split", "cc/query"], "{blocked}"),
    "parse": (["parse", "{gallery}", "--out", "{blocked}", "--model", "{missing}"], "{blocked}"),
    "parse from schp": (
        ["parse", "{gallery}", "--out", "{blocked}", "--from-schp", "{gallery}"],
        "{blocked}",
    ),  # fmt: skip
    "masks show": (
        ["masks", "show", "{image}", "--mask", "{mask}", "--out", "{blocked}/s.png"],
        "{blocked}",
    ),  # fmt: skip
    "visualize": (["visualize", "{run}", "--out", "{blocked}"], "{blocked}"),
    "index build": (
        [
            "index",
            "build",
            "{ckpt}",
            "{gallery}",
            "--out",
            "{blocked}",
            "--mask-root",
            "{gallery_masks}",
        ],
        "{blocked}",
    ),  # fmt: skip
    "search plot": (
        [
            "search",
            "{index}",
            "{image}",
            "--plot",
            "{blocked}/r.png",
            "--mask-root",
            "{query_masks}",
        ],
        "{blocked}",
    ),  # fmt: skip
    "export": (["export", "onnx", "{ckpt}", "{blocked}/m.onnx"], "{blocked}"),
}

UNKNOWN_DATASET = {
    "data stats": (["data", "stats", "duke", "{data}"], "unknown dataset 'duke'"),
    "train": (["train", "{config}", TINY, "data.name=duke"], "unknown dataset 'duke'"),
    "eval": (
        ["eval", "{config}", "--checkpoint", "{ckpt}", TINY, "data.name=duke"],
        "unknown dataset 'duke'",
    ),  # fmt: skip
    "extract": (
        ["extract", "{ckpt}", "{tmp}/f.npy", "--config", "{config}", TINY, "data.name=duke"],
        "unknown dataset 'duke'",
    ),  # fmt: skip
}


def expand(args: list[str], places: dict[str, str]) -> list[str]:
    out: list[str] = []
    for a in args:
        if a == TINY:
            out += tiny_overrides(Path(places["data"]), Path(places["tmp"]) / "runs")
        else:
            out.append(a.format(**places))
    return out


def check_one_line_error(args, expected, places, capsys, monkeypatch) -> None:
    code, err = run_cli(expand(args, places), capsys, monkeypatch)
    first = err.splitlines()[0] if err else ""
    assert code == 1, err
    assert first.startswith("error:") and expected.format(**places) in first, err
    assert "Traceback" not in err


@pytest.mark.reliability(
    tried=(
        "CLI: every command with a missing input path (22 cases: configs, checkpoints, dataset "
        "and mask folders, images, index folders)"
    ),
    happens="exit 1, first line `error: ...` naming the path, no traceback",
)
@pytest.mark.parametrize(("args", "expected"), MISSING_PATH.values(), ids=MISSING_PATH.keys())
def test_missing_path(args, expected, places, capsys, monkeypatch) -> None:
    check_one_line_error(args, expected, places, capsys, monkeypatch)


@pytest.mark.reliability(
    tried="CLI: every command that writes, with its output under a file (an unwritable folder)",
    happens=(
        "exit 1 before any long work (model loading, embedding, training, parsing), naming the "
        "folder; nothing created elsewhere"
    ),
)
@pytest.mark.parametrize(
    ("args", "expected"), UNWRITABLE_OUTPUT.values(), ids=UNWRITABLE_OUTPUT.keys()
)
def test_unwritable_output(args, expected, places, capsys, monkeypatch) -> None:
    check_one_line_error(args, expected, places, capsys, monkeypatch)


@pytest.mark.reliability(
    tried=(
        "CLI: a dataset name that does not exist (`data stats`, and `data.name=` for "
        "train/eval/extract)"
    ),
    happens="exit 1, \"unknown dataset 'duke'\" with the known names",
)
@pytest.mark.parametrize(("args", "expected"), UNKNOWN_DATASET.values(), ids=UNKNOWN_DATASET.keys())
def test_unknown_dataset(args, expected, places, capsys, monkeypatch) -> None:
    check_one_line_error(args, expected, places, capsys, monkeypatch)


def test_debug_flag_shows_the_traceback_in_process(places, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", ["ccreid", "--debug", "search", places["missing"], "x.jpg"])
    from ccreid.retrieval import RetrievalIndexError

    with pytest.raises(RetrievalIndexError, match="missing is not an index folder"):
        cli.main()
