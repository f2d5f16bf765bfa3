"""`ccreid demo`: the paper's ablation end to end on the built-in synthetic dataset."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from ccreid.config import ExperimentConfig, apply_overrides, load_config
from ccreid.data import ReIDData, load_dataset
from ccreid.errors import InputError
from ccreid.fileio import RunFolderError, atomic_write_text, ensure_writable
from ccreid.inference import describe_cpu
from ccreid.inference import load as load_checkpoint_file
from ccreid.inference.features import mask_head_iou
from ccreid.runfolder import RunFolder
from ccreid.study import Study, differences, run_study, slug, study_tables, summarise, write_study
from ccreid.study.tables import format_mean_std, seed_count
from ccreid.study.tables import settings as study_settings
from ccreid.synthetic import SyntheticConfig, drawing_stamp, drawn_stamp, generate
from ccreid.viz.run_report import build_report

__all__ = ["BUDGETS", "VARIANTS", "Budget", "run_demo", "slug", "summarise", "summary_tables"]

# Table 4 rows: (name, CRE, attention); all use L_id + L_BCTri.
VARIANTS = (
    ("baseline", False, "none"),
    ("+CRE", True, "none"),
    ("+BSGA", False, "bsga"),
    ("CRE+BSGA", True, "bsga"),
)


@dataclass(frozen=True)
class Budget:
    train_ids: int
    test_ids: int
    height: int
    width: int
    epochs: int
    step_size: int
    eval_every: int
    queries_per_camera: int = 2
    test_images_per_camera: int = 5
    images_per_camera: int = 4  # training images of each (identity, camera)
    backdrop_places: int = 0  # shared backdrop places per camera (0: one per tracklet)
    backbone: str = "resnet18"

    def synthetic(
        self, seed: int, scenes: str = "cluttered", video: bool = False
    ) -> SyntheticConfig:
        return SyntheticConfig(
            video=video,
            train_ids=self.train_ids, test_ids=self.test_ids, height=self.height,
            width=self.width, queries_per_camera=self.queries_per_camera,
            test_images_per_camera=self.test_images_per_camera, seed=seed, scenes=scenes,
            images_per_camera=self.images_per_camera, backdrop_places=self.backdrop_places,
        )  # fmt: skip


# The fast budget's recipe was found by experiments on seeds 100-102 (docs/results.md): a
# half-width ResNet-18 trained 20 epochs on 110 identities of 2 images per camera, with 4
# shared backdrop places per camera. "full" trains the same twice as long.
BUDGETS = {
    "fast": Budget(train_ids=110, test_ids=125, height=128, width=64, epochs=20, step_size=15,
                   eval_every=20, images_per_camera=2, backdrop_places=4,
                   backbone="resnet18_w32"),
    "full": Budget(train_ids=110, test_ids=125, height=128, width=64, epochs=40, step_size=30,
                   eval_every=40, images_per_camera=2, backdrop_places=4,
                   backbone="resnet18_w32"),
    "tiny": Budget(train_ids=12, test_ids=6, height=64, width=32, epochs=1, step_size=1,
                   eval_every=1, queries_per_camera=1, test_images_per_camera=2),  # tests
}  # fmt: skip


# Video mode: clips of every frame of the short synthetic tracklets.
VIDEO_OVERRIDES = ["data.name=ccvid", "data.seq_len=4", "data.stride=1"]


def demo_overrides(budget: Budget, video: bool = False) -> list[str]:
    """The demo's recipe on top of the schema's defaults (the same for every seed)."""
    return [
        "data.name=vcclothes", f"data.height={budget.height}", f"data.width={budget.width}",
        "data.pad=4", "data.sampler=clothes", "data.workers=2", f"model.backbone={budget.backbone}",
        "model.weights=none", "eval.precision=auto", f"train.epochs={budget.epochs}",
        f"train.step_size={budget.step_size}", f"train.eval_every={budget.eval_every}",
        "train.lr=1e-3", "eval.batch_size=256", *(VIDEO_OVERRIDES if video else []),
    ]  # fmt: skip


def seed_data(out: Path, seed: int) -> list[str]:
    """Where a seed's synthetic set lies: one per seed, beside that seed's runs."""
    data = out / f"seed-{seed}" / "data"
    return [f"data.root={data}", f"data.mask_root={data / 'masks'}"]


def run_demo(
    out: str | Path = "runs/demo",
    budget: str | Budget = "fast",
    seed: int = 0,
    console: Console | None = None,
    seeds: int = 1,
    overrides: list[str] | None = None,
    overwrite: bool = False,
    scenes: str = "cluttered",
    variants: list[str] | None = None,
    video: bool = False,
    resume: bool = False,
) -> Path:
    """For each of ``seeds`` seeds (``seed``, ``seed + 1``, ...): draw the synthetic set,
    train and evaluate the four variants (or the named ``variants``). Then write one report
    with mean and spread. An earlier demo in ``out`` is replaced only with ``overwrite``,
    or continued with ``resume``: its finished runs are kept, a stopped one resumes from
    its last complete epoch, and runs it lacks (other seeds or variants) are trained.
    ``budget`` is a name in ``BUDGETS`` or a `Budget` (a recipe experiment).

    A run with a mask head (``model.mask_head=true`` in ``overrides``) is evaluated a
    second time with its own predicted masks (``predicted_masks.json`` in its folder).
    ``video``: the synthetic set's tracklets are short videos (CCVID layout), trained as
    clips with temporal average pooling and evaluated tracklet against tracklet."""
    console = console or Console(markup=False, highlight=False)
    chosen = _chosen_variants(variants)
    out = Path(out)
    _check_out(out, overwrite, resume)
    b = BUDGETS[budget] if isinstance(budget, str) else budget
    if resume:
        _check_same_draws(
            out, {s: b.synthetic(s, scenes, video) for s in range(seed, seed + seeds)}
        )
    start = time.perf_counter()
    configs = {name: load_config(None, [*demo_overrides(b, video), f"train.cre={cre}",
                                        f"model.attention={attention}", *(overrides or [])])
               for name, cre, attention in chosen}  # fmt: skip
    study = Study(
        out, configs, tuple(range(seed, seed + seeds)), seed_paths=lambda s: seed_data(out, s)
    )
    drawn: dict[int, ReIDData] = {}

    def data_for(s: int) -> ReIDData:
        drawn[s] = _draw(out, s, b.synthetic(s, scenes, video), video, console)
        return drawn[s]

    by_seed = run_study(study, console, overwrite=not resume, data_for=data_for,
                        after_run=lambda *run: _after_run(*run, console))  # fmt: skip
    elapsed = time.perf_counter() - start
    summary = summarise(by_seed)
    intro = _intro(b, next(iter(configs.values())), video, scenes, overrides or [],
                   list(by_seed), elapsed, resume)  # fmt: skip
    page = _publish(out, intro, by_seed, drawn[seed], summary)
    _print_table(console, summary)
    console.print(Text(f"report: {page} and {page.with_suffix('.md')}  "
                       f"({(time.perf_counter() - start) / 60:.1f} min in all)"))  # fmt: skip
    return page


def _check_out(out: Path, overwrite: bool, resume: bool) -> None:
    """Refuse to write over an earlier demo unless told to replace or continue it."""
    if overwrite and resume:
        raise InputError("choose one of overwrite (start again) and resume (continue)")
    ensure_writable(out)
    if resume:
        return
    earlier = sorted(p.name for p in out.glob("seed-*/runs"))
    if (earlier or (out / "summary.json").exists()) and not overwrite:
        raise RunFolderError(
            f"{out} already holds a demo ({', '.join(earlier) or 'summary.json'}): pass "
            "--overwrite to replace it, --resume to continue it, or choose another --out"
        )


def _check_same_draws(out: Path, planned: dict[int, SyntheticConfig]) -> None:
    """Refuse to continue a demo whose runs were trained on other synthetic data (another
    budget's sizes, scenes or backdrops): its finished runs would be mixed with new ones."""
    for seed, cfg in planned.items():
        drawn = drawn_stamp(out / f"seed-{seed}" / "data")
        if drawn is None or not any((out / f"seed-{seed}" / "runs").glob("*")):
            continue
        wanted = drawing_stamp(cfg)
        changed = sorted(k for k in {*drawn, *wanted} if drawn.get(k) != wanted.get(k))
        if changed:
            raise InputError(
                f"{out} was trained on another synthetic set for seed {seed} (it differs in "
                f"{', '.join(changed)}): continue it with the budget and scenes it was started "
                "with, or pass --overwrite to start again, or choose another --out"
            )


def _draw(out: Path, seed: int, syn: SyntheticConfig, video: bool, console: Console) -> ReIDData:
    """Draw (or find already drawn) one seed's synthetic set and load it."""
    data_dir = out / f"seed-{seed}" / "data"
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"synthetic dataset, seed {seed}", total=syn.num_images)
        generate(data_dir, syn, workers=2, progress=lambda n: progress.advance(task, n))
    data = load_dataset("ccvid" if video else "vcclothes", data_dir, mask_root=data_dir / "masks")
    cc = data.eval_sets["cc"]
    unit = "tracklets" if video else "images"
    console.print(
        f"seed {seed}: {len(data.train)} train {unit} of {data.num_train_pids} ids; "
        f"CC: {len(cc.query)} queries, {len(cc.gallery)} gallery {unit}"
    )
    return data


