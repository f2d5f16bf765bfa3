"""`make bench` regenerates the performance page (docs/performance.md) from benchmarks/results.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import performance_page as readme_tables  # noqa: E402

RESULTS = {
    "CPU without native bf16": {
        "synthetic": {"machine": "CPU X, 2 CPU cores", "date": "2026-01-02", "size": "128x64",
                      "workers1_img_s": 111.1, "workers2_img_s": 222.2},
        "parser": {"machine": "CPU X, 2 CPU cores", "date": "2026-01-03", "setup": "tiny",
                   "fp32_img_s": 3.3, "bf16_img_s": 0.3, "bf16_speedup": 0.09},
    },
    "CPU with native bf16": {
        "parser": {"machine": "CPU Y, 2 CPU cores", "date": "2026-01-04", "setup": "tiny",
                   "fp32_img_s": 4.4, "bf16_img_s": 9.9, "bf16_speedup": 2.25},
    },
}  # fmt: skip


def test_section_between_markers_is_replaced_and_the_rest_kept(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# top\n{readme_tables.START}\nold 999\n{readme_tables.END}\n## after\n")
    results = tmp_path / "results.json"
    results.write_text(json.dumps(RESULTS))
    readme_tables.update_page(readme, results)
    text = readme.read_text()
    assert text.startswith("# top\n") and text.endswith("## after\n")
    assert "old 999" not in text
    assert "111.1 images/s" in text and "222.2 with two" in text and "3.3 images/s" in text
    assert "Measured on CPU X, 2 CPU cores, 2026-01-02 to 2026-01-03." in text
    # each kind keeps its own figures under its own heading
    without, with_bf16 = (
        text.index("### CPU without native bf16"),
        text.index("### CPU with native"),
    )
    assert with_bf16 < text.index("4.4 images/s") < without < text.index("3.3 images/s")


def test_readme_without_markers_is_left_alone(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    results = tmp_path / "results.json"
    results.write_text(json.dumps(RESULTS))
    with pytest.raises(SystemExit, match="lacks the markers"):
        readme_tables.update_page(readme, results)
    assert readme.read_text() == "# no markers\n"


def test_every_stored_result_has_a_renderer_and_none_is_dropped() -> None:
    stored = json.loads((Path(readme_tables.HERE) / "results.json").read_text())
    assert [k for kind in stored.values() for k in kind if not readme_tables.covered(k)] == []
    readme_tables.render(stored)
    kind = next(iter(stored))
    with pytest.raises(SystemExit, match="without a renderer: \\['bench_new'\\]"):
        readme_tables.render({kind: {**stored[kind], "bench_new": {"machine": "m", "date": "d"}}})


def test_a_run_replaces_only_its_own_kinds_figures(tmp_path: Path, monkeypatch) -> None:
    import _common

    monkeypatch.setattr(_common, "RESULTS", tmp_path / "results.json")
    _common.RESULTS.write_text(json.dumps({"Other kind": {"eval": {"old": 1}}}))
    _common.record("eval", {"new": 2})
    stored = json.loads(_common.RESULTS.read_text())
    kind = _common.machine_kind("cpu")
    assert stored["Other kind"] == {"eval": {"old": 1}}
    assert stored[kind]["eval"]["new"] == 2
    assert {"machine", "device", "torch", "date"} <= set(stored[kind]["eval"])


def test_the_data_section_shows_each_workers_cost_per_sample() -> None:
    """Every size's worker CPU time per sample appears with its ratio to ``worker``."""
    r = {f"{s}_{k}": v for s in ("128x64", "256x128") for k, v in {
        "workers0_samples_s": 1.0, "worker_cpu_ms_per_sample_augment_on_worker": 2.0,
        "worker_cpu_ms_per_sample_augment_on_device": 0.8, "worker_cpu_device_over_worker": 0.4,
        "worker_cpu_ms_per_sample_decode_on_device": 0.6,
        "worker_cpu_decode_on_device_over_worker": 0.3,
        "batch_augment_ms_per_sample_on_this_cpu": 1.5}.items()}  # fmt: skip
    text = readme_tables.data_section(r)
    for size in ("128x64", "256x128"):
        assert f"| {size} | 2.0 | 0.8 (0.4x) | 0.6 (0.3x) | 1.5 | - |" in text
