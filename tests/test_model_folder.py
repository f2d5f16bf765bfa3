"""`ccreid package` writes a model folder worth sharing (weights, config, preprocessing,
metrics with their protocol, a model card with the hub's metadata header), and
`ccreid.load` takes that folder, and its hub id from the local hub cache."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import torch
import yaml

import ccreid
from ccreid.errors import InputError, MissingExtraError
from ccreid.inference import load_checkpoint
from ccreid.modelfolder import package_model
from ccreid.runfolder import RunFolder

REPO = Path(__file__).resolve().parents[1]
FILES = {"model.safetensors", "config.yaml", "preprocessing.json", "metrics.json", "README.md"}
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def run(tiny_checkpoint: Path) -> Path:
    return tiny_checkpoint.parent.parent


@pytest.fixture(scope="module")
def folder(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return package_model(run, tmp_path_factory.mktemp("shared") / "tiny-model")


@pytest.fixture(scope="module")
def images(tiny_synthetic: Path) -> tuple[list[Path], list[Path]]:
    files = sorted((tiny_synthetic / "VC-Clothes" / "query").glob("*.jpg"))[:4]
    masks = [tiny_synthetic / "masks/VC-Clothes/query" / f.with_suffix(".png").name for f in files]
    return files, masks


def _results(run: Path) -> dict:
    """The run's test metrics as ``ccreid train`` wrote them (without ``evaluated``)."""
    raw = json.loads((run / "results.json").read_text())
    return {k: v for k, v in raw.items() if k != "evaluated"}


def _card_header(folder: Path) -> dict:
    text = (folder / "README.md").read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_the_folder_holds_weights_config_preprocessing_metrics_and_a_card(folder: Path) -> None:
    assert {p.name for p in folder.iterdir()} == FILES
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no temporary left
    shared = load_checkpoint(folder / "model.safetensors")
    assert shared.optimizer is None and "scheduler" not in shared.meta  # no training state
    assert "config" in shared.meta and "num_classes" in shared.meta


def test_the_card_header_is_yaml_with_the_hub_keys_and_the_runs_metrics(folder, run) -> None:
    header = _card_header(folder)
    declared = re.search(r'^license = "(.+)"$', (REPO / "pyproject.toml").read_text(), re.M)[1]
    assert header["library_name"] == "ccreid" and header["license"] == declared.lower()
    assert {"person-reid", "clothes-changing", "bsga", "cre"} <= set(header["tags"])
    assert header["datasets"] == ["vcclothes"]
    results = _results(run)
    assert set(header["metrics"]) == {k for m in results.values() for k in m}
    [entry] = header["model-index"]
    card = {r["dataset"]["config"]: {m["type"]: m["value"] for m in r["metrics"]}
            for r in entry["results"]}  # fmt: skip
    assert card == results
    body = (folder / "README.md").read_text().split("---\n", 2)[2]
    assert f'ccreid.load("{folder.as_posix()}")' in body and "resnet18" in body


def test_metrics_json_holds_the_results_with_their_protocol(folder: Path, run: Path) -> None:
    metrics = json.loads((folder / "metrics.json").read_text())
    evaluated = json.loads((run / "results.json").read_text())["evaluated"]
    assert metrics["dataset"] == "vcclothes" and metrics["weights"] == evaluated
    assert {k: s["metrics"] for k, s in metrics["settings"].items()} == _results(run)
    assert "outfit" in metrics["settings"]["cc"]["meaning"]
    assert metrics["protocol"]["flip"] is False and "study" not in metrics


def test_preprocessing_json_is_what_the_model_reads(folder: Path, tiny_checkpoint: Path) -> None:
    model = ccreid.load(tiny_checkpoint, device="cpu")
    prep = json.loads((folder / "preprocessing.json").read_text())
    p = model.preprocessing
    assert (prep["height"], prep["width"], prep["schema"]) == (p.height, p.width, p.schema)
    assert prep["mean"] == list(p.mean) and prep["std"] == list(p.std)
    assert prep["needs_mask"] is True and prep["mask_source"] == "parser"
    assert prep["flip"] is False and prep["precision"] == model.config.eval.precision


def test_the_folder_embeds_exactly_as_the_checkpoint(folder, tiny_checkpoint, images) -> None:
    files, masks = images
    shared = ccreid.load(folder, device="cpu")
    original = ccreid.load(tiny_checkpoint, device="cpu")
    assert shared.checkpoint == folder / "model.safetensors"
    assert torch.equal(shared.embed(files, masks), original.embed(files, masks))


