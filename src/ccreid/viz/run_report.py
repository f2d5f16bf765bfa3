"""Build the report of trained runs from their folders (used by `demo` and `visualize`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ccreid.config import ExperimentConfig
from ccreid.config import adapter as A
from ccreid.config.loading import read_run_config
from ccreid.data import InputNormalizer, ReIDData, load_batch, load_dataset
from ccreid.engine.builders import inference_options
from ccreid.engine.experiment import load_trained_model, read_metrics, read_results
from ccreid.engine.inference import extract_features, labels_of
from ccreid.engine.probes import head_and_parser_masks
from ccreid.evaluation import pairwise_distance, ranked_without_junk
from ccreid.fileio import ensure_writable
from ccreid.models import ReIDModel, activation_map
from ccreid.viz.plots import (
    activation_maps,
    attention_maps,
    cre_examples,
    mask_comparison,
    ranked_lists,
    training_curves,
)
from ccreid.viz.report import Report

SETTINGS = ("general", "sc", "cc")


def _checkpoint(run_dir: Path) -> Path:
    best = run_dir / "checkpoints" / "best.safetensors"
    return best if best.exists() else run_dir / "checkpoints" / "last.safetensors"


ModelOf = Callable[[Path], tuple[ReIDModel, ExperimentConfig]]


def load_run_model(run_dir: Path) -> tuple[ReIDModel, ExperimentConfig]:
    """The model a report shows for a run (``best`` when there is one, else ``last``)."""
    return load_trained_model(_checkpoint(run_dir), torch.device("cpu"))


def _rankings(
    model_of: ModelOf, run_dir: Path, data: ReIDData, setting: str, queries: list[int],
    top_k: int = 10,
) -> list[np.ndarray]:  # fmt: skip
    """The top of each query's ranking as the setting's metric sees it (junk left out)."""
    model, cfg = model_of(run_dir)
    es = data.eval_sets[setting]
    opts = inference_options(cfg, torch.device("cpu"))
    picked = [es.query[i] for i in queries]
    qf = extract_features(model, picked, opts)
    gf = extract_features(model, es.gallery, opts)
    dist = pairwise_distance(qf, gf).numpy()
    return ranked_without_junk(dist, labels_of(picked), labels_of(es.gallery), es.mode, top_k)


def _activations(
    model_of: ModelOf, runs: dict[str, Path], samples: list
) -> tuple[list[np.ndarray], dict[str, list[np.ndarray]]]:
    """Each run's last-stage activation map on the same query images (Figure 1)."""
    maps, images = {}, []
    for name, run in runs.items():
        model, cfg = model_of(run)
        augment = A.augment_config(cfg)
        raw, masks = load_batch(samples, augment, cfg.data.schema, masks=model.needs_mask)
        maps[name] = list(activation_map(model, InputNormalizer.of(augment)(raw), masks).numpy())
        images = images or [img.permute(1, 2, 0).numpy() for img in raw]
    return images, maps


def _attention(
    model_of: ModelOf, run_dir: Path, data: ReIDData, count: int
) -> tuple[list, list, list]:
    model, cfg = model_of(run_dir)
    augment = A.augment_config(cfg)
    raw, masks = load_batch(_test_images(data, count), augment, cfg.data.schema, masks=True)
    with torch.no_grad():
        model(InputNormalizer.of(augment)(raw), masks)
    images = [img.permute(1, 2, 0).numpy() / 255.0 for img in raw]
    maps = [a[0] for a in model.attention.last_attention]
    return images, [m[0].numpy() for m in masks], maps


