"""A model folder worth sharing (``ccreid package``), laid out as a Hugging Face model
repository; ``ccreid.load`` reads it from disk, or from the hub by its id.

::

    <folder>/model.safetensors   the weights and the metadata the loader reads (no optimizer)
    <folder>/config.yaml         the resolved config the model was trained with
    <folder>/preprocessing.json  what the model reads: size, mean/std, masks, flip, precision
    <folder>/metrics.json        test metrics per setting with their protocol, and the
                                 study's numbers and intervals when the run is part of one
    <folder>/README.md           the model card: a metadata header, then a short text

The folder is written beside its place and renamed into it, so it is never half written.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from ccreid.config import ExperimentConfig, to_yaml
from ccreid.errors import InputError, require
from ccreid.evaluation import METRIC_NAMES
from ccreid.fileio import atomic_write_text, current_umask, ensure_parent, read_json
from ccreid.hub import HUB_ID, MODEL_FILE, load, resolve_checkpoint
from ccreid.inference import TrainedModel, load_checkpoint, save_checkpoint
from ccreid.runfolder import RunFolder

CONFIG_FILE = RunFolder.CONFIG  # the same resolved config a run folder keeps
PREPROCESSING_FILE = "preprocessing.json"
METRICS_FILE = "metrics.json"
CARD_FILE = "README.md"
TRAINING_STATE = ("optimizer", "scheduler")  # checkpoint metadata a shared model leaves out
TAGS = ("person-reid", "clothes-changing", "pytorch", "safetensors")
SETTINGS = {
    "general": "standard setting: every true match from another camera counts",
    "sc": "same-clothes setting: only true matches wearing the query's outfit count",
    "cc": "clothes-changing setting: only true matches wearing another outfit count",
}


def package_model(source: str | Path, out: str | Path, overwrite: bool = False,
                  repo_id: str | None = None) -> Path:  # fmt: skip
    """Write the model folder of a run folder or checkpoint to ``out`` (see the module
    docstring) and return it. A run folder gives the weights its test results were
    measured on. ``repo_id`` (owner/name) is the hub id the card tells readers to load."""
    out = Path(out)
    _refuse_existing(out, overwrite)
    if repo_id is not None:
        check_repo_id(repo_id)
    checkpoint, run = model_source(source)
    if out.resolve() in (checkpoint.resolve(), *checkpoint.resolve().parents):
        raise InputError(f"--out {out} holds the model being packaged ({checkpoint}): choose "
                         "another folder")  # fmt: skip
    trained = load(checkpoint, device="cpu")
    meta = {k: v for k, v in load_checkpoint(checkpoint).meta.items() if k not in TRAINING_STATE}
    metrics = metrics_record(trained.config, run, checkpoint)
    prep = preprocessing_record(trained)
    card = model_card(repo_id or out.name, trained.config, metrics, prep,
                      repo_id or out.as_posix())  # fmt: skip

    def write(folder: Path) -> None:
        save_checkpoint(folder / MODEL_FILE, trained.model, meta)
        atomic_write_text(folder / CONFIG_FILE, to_yaml(trained.config))
        atomic_write_text(folder / PREPROCESSING_FILE, json.dumps(prep, indent=1))
        atomic_write_text(folder / METRICS_FILE, json.dumps(metrics, indent=1))
        atomic_write_text(folder / CARD_FILE, card)

    _write_folder(out, write)
    return out


def check_repo_id(repo_id: str) -> None:
    if not HUB_ID.fullmatch(repo_id):
        raise InputError(f"hub id {repo_id!r} must be owner/name (letters, digits, -, _ and .)")


def model_source(source: str | Path) -> tuple[Path, RunFolder | None]:
    """The checkpoint to share and the run folder it comes from (None for a checkpoint
    outside a run folder, or a model folder)."""
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path} does not exist: give a run folder of `ccreid train`, a "
                         "checkpoint or a model folder")  # fmt: skip
    if path.is_dir() and RunFolder(path).is_run() and not (path / MODEL_FILE).is_file():
        run = RunFolder(path)
        evaluated = _evaluated(run)
        return run.checkpoint(evaluated.get("checkpoint", "best") if evaluated else "best"), run
    checkpoint = resolve_checkpoint(path)
    holder = checkpoint.parent
    if holder.name == RunFolder.CHECKPOINTS and RunFolder(holder.parent).is_run():
        return checkpoint, RunFolder(holder.parent)
    return checkpoint, None


def _evaluated(run: RunFolder) -> dict[str, Any] | None:
    """Which weights the run's test results come from (None before they are written)."""
    record = run.read_json(RunFolder.RESULTS)
    evaluated = record.get("evaluated") if record is not None else None
    return evaluated if isinstance(evaluated, dict) else None