def _intro(b: Budget, cfg: ExperimentConfig, video: bool, scenes: str, overrides: list[str],
           seeds: list[int], elapsed: float, resume: bool) -> str:  # fmt: skip
    """The report's first paragraph: what was trained on what, where, and how long it took."""
    backdrops = (f"{b.backdrop_places} shared backdrop places per camera" if b.backdrop_places
                 else "a backdrop per tracklet")  # fmt: skip
    took = (f"this continuation took {elapsed / 60:.1f} min (runs kept from before not counted)"
            if resume else f"training and evaluation took {elapsed / 60:.1f} min")  # fmt: skip
    return (
        f"Synthetic clothes-changing data ({b.train_ids} train / {b.test_ids} test ids, "
        f"{'plain scenes' if scenes == 'plain' else 'cluttered scenes, ' + backdrops}, "
        f"{b.images_per_camera} training images per camera), {cfg.model.backbone} "
        f"from scratch at {cfg.data.height}x{cfg.data.width}, {cfg.train.epochs} epochs, "
        f"P x K = 8 x 4{' clips of 4 frames' if video else ''}, L_id + L_BCTri"
        f"{'; overrides ' + ' '.join(overrides) if overrides else ''}; "
        f"seeds {', '.join(map(str, seeds))}; {describe_cpu()}; {took}."
    )