def _test_images(data: ReIDData, count: int) -> list:
    gallery = data.eval_sets[data.primary_setting].gallery  # test images, as the report's numbers
    return gallery[:: max(1, len(gallery) // count)][:count]


def _masks(model_of: ModelOf, run_dir: Path, data: ReIDData, count: int) -> tuple[list, list, list]:
    """Test images, the parser's masks and the mask head's, at the stage-2 resolution."""
    model, cfg = model_of(run_dir)
    augment = A.augment_config(cfg)
    raw, masks = load_batch(_test_images(data, count), augment, cfg.data.schema, masks=True)
    predicted, parsed = head_and_parser_masks(model, InputNormalizer.of(augment)(raw), masks)
    images = [img.permute(1, 2, 0).numpy() / 255.0 for img in raw]
    return images, [m[0].numpy() for m in parsed], [m[0].numpy() for m in predicted]


def build_report(
    runs: dict[str, Path], out_dir: Path, data: ReIDData | None = None, title: str = "ccreid report",
    intro: str = "", notes: list[str] | None = None, num_queries: int = 4,
    extra_tables: list[tuple[str, list[str], list[list[str]]]] | None = None,
    activations: bool = False,
) -> tuple[Path, Path]:  # fmt: skip
    """Results table, training curves, ranked lists (first vs last run), attention, CRE.

    ``extra_tables`` (caption, header, rows) come first, e.g. a demo's mean over seeds."""
    # Every run's files are read (and checked) before any work or output.
    configs = {name: read_run_config(run / "config.yaml") for name, run in runs.items()}
    results = {name: read_results(run) for name, run in runs.items()}
    curves = {name: read_metrics(run, ("epoch", "loss")) for name, run in runs.items()}
    ensure_writable(out_dir)
    model_of: ModelOf = functools.cache(load_run_model)  # each checkpoint once per report
    first_cfg = next(iter(configs.values()))
    data = data or load_dataset(**A.dataset_kwargs(first_cfg))
    report = Report(title, intro, notes=list(notes or []))
    report.tables.extend(extra_tables or [])
    header = ["variant"] + [f"{s} {m}" for s in SETTINGS for m in ("top-1", "top-5", "mAP")]
    rows = [
        [name] + [f"{res[s][m]:.1f}" if m in res.get(s, {}) else "-"
                  for s in SETTINGS for m in ("top1", "top5", "mAP")]
        for name, res in results.items()
    ]  # fmt: skip
    report.tables.append(
        (f"Results (%) of {', '.join(runs)}: {runs[next(iter(runs))].parent}", header, rows)
    )
    setting = data.primary_setting
    report.figures.append(
        ("Training curves", training_curves(curves, out_dir / "curves.png", f"{setting}/mAP"))
    )
    es = data.eval_sets[setting]
    picks = list(np.linspace(0, len(es.query) - 1, num_queries).astype(int))
    names = list(runs)
    compared = {
        n: _rankings(model_of, runs[n], data, setting, picks)
        for n in dict.fromkeys([names[0], names[-1]])
    }
    report.figures.append((
        f"Ranked lists ({setting}, as the metric ranks them: {setting} junk left out): top-10 of "
        f"{' vs '.join(compared)}; green = same identity, '=' same outfit as the query, '~' another",
        ranked_lists([es.query[i] for i in picks], es.gallery, compared, out_dir / "ranked_lists.png"),
    ))  # fmt: skip
    if activations:
        queries = [es.query[i] for i in picks]
        images, maps = _activations(model_of, runs, queries)
        report.figures.append((
            f"Activation maps (Figure 1 of the paper): mean of the last stage's channels, "
            f"{setting} queries; one column per model",
            activation_maps(images, maps, out_dir / "activations.png"),
        ))  # fmt: skip
    bsga_runs = [n for n, cfg in configs.items() if A.attention_needs_mask(cfg)]
    if bsga_runs and data.train[0].mask:
        imgs, masks, maps = _attention(model_of, runs[bsga_runs[-1]], data, 4)
        report.figures.append(
            (
                f"BSGA attention A_f ({bsga_runs[-1]})",
                attention_maps(imgs, masks, maps, out_dir / "attention.png"),
            )
        )
    head_runs = [n for n, cfg in configs.items() if cfg.model.mask_head]
    if head_runs and data.train[0].mask:
        report.figures.append((
            f"Body masks of test images: the parser's vs the model's own mask head "
            f"({head_runs[-1]}), at the resolution BSGA uses them",
            mask_comparison(*_masks(model_of, runs[head_runs[-1]], data, 4), out_dir / "masks.png"),
        ))  # fmt: skip
    if data.train[0].mask:
        samples = data.train[:: max(1, len(data.train) // 3)][:3]
        report.figures.append(
            (
                "CRE: original, 7 parts, erased, body mask",
                cre_examples(samples, out_dir / "cre.png", first_cfg.data.schema),
            )
        )
    return report.write(out_dir)