def preprocessing_record(trained: TrainedModel) -> dict[str, Any]:
    """What the model reads, from the model's own preprocessing and run settings."""
    return {
        **dataclasses.asdict(trained.preprocessing),
        "pixels": "RGB, resized to height x width with antialiasing, then (x / 255 - mean) / std",
        "needs_mask": trained.needs_mask,
        "mask_source": trained.mask_source,
        "flip": trained.options.flip,
        "precision": trained.config.eval.precision,
    }


def metrics_record(cfg: ExperimentConfig, run: RunFolder | None,
                   checkpoint: Path) -> dict[str, Any]:  # fmt: skip
    """The test metrics of these weights per setting, with the protocol that gave them."""
    evaluated = _evaluated(run) if run is not None else None
    measured = evaluated is not None and (
        run.checkpoint_path(str(evaluated.get("checkpoint"))).resolve() == checkpoint.resolve()
    )
    results = run.results() if measured else {}
    settings = {}
    for name, values in results.items():
        counts = {k: values[k] for k in ("num_queries", "num_gallery") if k in values}
        settings[name] = {
            "meaning": SETTINGS.get(name, "a setting of the dataset's own protocol"),
            "metrics": {k: v for k, v in values.items() if k not in counts}, **counts,
        }  # fmt: skip
    record: dict[str, Any] = {
        "dataset": cfg.data.name,
        "protocol": {
            "units": "percent", "metrics": METRIC_NAMES, "flip": cfg.eval.flip,
            "rerank": cfg.eval.rerank,
            "settings_from": "the dataset's own evaluation protocol (ccreid docs: conventions)",
        },
        "weights": evaluated if measured else None,
        "settings": settings,
    }  # fmt: skip
    study = study_of(run) if run is not None else None
    if study is not None:
        record["study"] = study
    return record


def study_of(run: RunFolder) -> dict[str, Any] | None:
    """This run's config in the study whose folder holds the run (``ccreid study``): its
    per-seed numbers, mean, std and intervals, and the paired differences it is part of."""
    from ccreid.study import STUDY_RECORD

    here = run.path.resolve()
    for folder in list(here.parents)[:3]:  # <study>/seed-<s>/runs/<config>
        path = folder / STUDY_RECORD
        if path.is_file():
            return _study_entry(path, read_json(path, dict, "written by `ccreid study`"),
                                here.relative_to(folder).as_posix())  # fmt: skip
    return None


def _study_entry(path: Path, record: dict[str, Any], run: str) -> dict[str, Any] | None:
    configs, diffs = record.get("configs"), record.get("differences", [])
    if not isinstance(configs, dict) or not isinstance(diffs, list):
        raise InputError(f"{path}: expected 'configs' (an object) and 'differences' (a list), "
                         "as `ccreid study` writes them")  # fmt: skip
    for name, entry in configs.items():
        runs = entry.get("runs", {}) if isinstance(entry, dict) else {}
        seeds = [seed for seed, folder in runs.items() if folder == run]
        if seeds:
            return {
                "config": name, "seed": int(seeds[0]), "seeds": record.get("seeds"),
                "interval": record.get("interval"), "stats_interval": record.get("stats_interval"),
                "stats": entry.get("stats", {}),
                "differences": [d for d in diffs
                                if isinstance(d, dict) and name in (d.get("a"), d.get("b"))],
            }  # fmt: skip
    return None


def model_card(name: str, cfg: ExperimentConfig, metrics: dict[str, Any], prep: dict[str, Any],
               where: str) -> str:  # fmt: skip
    """README.md: the hub's metadata header (YAML between ``---`` lines), then the text."""
    header = OmegaConf.to_yaml(OmegaConf.create(card_header(name, cfg, metrics)))
    sections = [_about(name, cfg, metrics), _usage(where, prep), _results(metrics),
                _study_text(metrics.get("study")), _preprocessing_text(prep)]  # fmt: skip
    return f"---\n{header}---\n\n" + "\n\n".join(s for s in sections if s) + "\n"


