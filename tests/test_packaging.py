"""What a user gets from `pip install ccreid`: the configs, and clear words about extras."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ccreid.config import ConfigError, load_config
from ccreid.config.loading import packaged_config_names, resolve_config
from ccreid.errors import MissingExtraError

REPO = Path(__file__).resolve().parents[1]


def test_packaged_configs_are_found_by_name() -> None:
    assert {"base", "prcc/full", "vcclothes/cre_bsga_tri"} <= set(packaged_config_names())
    cfg = load_config("prcc/full", ["train.epochs=2"])
    assert (cfg.data.name, cfg.model.attention, cfg.train.cre, cfg.train.epochs) == (
        "prcc",
        "bsga",
        True,
        2,
    )
    assert resolve_config("prcc/full.yaml") == resolve_config("prcc/full")


def test_an_unknown_config_name_lists_the_packaged_ones() -> None:
    with pytest.raises(ConfigError, match=r"no packaged config is named 'prcc/ful'.*prcc/full"):
        load_config("prcc/ful")


@pytest.mark.reliability(
    tried="`pip install .`",
    happens="ships every config; `ccreid train prcc/full` finds it; a missing extra is named",
    also=(
        "test_packaged_configs_are_found_by_name",
        "test_a_missing_extra_is_named",
    ),
)
@pytest.mark.slow
def test_the_wheel_ships_every_config(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(REPO)], check=True, timeout=300)  # fmt: skip
    wheel = next(tmp_path.glob("ccreid-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n for n in names if n.startswith("ccreid/configs/") and n.endswith(".yaml")}
    in_repo = {f"ccreid/configs/{p.relative_to(REPO / 'src/ccreid/configs').as_posix()}"
               for p in (REPO / "src/ccreid/configs").rglob("*.yaml")}  # fmt: skip
    assert shipped == in_repo and "ccreid/configs/prcc/full.yaml" in shipped


@pytest.mark.parametrize(
    ("module", "call", "extra"),
    [
        ("faiss", lambda: __import__("ccreid.retrieval.index", fromlist=["x"]).make_index(8), "retrieval"),
        ("onnx", lambda: __import__("ccreid.retrieval.export", fromlist=["x"]).export_onnx("a", "b"), "export"),
        ("transformers", lambda: __import__("ccreid.parsing.parser", fromlist=["x"]).SegFormerParser("m"), "parse"),
    ],
)  # fmt: skip
def test_a_missing_extra_is_named(module, call, extra, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    with pytest.raises(MissingExtraError, match=rf"pip install 'ccreid\[{extra}\]'"):
        call()
