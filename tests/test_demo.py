"""The demo pipeline on a tiny budget: report files, pictures, numbers, and the page in Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from ccreid.demo import VARIANTS, run_demo, slug, summarise


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_demo(tmp_path_factory.mktemp("demo"), budget="tiny", seed=0)


def test_report_files_exist_and_pictures_decode(demo_report: Path) -> None:
    folder = demo_report.parent
    md = (folder / "report.md").read_text()
    refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert {"curves.png", "ranked_lists.png", "attention.png", "cre.png", "activations.png"} <= set(
        refs
    )
    for ref in refs:
        with Image.open(folder / ref) as im:
            im.load()
            assert im.width > 100 and im.height > 100


def _md_table(md: str, caption_start: str) -> list[list[str]]:
    """Rows (without header) of the Markdown table under the heading that starts so."""
    block = md.split(f"## {caption_start}", 1)[1].split("\n\n", 2)[1]
    return [
        [c.strip() for c in line.strip().strip("|").split("|")] for line in block.splitlines()[2:]
    ]


def test_html_is_self_contained_and_holds_the_tables(demo_report: Path) -> None:
    page = demo_report.read_text()
    srcs = re.findall(r'src="([^"]+)"', page)
    assert len(srcs) == 5 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "http" not in page.replace("http-equiv", "")
    md = (demo_report.parent / "report.md").read_text()
    per_run = _md_table(md, "Results (%) of")
    assert [r[0] for r in per_run] == ["baseline", "+CRE", "+BSGA", "CRE+BSGA"]
    # variant + 3 settings x every reported metric (top-1, top-5, top-10, mAP, mINP)
    assert all(len(r) == 16 and 0.0 <= float(c) <= 100.0 for r in per_run for c in r[1:])


def test_summary_over_seeds_is_what_the_runs_measured(demo_report: Path) -> None:
    """With one seed the mean is the run's own number, read back from its results.json."""
    root = demo_report.parent.parent
    summary = json.loads((root / "summary.json").read_text())
    md = (demo_report.parent / "report.md").read_text()
    rows = {r[0]: r[1:] for r in _md_table(md, "Results over 1 seed")}
    for name, _cre, _attention in VARIANTS:
        res = json.loads((root / "seed-0" / "runs" / slug(name) / "results.json").read_text())
        assert summary[name]["seeds"]["0"]["cc/mAP"] == res["cc"]["mAP"]
        assert rows[name][-1] == f"{res['cc']['mAP']:.1f}"
    attention_rows = {r[0]: r for r in _md_table(md, "BSGA attention")}
    assert set(attention_rows) == {"+BSGA", "CRE+BSGA"}
    for row in attention_rows.values():
        body, background = float(row[1]), float(row[2])
        assert 0.0 <= background <= 1.0 and 0.0 <= body <= 1.0


def test_mean_and_spread_over_seeds(tmp_path: Path) -> None:
    """summarise() against numbers written by hand into fake run folders."""
    values = {0: 10.0, 1: 14.0, 2: 18.0}
    by_seed = {}
    for seed, cc in values.items():
        run = tmp_path / str(seed)
        run.mkdir()
        metrics = {k: {"top1": cc, "mAP": cc} for k in ("general", "sc", "cc")}
        (run / "results.json").write_text(json.dumps(metrics))
        (run / "metrics.json").write_text(json.dumps([{"epoch": 1, "bsga/body": 0.7}]))
        by_seed[seed] = {"CRE+BSGA": run}
    stats = summarise(by_seed)["CRE+BSGA"]["stats"]
    assert stats["cc/mAP"]["mean"] == pytest.approx(14.0)
    assert stats["cc/mAP"]["std"] == pytest.approx(4.0)  # sample standard deviation
    assert stats["bsga/body"]["mean"] == pytest.approx(0.7)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    _chromium() is None,
    reason="Debian's chromium is not installed (make test installs it when it can)",
)
def test_page_renders_the_table_in_headless_chromium(demo_report: Path) -> None:
    out = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={demo_report.parent / 'chrome-profile'}", "--dump-dom", demo_report.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    dom = out.stdout
    assert "<table>" in dom and "CRE+BSGA" in dom and "cc mAP" in dom


def test_the_reports_ranked_lists_show_no_item_the_metric_ignores(demo_report: Path) -> None:
    from ccreid.data import load_dataset
    from ccreid.viz.run_report import _rankings, load_run_model

    root = demo_report.parent.parent / "seed-0"
    data = load_dataset("vcclothes", root / "data", mask_root=root / "data" / "masks")
    es = data.eval_sets["cc"]
    picks = list(range(len(es.query)))
    lists = _rankings(load_run_model, root / "runs" / "baseline", data, "cc", picks)
    shown = 0
    for qi, order in zip(picks, lists, strict=True):
        q = es.query[qi]
        for j in order:
            g = es.gallery[int(j)]
            same_id = g.pid == q.pid
            assert not (same_id and (g.camid == q.camid or g.clothes == q.clothes))  # CC junk
            shown += 1
    assert shown > 0