def card_header(name: str, cfg: ExperimentConfig, metrics: dict[str, Any]) -> dict[str, Any]:
    """The model card's metadata: library, license, tags, datasets, metrics, model-index."""
    settings = metrics["settings"]
    keys = list(dict.fromkeys(k for s in settings.values() for k in s["metrics"]))
    tags = [*TAGS, cfg.model.backbone, *([cfg.model.attention] if cfg.model.attention != "none"
                                         else []), *(["cre"] if cfg.train.cre else [])]  # fmt: skip
    results = [{
        "task": {"type": "person-re-identification", "name": "Person re-identification"},
        "dataset": {"type": cfg.data.name, "name": cfg.data.name, "config": setting,
                    "split": "test"},
        "metrics": [{"type": k, "value": v, "name": f"{METRIC_NAMES.get(k, k)} ({setting})"}
                    for k, v in entry["metrics"].items()],
    } for setting, entry in settings.items()]  # fmt: skip
    header: dict[str, Any] = {"library_name": "ccreid"}
    license_id = _license()
    if license_id:
        header["license"] = license_id
    header.update({"tags": tags, "datasets": [cfg.data.name], "metrics": keys})
    header["model-index"] = [{"name": name, "results": results}]
    return header


def _license() -> str | None:
    """The license ccreid is distributed under (hub ids are lower case: ``mit``)."""
    try:
        meta = importlib.metadata.metadata("ccreid")
    except importlib.metadata.PackageNotFoundError:
        return None
    value = meta.get("License-Expression") or meta.get("License")
    return value.lower() if value else None


def _about(name: str, cfg: ExperimentConfig, metrics: dict[str, Any]) -> str:
    m, loss = cfg.model, cfg.loss
    weights = metrics.get("weights")
    epochs = cfg.train.epochs
    trained = f"{epochs} epoch{'s' if epochs != 1 else ''}" + (
        f"; these are the `{weights['checkpoint']}` weights, epoch {weights['epoch']}"
        if weights else "")  # fmt: skip
    mask = "its mask head" if m.mask_source == "predicted" else "a human parser"
    attention = ("none" if m.attention == "none" else f"`{m.attention}`" + (
        f", guided by body masks from {mask}" if m.attention == "bsga" else ""))  # fmt: skip
    lines = [
        f"# {name}", "",
        f"A clothes-changing person re-identification model trained with ccreid on "
        f"`{cfg.data.name}` ({trained}). It maps a person crop to an L2-normalised feature; "
        "compare features by cosine similarity (a dot product).", "",
        f"- Backbone: `{m.backbone}` (last stride {m.last_stride}"
        + (", with a mask head" if m.mask_head else "") + ")",
        f"- Attention: {attention}",
        f"- CRE (clothes erasure on training images): {'on' if cfg.train.cre else 'off'}",
        f"- Loss: identity cross-entropy (label smoothing {loss.label_smoothing}) + "
        f"{loss.weight} x `{loss.triplet}` triplet loss (margin {loss.margin}, {loss.distance} "
        "distance)" + (f" + {loss.mask_weight} x mask loss" if m.mask_head else ""),
    ]  # fmt: skip
    return "\n".join(lines)


def _usage(where: str, prep: dict[str, Any]) -> str:
    masks = ', masks=["query.png"]' if prep["needs_mask"] else ""
    note = ("  # a parsing mask per image (`ccreid parse` makes them)" if prep["needs_mask"]
            else "")  # fmt: skip
    return "\n".join([
        "## Load it", "", "```python", "import ccreid", "",
        f'model = ccreid.load("{where}")  # a model folder, or its hub id owner/name',
        f'features = model.embed(["query.jpg"]{masks}){note}', "```", "",
        "`ccreid eval`, `ccreid index` and `ccreid serve` take the same folder as `--model`.",
    ])  # fmt: skip


def _results(metrics: dict[str, Any]) -> str:
    settings = metrics["settings"]
    if not settings:
        return "## Results\n\nNo test results were recorded for these weights."
    keys = list(dict.fromkeys(k for s in settings.values() for k in s["metrics"]))
    protocol = metrics["protocol"]
    rows = [f"| {name} | " + " | ".join(str(entry["metrics"].get(k, "")) for k in keys) + " |"
            for name, entry in settings.items()]  # fmt: skip
    meanings = [f"- `{name}`: {entry['meaning']}" for name, entry in settings.items()]
    return "\n".join([
        "## Results", "",
        f"Test set of `{metrics['dataset']}`, in percent; flip fusion "
        f"{'on' if protocol['flip'] else 'off'}, re-ranking {'on' if protocol['rerank'] else 'off'}.",
        "", "| setting | " + " | ".join(METRIC_NAMES.get(k, k) for k in keys) + " |",
        "|---" * (len(keys) + 1) + "|", *rows, "", *meanings,
    ])  # fmt: skip


