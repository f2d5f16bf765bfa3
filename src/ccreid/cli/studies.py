"""`ccreid study`: configs trained on the same seeds, summarised with mean ± std and paired
differences with 95% confidence intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from ccreid.cli.app import JsonOption, app, console, err, load_cfg, print_json, split_positionals

# Set by the study for each run: given as overrides they would be silently replaced.
STUDY_SETS = ("train.seed", "output_dir", "name")


def config_names(given: list[str]) -> list[str]:
    """Each config's name in the tables: a file's stem, a packaged config's name; the path
    without ``.yaml`` where two stems clash."""
    stems = [Path(g).stem if Path(g).is_file() else g.removesuffix(".yaml") for g in given]
    if len(set(stems)) == len(stems):
        return stems
    names = [g.removesuffix(".yaml") for g in given]
    if len(set(names)) < len(names):
        raise typer.BadParameter(f"a config is given twice: {given}")
    return names


def _print_tables(tables: list[tuple[str, list[str], list[list[str]]]]) -> None:
    for title, header, rows in tables:
        table = Table(title=title)
        for i, h in enumerate(header):
            table.add_column(h, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)


@app.command()
def study(
    configs: Annotated[
        list[str],
        typer.Argument(
            metavar="CONFIG",
            help="Config files or packaged config names, then key=value overrides "
            "applied to every config.",
        ),
    ],
    seeds: Annotated[
        int, typer.Option(help="Number of seeds (seed, seed+1, ...), the same for every config.")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Study folder (runs, study.json, study.md).")
    ],
    seed: Annotated[int, typer.Option(help="First seed.")] = 0,
    overwrite: Annotated[
        bool, typer.Option(help="Train every run again, replacing the runs in --out.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Train every config on each of the same seeds; report mean ± std per config and the
    paired difference of each pair of configs with a 95% Student-t interval over seeds.

    Run the same command again to continue a study: finished runs are not trained again.

    Example: ccreid study prcc/baseline_bctri prcc/full --seeds 3 --out runs/prcc-study
    """
    from ccreid.fileio import ensure_writable
    from ccreid.study import STUDY_RECORD, STUDY_TABLE, Study, run_study, write_study

    given, overrides = split_positionals(configs)
    if not given:
        raise typer.BadParameter("give at least one CONFIG (a file or a packaged config name)")
    if seeds < 1:
        raise typer.BadParameter(f"--seeds must be >= 1, got {seeds}")
    fixed = [o for o in overrides if o.split("=", 1)[0] in STUDY_SETS]
    if fixed:
        raise typer.BadParameter(
            f"{fixed}: the study sets {', '.join(STUDY_SETS)} itself (use --seed and --out)"
        )
    cfgs = {
        name: load_cfg(g, overrides) for name, g in zip(config_names(given), given, strict=True)
    }
    ensure_writable(out)
    plan = Study(out, cfgs, tuple(range(seed, seed + seeds)))
    by_seed = run_study(plan, err if as_json else console, overwrite=overwrite)
    intro = f"Configs {', '.join(cfgs)}; seeds {', '.join(map(str, plan.seeds))}."
    record, tables = write_study(out, by_seed, title="ccreid study", intro=intro)
    if as_json:
        print_json(record)
        return
    _print_tables(tables)
    console.print(Text(f"study: {out / STUDY_RECORD} and {out / STUDY_TABLE}"))