def test_activation_figure_has_one_column_per_model(
    demo_report: Path, monkeypatch, tmp_path
) -> None:
    """Figure 1: a query column plus one column per model, one row per query image."""
    import matplotlib.pyplot as plt
    import numpy as np

    from ccreid.viz.plots import activation_maps

    grids = []
    real = plt.subplots
    monkeypatch.setattr(plt, "subplots", lambda r, c, **k: grids.append((r, c)) or real(r, c, **k))
    images = [np.zeros((16, 8, 3), np.uint8)] * 2
    maps = {name: [np.random.rand(16, 8)] * 2 for name in ("baseline", "+CRE", "CRE+BSGA")}
    path = activation_maps(images, maps, tmp_path / "a.png")
    assert grids == [(2, 4)]
    with Image.open(path) as im:
        im.load()
    assert (
        "Activation maps (Figure 1 of the paper)" in (demo_report.parent / "report.md").read_text()
    )


def test_demo_with_a_mask_head_reports_predicted_masks(tmp_path: Path) -> None:
    """One variant with a head: a second evaluation on its own masks, the table, the figure."""
    page = run_demo(
        tmp_path, budget="tiny", variants=["CRE+BSGA"], overrides=["model.mask_head=true"]
    )
    run = tmp_path / "seed-0" / "runs" / slug("CRE+BSGA")
    extra = json.loads((run / "predicted_masks.json").read_text())
    assert set(extra["predicted"]) == {"general", "sc", "cc"} and 0.0 <= extra["mask_iou"] <= 1.0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert list(summary) == ["CRE+BSGA"]
    row = summary["CRE+BSGA"]["seeds"]["0"]
    assert row["predicted/cc/mAP"] == extra["predicted"]["cc"]["mAP"]
    assert row["mask_head/iou"] == pytest.approx(100 * extra["mask_iou"])
    md = (page.parent / "report.md").read_text()
    assert "masks.png" in md
    head_rows = _md_table(md, "Mask head")
    assert head_rows[0][0] == "CRE+BSGA" and len(head_rows[0]) == 8


def test_unknown_demo_variant_is_refused_before_any_work(tmp_path: Path) -> None:
    from ccreid.errors import InputError

    with pytest.raises(InputError, match="unknown demo variant"):
        run_demo(tmp_path / "d", budget="tiny", variants=["CRE+SE"])
    assert not (tmp_path / "d" / "seed-0").exists()


def test_video_demo_trains_clips_and_evaluates_tracklets(tmp_path: Path) -> None:
    page = run_demo(tmp_path, budget="tiny", variants=["CRE+BSGA"], video=True)
    run = tmp_path / "seed-0" / "runs" / slug("CRE+BSGA")
    assert "data:\n  name: ccvid" in (run / "config.yaml").read_text()
    assert (tmp_path / "seed-0" / "data" / "CCVID" / "train.txt").is_file()
    res = json.loads((run / "results.json").read_text())
    assert {"general", "cc"} <= set(res)
    assert "clips of 4 frames" in page.read_text()


@pytest.mark.reliability(
    tried="`ccreid demo` again into a folder that holds a demo, or continued with more seeds",
    happens=(
        "refused, naming `--overwrite` and `--resume`; `--resume` keeps finished runs "
        "(checkpoints untouched) and trains only the missing seeds and variants"
    ),
)
def test_resume_keeps_finished_runs_and_trains_what_is_missing(tmp_path: Path) -> None:
    """A demo continued with more variants and seeds: the finished run is not trained again
    (its checkpoint is untouched), the new ones are, and the tables cover all of them."""
    from rich.console import Console

    from ccreid.errors import InputError
    from ccreid.fileio import RunFolderError

    run_demo(tmp_path, budget="tiny", variants=["baseline"])
    first = tmp_path / "seed-0" / "runs" / slug("baseline")
    before = {p.name: p.stat().st_mtime_ns for p in first.rglob("*.safetensors")}
    assert before
    with pytest.raises(RunFolderError, match="--resume to continue it"):
        run_demo(tmp_path, budget="tiny", variants=["baseline"])
    console = Console(record=True, width=200)
    run_demo(tmp_path, budget="tiny", variants=["baseline", "+CRE"], seeds=2, resume=True,
             console=console)  # fmt: skip
    log = console.export_text()
    assert log.count("not trained again") == 1 and "seed 0, baseline: finished" in log
    assert {p.name: p.stat().st_mtime_ns for p in first.rglob("*.safetensors")} == before
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary) == {"baseline", "+CRE"}
    assert set(summary["+CRE"]["seeds"]) == {"0", "1"}
    study = json.loads((tmp_path / "study.json").read_text())
    assert any(d["metric"] == "cc/mAP" for d in study["differences"])
    drawn = (tmp_path / "seed-0" / "data" / ".synthetic.json").read_text()
    with pytest.raises(InputError, match="another synthetic set for seed 0 .*scenes"):
        run_demo(tmp_path, budget="tiny", variants=["baseline"], scenes="plain", resume=True)
    assert (tmp_path / "seed-0" / "data" / ".synthetic.json").read_text() == drawn
    with pytest.raises(RunFolderError, match=r"other settings than this study(.|\n)*train.lr"):
        run_demo(tmp_path, budget="tiny", variants=["baseline"], overrides=["train.lr=5e-3"],
                 resume=True)  # fmt: skip
    assert {p.name: p.stat().st_mtime_ns for p in first.rglob("*.safetensors")} == before


def test_resume_and_overwrite_together_are_refused(tmp_path: Path) -> None:
    from ccreid.errors import InputError

    with pytest.raises(InputError, match="overwrite"):
        run_demo(tmp_path, budget="tiny", overwrite=True, resume=True)
    assert not (tmp_path / "seed-0").exists()