def _study_text(study: dict[str, Any] | None) -> str:
    if study is None:
        return ""
    stats = [f"- {key}: {s['mean']:.1f} ± {s['std']:.1f}{_interval(s, '')}"
             for key, s in study["stats"].items() if isinstance(s, dict) and "mean" in s]  # fmt: skip
    diffs = [f"- {d['a']} - {d['b']}, {d['metric']}: {d['mean']:+.1f}{_interval(d, '+')}"
             for d in study["differences"]]  # fmt: skip
    return "\n".join([
        "## Across seeds", "",
        f"These weights are seed {study['seed']} of config `{study['config']}` in a study over "
        f"seeds {study['seeds']}. Mean ± std over seeds [{study['stats_interval']}]:", "", *stats,
        "", f"Paired differences [{study['interval']}]:", "", *diffs,
        "", f"`{METRICS_FILE}` holds every seed's numbers.",
    ])  # fmt: skip


def _interval(entry: dict[str, Any], sign: str) -> str:
    """`` [low, high]``, or nothing where there is no interval (a single seed)."""
    low, high = entry.get("low"), entry.get("high")
    if not isinstance(low, (int, float)) or not isinstance(high, (int, float)):
        return ""
    return f" [{low:{sign}.1f}, {high:{sign}.1f}]"


def _preprocessing_text(prep: dict[str, Any]) -> str:
    if prep["needs_mask"]:
        masks = (f"a body mask per image: a parsing label map (`{prep['schema']}` schema) or a "
                 "binary mask")  # fmt: skip
    else:
        masks = "none" + (" (its mask head predicts them)" if prep["mask_source"] == "predicted"
                          else "")  # fmt: skip
    return "\n".join([
        "## Preprocessing", "",
        f"- Input: {prep['height']} x {prep['width']} (height x width), {prep['pixels']}; "
        f"mean {list(prep['mean'])}, std {list(prep['std'])}",
        f"- Masks: {masks}",
        f"- Flip fusion: {'on' if prep['flip'] else 'off'}; precision: {prep['precision']}",
        "", f"`{PREPROCESSING_FILE}` holds the same; `ccreid.load` applies it.",
    ])  # fmt: skip


def _refuse_existing(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is a file: --out names the model folder to write")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise InputError(f"{out} already exists and is not empty: pass --overwrite to replace "
                         "it, or choose another --out")  # fmt: skip


def _write_folder(out: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` into a folder beside ``out``, then rename it into place (an earlier
    ``out`` is removed only once the new folder stands)."""
    ensure_parent(out)
    tmp = Path(tempfile.mkdtemp(prefix=f"{out.name}.tmp-", dir=out.parent))
    try:
        write(tmp)
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700; a user's folder honours umask
        old = tmp.with_name(tmp.name.replace(".tmp-", ".old-"))
        replaced = out.is_dir() and any(out.iterdir())
        if replaced:
            os.replace(out, old)
        try:
            os.replace(tmp, out)
        except OSError:
            if replaced:
                os.replace(old, out)
            raise
        if replaced:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def push_model_folder(folder: str | Path, repo_id: str) -> str:
    """Upload a model folder to the hub repository ``repo_id`` (created if needed); returns
    the commit's address. Needs a hub token (``hf auth login`` or ``HF_TOKEN``)."""
    check_repo_id(repo_id)
    hub = require("huggingface_hub", "hub", "--push")
    errors = require("huggingface_hub.errors", "hub", "--push")
    api = hub.HfApi()
    try:
        api.create_repo(repo_id, repo_type="model", exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                                 commit_message=f"ccreid package {Path(folder).name}")  # fmt: skip
    except (errors.HfHubHTTPError, OSError) as exc:
        raise InputError(f"could not upload {folder} to the hub as {repo_id}: {exc} (log in "
                         "with `hf auth login` or set HF_TOKEN)") from None  # fmt: skip
    return str(getattr(info, "commit_url", info))
