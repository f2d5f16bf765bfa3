"""Build the report of trained runs from their folders (used by `demo` and `visualize`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ccreid.config import ExperimentConfig
from ccreid.data import InputNormalizer, ReIDData, dataset_of, load_batch
from ccreid.evaluation import EVAL_MODES, metric_name, pairwise_distance, ranked_without_junk
from ccreid.fileio import ensure_writable
from ccreid.inference import TrainedModel, labels_of, load
from ccreid.models import ATTENTIONS, activation_map
from ccreid.models.reid_model import head_and_parser_masks
from ccreid.runfolder import RunFolder
from ccreid.viz.plots import (
    activation_maps,
    attention_maps,
    cre_examples,
    mask_comparison,
    ranked_lists,
    training_curves,
)
from ccreid.viz.report import Report

ModelOf = Callable[[Path], TrainedModel]


def load_run_model(run_dir: Path) -> TrainedModel:
    """The model a report shows for a run (``best`` when there is one, else ``last``)."""
    return load(RunFolder(run_dir).checkpoint("best"), "cpu")


def _rankings(
    model_of: ModelOf, run_dir: Path, data: ReIDData, setting: str, queries: list[int],
    top_k: int = 10,
) -> list[np.ndarray]:  # fmt: skip
    """The top of each query's ranking as the setting's metric sees it (junk left out)."""
    model = model_of(run_dir)
    es = data.eval_sets[setting]
    picked = [es.query[i] for i in queries]
    dist = pairwise_distance(model.embed_samples(picked), model.embed_samples(es.gallery))
    return ranked_without_junk(dist.numpy(), labels_of(picked), labels_of(es.gallery), es.mode,
                               top_k)  # fmt: skip


def _batch(model: TrainedModel, samples: list, masks: bool) -> tuple[torch.Tensor, torch.Tensor,
                                                                      torch.Tensor | None]:  # fmt: skip
    """A handful of samples as uint8, as the model's normalised input, and their masks."""
    prep = model.preprocessing
    raw, body = load_batch(samples, prep.augment, prep.schema, masks=masks)
    return raw, InputNormalizer(prep.mean, prep.std)(raw), body


def _activations(
    model_of: ModelOf, runs: dict[str, Path], samples: list
) -> tuple[list[np.ndarray], dict[str, list[np.ndarray]]]:
    """Each run's last-stage activation map on the same query images (Figure 1)."""
    maps, images = {}, []
    for name, run in runs.items():
        model = model_of(run)
        raw, x, masks = _batch(model, samples, model.needs_mask)
        maps[name] = list(activation_map(model.model, x, masks).numpy())
        images = images or [img.permute(1, 2, 0).numpy() for img in raw]
    return images, maps


def _attention(
    model_of: ModelOf, run_dir: Path, data: ReIDData, count: int
) -> tuple[list, list, list]:
    model = model_of(run_dir)
    raw, x, masks = _batch(model, _test_images(data, count), True)
    with torch.no_grad():
        model.model(x, masks)
    images = [img.permute(1, 2, 0).numpy() / 255.0 for img in raw]
    maps = [a[0] for a in model.model.attention.last_attention]
    return images, [m[0].numpy() for m in masks], maps