def _publish(out: Path, intro: str, by_seed: dict[int, dict[str, RunFolder]],
             data: ReIDData, summary: dict[str, Any]) -> Path:  # fmt: skip
    """Write the report, ``summary.json`` and the study table; returns the report page."""
    first = {name: run.path for name, run in next(iter(by_seed.values())).items()}
    _, page = build_report(
        first, out / "report", data, title="ccreid demo: CRE and BSGA ablation", intro=intro,
        extra_tables=summary_tables(summary), activations=True,
    )  # fmt: skip
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1))
    write_study(
        out,
        by_seed,
        title="ccreid demo: the ablation as a study over seeds",
        intro=f"The full report, with figures: {page}",
        label="variant",
        summary=summary,
    )
    return page


def _chosen_variants(names: list[str] | None) -> tuple[tuple[str, bool, str], ...]:
    if not names:
        return VARIANTS
    known = {v[0]: v for v in VARIANTS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InputError(f"unknown demo variant(s) {unknown}; known: {', '.join(known)}")
    return tuple(known[n] for n in dict.fromkeys(names))


def _after_run(name: str, seed: int, cfg: ExperimentConfig, run: RunFolder,
               data: ReIDData | None, console: Console) -> None:  # fmt: skip
    """A mask-head BSGA run, evaluated once more on its own predicted masks, with the head's
    IoU against the parser's masks over the primary test gallery."""
    if not (cfg.model.mask_head and cfg.model.attention == "bsga") or data is None:
        return
    predicted = apply_overrides(cfg, ["model.mask_source=predicted"])
    model = load_checkpoint_file(run.checkpoint_path("last"), "cpu", run_with=predicted)
    results = model.evaluate(data.eval_sets)
    gallery = data.eval_sets[data.primary_setting].gallery
    iou = mask_head_iou(model.model, gallery, model.options)
    payload = {"predicted": {k: r.metrics() for k, r in results.items()}, "mask_iou": iou}
    run.write_json(RunFolder.PREDICTED_MASKS, payload)
    scores = ", ".join(f"{k} mAP {r['mAP']:.1f}" for k, r in payload["predicted"].items())
    console.print(f"predicted masks: {scores}; mask IoU {iou:.3f}")


def summary_tables(summary: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """The study's tables (mean ± std, paired differences); CC mAP per seed; the mask head;
    BSGA attention means."""
    n = seed_count(summary)
    settings = study_settings(summary)
    tables = study_tables(summary, differences(summary), label="variant")
    seeds = list(next(iter(summary.values()))["seeds"])
    tables.append((
        "CC mAP per seed (%)", ["variant", *map(str, seeds)],
        [[name, *(f"{v['seeds'][s]['cc/mAP']:.1f}" for s in seeds)] for name, v in summary.items()],
    ))  # fmt: skip
    head = {n_: v for n_, v in summary.items() if "mask_head/iou" in v["stats"]}
    if head:
        cols = [(s, m) for s, m in (("sc", "mAP"), ("cc", "mAP"), ("cc", "top1"))
                if s in settings]  # fmt: skip
        tables.append((
            "Mask head: the same model with the parser's masks vs its own predicted masks "
            "(mean ± std over seeds, %); IoU of the two masks on the test gallery",
            ["variant", *(f"{s} {m} {src}" for s, m in cols for src in ("parser", "predicted")),
             "mask IoU"],
            [[name, *(format_mean_std(v["stats"][f"{pre}{s}/{m}"], n) for s, m in cols
                      for pre in ("", "predicted/")),
              format_mean_std(v["stats"]["mask_head/iou"], n)] for name, v in head.items()],
        ))  # fmt: skip
    bsga = {n_: v for n_, v in summary.items() if "bsga/body" in v["stats"]}
    if bsga:
        tables.append((
            "BSGA attention A_f on test images after training: body vs background pixels",
            ["variant", "body", "background", "body - background"],
            [[name, f"{v['stats']['bsga/body']['mean']:.2f}",
              f"{v['stats']['bsga/background']['mean']:.2f}",
              f"{v['stats']['bsga/body']['mean'] - v['stats']['bsga/background']['mean']:+.2f}"]
             for name, v in bsga.items()],
        ))  # fmt: skip
    return tables


def _print_table(console: Console, summary: dict[str, Any]) -> None:
    n = len(next(iter(summary.values()))["seeds"])
    table = Table(
        title=f"top-1 / mAP (%), {'mean ± std over ' + str(n) + ' seeds' if n > 1 else 'one seed'}"
    )
    table.add_column("variant")
    settings = study_settings(summary)
    for s in settings:
        table.add_column(s, justify="right")
    for name, v in summary.items():
        st = v["stats"]
        table.add_row(name, *(f"{format_mean_std(st[f'{s}/top1'], n)} / "
                              f"{format_mean_std(st[f'{s}/mAP'], n)}" for s in settings))  # fmt: skip
    console.print(table)