@pytest.mark.reliability(
    tried="`ccreid package RUN -o DIR` where DIR already holds files",
    happens="refused, naming DIR and --overwrite; DIR is untouched; --overwrite replaces it whole",
)
def test_an_existing_folder_is_refused_without_overwrite(cli, run: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    res = cli("package", run, "-o", out, expect=1)
    assert f"{out} already exists and is not empty" in res.err and "--overwrite" in res.err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    res = cli("package", run, "-o", out, "--overwrite", "--json", expect=0)
    assert json.loads(res.out) == {"folder": str(out)}
    assert {p.name for p in out.iterdir()} == FILES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    res = cli("package", out, "-o", out, "--overwrite", expect=1)  # never over its own source
    assert "holds the model being packaged" in res.err and (out / "model.safetensors").is_file()


def test_push_uploads_the_folder_only_when_asked(cli, run, tmp_path, monkeypatch) -> None:
    import huggingface_hub

    calls: list[tuple[str, dict]] = []

    class FakeApi:
        def create_repo(self, repo_id: str, **kwargs: object) -> None:
            calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))

        def upload_folder(self, **kwargs: object) -> str:
            calls.append(("upload_folder", kwargs))
            return "https://hub.example/commit/1"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    cli("package", run, "-o", tmp_path / "plain", expect=0)
    assert calls == []
    res = cli("package", run, "-o", tmp_path / "pushed", "--push", "owner/tiny", "--json", expect=0)
    upload = dict(calls)["upload_folder"]
    assert upload["folder_path"] == str(tmp_path / "pushed") and upload["repo_id"] == "owner/tiny"
    assert json.loads(res.out)["pushed"] == "https://hub.example/commit/1"
    assert 'ccreid.load("owner/tiny")' in (tmp_path / "pushed" / "README.md").read_text()


@pytest.fixture()
def offline_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty hub cache in tmp_path, offline (read when ccreid asks, as after import)."""
    from huggingface_hub import constants

    cache = tmp_path / "hf" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def test_a_hub_id_loads_from_the_offline_cache(offline_cache, folder, tiny_checkpoint,
                                               images) -> None:  # fmt: skip
    repo = offline_cache / "models--owner--tiny"
    shutil.copytree(folder, repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    model = ccreid.load("owner/tiny", device="cpu")
    assert model.checkpoint == repo / "snapshots" / COMMIT / "model.safetensors"
    files, masks = images
    original = ccreid.load(tiny_checkpoint, device="cpu")
    assert torch.equal(model.embed(files, masks), original.embed(files, masks))


@pytest.mark.reliability(
    tried='`ccreid.load("owner/name")` offline, for a hub id that is not in the cache',
    happens="one clear error: not a local path, not in the hub cache, and how to get it",
)
def test_a_hub_id_missing_from_the_cache_says_how_to_get_it(offline_cache: Path) -> None:
    with pytest.raises(InputError, match=r"owner/absent is not a local path.*not in the hub "
                       r"cache.*HF_HUB_OFFLINE.*hf download owner/absent"):  # fmt: skip
        ccreid.load("owner/absent", device="cpu")


def test_without_huggingface_hub_a_hub_id_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'ccreid\[hub\]'"):
        ccreid.load("owner/tiny", device="cpu")


def test_a_run_of_a_study_carries_the_studys_intervals(run: Path, tmp_path: Path) -> None:
    from ccreid.study import write_study

    study = tmp_path / "study"
    runs = {s: {n: RunFolder(study / f"seed-{s}" / "runs" / n) for n in ("a", "b")} for s in (0, 1)}
    for seed, by_name in runs.items():
        for name, folder in by_name.items():
            skip = None if (seed, name) == (0, "a") else shutil.ignore_patterns("checkpoints")
            shutil.copytree(run, folder.path, ignore=skip)
    record, _ = write_study(study, runs)
    out = package_model(study / "seed-0" / "runs" / "a", tmp_path / "model")
    shared = json.loads((out / "metrics.json").read_text())["study"]
    assert (shared["config"], shared["seed"], shared["seeds"]) == ("a", 0, [0, 1])
    assert shared["stats"] == record["configs"]["a"]["stats"]
    assert shared["differences"] == record["differences"] and shared["differences"]
    card = (out / "README.md").read_text()
    assert "## Across seeds" in card and "- b - a, cc/mAP" in card