def _test_images(data: ReIDData, count: int) -> list:
    gallery = data.eval_sets[data.primary_setting].gallery  # test images, as the report's numbers
    return gallery[:: max(1, len(gallery) // count)][:count]


def _masks(model_of: ModelOf, run_dir: Path, data: ReIDData, count: int) -> tuple[list, list, list]:
    """Test images, the parser's masks and the mask head's, at the stage-2 resolution."""
    model = model_of(run_dir)
    raw, x, masks = _batch(model, _test_images(data, count), True)
    predicted, parsed = head_and_parser_masks(model.model, x, masks)
    images = [img.permute(1, 2, 0).numpy() / 255.0 for img in raw]
    return images, [m[0].numpy() for m in parsed], [m[0].numpy() for m in predicted]


def results_rows(
    results: dict[str, dict[str, dict[str, float]]],
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of runs' results: every setting, every metric they report."""
    columns = [(s, m) for s in EVAL_MODES for m in dict.fromkeys(
        k for res in results.values() for k in res.get(s, {}))]  # fmt: skip
    header = ["variant"] + [f"{s} {metric_name(m)}" for s, m in columns]
    rows = [[name] + [f"{res[s][m]:.1f}" if m in res.get(s, {}) else "-" for s, m in columns]
            for name, res in results.items()]  # fmt: skip
    return header, rows


def build_report(
    runs: dict[str, Path], out_dir: Path, data: ReIDData | None = None, title: str = "ccreid report",
    intro: str = "", notes: list[str] | None = None, num_queries: int = 4,
    extra_tables: list[tuple[str, list[str], list[list[str]]]] | None = None,
    activations: bool = False,
) -> tuple[Path, Path]:  # fmt: skip
    """Results table, training curves, ranked lists (first vs last run), attention, CRE.

    ``extra_tables`` (caption, header, rows) come first, e.g. a demo's mean over seeds."""
    # Every run's files are read (and checked) before any work or output.
    folders = {name: RunFolder(run) for name, run in runs.items()}
    configs = {name: run.config() for name, run in folders.items()}
    results = {name: run.results() for name, run in folders.items()}
    curves = {name: run.metrics(("epoch", "loss")) for name, run in folders.items()}
    ensure_writable(out_dir)
    data = data or dataset_of(next(iter(configs.values())).data)
    report = Report(title, intro, notes=list(notes or []))
    report.tables.extend(extra_tables or [])
    report.tables.append((f"Results (%) of {', '.join(runs)}: {runs[next(iter(runs))].parent}",
                          *results_rows(results)))  # fmt: skip
    report.figures.append(("Training curves", training_curves(
        curves, out_dir / "curves.png", f"{data.primary_setting}/mAP")))  # fmt: skip
    model_of: ModelOf = functools.cache(load_run_model)  # each checkpoint once per report
    report.figures += _ranking_figures(model_of, runs, data, num_queries, out_dir, activations)
    report.figures += _mask_figures(model_of, runs, configs, data, out_dir)
    return report.write(out_dir)


def _ranking_figures(model_of: ModelOf, runs: dict[str, Path], data: ReIDData, num_queries: int,
                     out_dir: Path, activations: bool) -> list[tuple[str, Path]]:  # fmt: skip
    """Ranked lists of the first and last run and, with ``activations``, Figure 1."""
    setting = data.primary_setting
    es = data.eval_sets[setting]
    picks = list(np.linspace(0, len(es.query) - 1, num_queries).astype(int))
    names = list(runs)
    compared = {n: _rankings(model_of, runs[n], data, setting, picks)
                for n in dict.fromkeys([names[0], names[-1]])}  # fmt: skip
    figures = [(
        f"Ranked lists ({setting}, as the metric ranks them: {setting} junk left out): top-10 of "
        f"{' vs '.join(compared)}; green = same identity, '=' same outfit as the query, '~' another",
        ranked_lists([es.query[i] for i in picks], es.gallery, compared, out_dir / "ranked_lists.png"),
    )]  # fmt: skip
    if activations:
        images, maps = _activations(model_of, runs, [es.query[i] for i in picks])
        figures.append((
            f"Activation maps (Figure 1 of the paper): mean of the last stage's channels, "
            f"{setting} queries; one column per model",
            activation_maps(images, maps, out_dir / "activations.png"),
        ))  # fmt: skip
    return figures


def _mask_figures(model_of: ModelOf, runs: dict[str, Path], configs: dict[str, ExperimentConfig],
                  data: ReIDData, out_dir: Path) -> list[tuple[str, Path]]:  # fmt: skip
    """BSGA's attention, the mask head's masks and CRE examples, when the data has masks."""
    if not data.train[0].mask:
        return []
    figures = []
    bsga = [n for n, cfg in configs.items()
            if getattr(ATTENTIONS.get(cfg.model.attention), "needs_mask", False)]  # fmt: skip
    if bsga:
        imgs, masks, maps = _attention(model_of, runs[bsga[-1]], data, 4)
        figures.append((f"BSGA attention A_f ({bsga[-1]})",
                        attention_maps(imgs, masks, maps, out_dir / "attention.png")))  # fmt: skip
    heads = [n for n, cfg in configs.items() if cfg.model.mask_head]
    if heads:
        figures.append((
            f"Body masks of test images: the parser's vs the model's own mask head "
            f"({heads[-1]}), at the resolution BSGA uses them",
            mask_comparison(*_masks(model_of, runs[heads[-1]], data, 4), out_dir / "masks.png"),
        ))  # fmt: skip
    samples = data.train[:: max(1, len(data.train) // 3)][:3]
    schema = next(iter(configs.values())).data.schema
    figures.append(("CRE: original, 7 parts, erased, body mask",
                    cre_examples(samples, out_dir / "cre.png", schema)))  # fmt: skip
    return figures
