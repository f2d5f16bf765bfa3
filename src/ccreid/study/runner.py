"""A study: every config trained on each of the same seeds, in one folder that can be
continued after a stop.

::

    <study>/seed-<s>/runs/<config>/   one run folder per config and seed

A finished run (its results are written and its config is the one planned, wherever the
study folder has been moved) is never trained again; a run that stopped part way is resumed
from its last complete epoch; any other folder in the way is refused unless the study is
started over (``overwrite``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from ccreid.config import ExperimentConfig, apply_overrides, config_changes
from ccreid.data import ReIDData
from ccreid.engine import run_training
from ccreid.fileio import RunFolderError
from ccreid.runfolder import RunFolder

# Settings a study may change between a stop and a restart without changing a number.
RESTARTABLE = ("data.workers",)
# Settings a study derives from where it lies (with its per-seed overrides): a study folder
# moved elsewhere still holds its finished runs.
LOCATION = ("output_dir", "name")


def slug(name: str) -> str:
    """Run folder name of a config: "CRE+BSGA" -> "cre-plus-bsga", "prcc/full" -> "prcc-full"."""
    return name.lower().replace("+", "-plus-").replace("/", "-").strip("-")


@dataclass(frozen=True)
class Study:
    """The configs of a study (by name), its seeds, and where it is written."""

    folder: Path
    configs: dict[str, ExperimentConfig]
    seeds: tuple[int, ...]
    # Path overrides per seed, under the study folder (data.root, ...): not compared when a
    # study is continued, so a moved folder keeps its runs. Nothing else belongs here.
    seed_paths: Callable[[int], list[str]] | None = None

    def run_folder(self, name: str, seed: int) -> RunFolder:
        return RunFolder(self.folder / f"seed-{seed}" / "runs" / slug(name))

    def planned(self, name: str, seed: int) -> ExperimentConfig:
        """The config of one run: the study's config with this seed and run folder."""
        run = self.run_folder(name, seed)
        return apply_overrides(self.configs[name], [
            *self._seed_paths(seed), f"train.seed={seed}", f"output_dir={run.path.parent}",
            f"name={run.path.name}",
        ])  # fmt: skip

    def located(self, seed: int) -> tuple[str, ...]:
        """The settings that follow the study folder when it is moved (not compared)."""
        return (*LOCATION, *(o.split("=", 1)[0] for o in self._seed_paths(seed)))

    def _seed_paths(self, seed: int) -> list[str]:
        return self.seed_paths(seed) if self.seed_paths is not None else []

    def state(self, name: str, seed: int) -> str:
        """``new``, ``finished`` or ``stopped`` (a run to resume)."""
        run = self.run_folder(name, seed)
        if not run.is_run():
            return "new"
        if self.unplanned(name, seed):
            return "other"  # not this study's run: refused unless overwrite
        if (run / RunFolder.RESULTS).is_file():
            return "finished"
        return "stopped" if run.checkpoint_path("last").is_file() else "new"

    def unplanned(self, name: str, seed: int) -> list[str]:
        """How a run folder's stored config differs from the planned one (``key: old -> new``),
        leaving out what may change between a stop and a restart."""
        changes = config_changes(self.run_folder(name, seed).config(), self.planned(name, seed))
        compared = set(changes) - {*RESTARTABLE, *self.located(seed)}
        return [f"{k}: {old} -> {new}" for k, (old, new) in changes.items() if k in compared]

    def runs(self) -> dict[int, dict[str, RunFolder]]:
        return {s: {n: self.run_folder(n, s) for n in self.configs} for s in self.seeds}


def run_study(
    study: Study, console: Console | None = None, overwrite: bool = False,
    data_for: Callable[[int], ReIDData | None] | None = None,
    after_run: Callable[[str, int, ExperimentConfig, RunFolder, ReIDData | None], None] | None = None,
) -> dict[int, dict[str, RunFolder]]:  # fmt: skip
    """Train every config on every seed (skipping finished runs, resuming stopped ones).

    ``data_for(seed)`` gives the dataset of a seed (e.g. a synthetic set drawn per seed),
    or None to let each run load its config's dataset; ``after_run`` is called after each
    run that trained (e.g. an extra evaluation)."""
    console = console or Console(markup=False, highlight=False)
    for seed in study.seeds:
        data = data_for(seed) if data_for is not None else None
        for name in study.configs:
            state = "new" if overwrite else study.state(name, seed)
            run = study.run_folder(name, seed)
            if state == "finished":
                console.print(f"seed {seed}, {name}: finished in {run.path}, not trained again")
                continue
            if state == "other":
                raise RunFolderError(
                    f"{run.path} holds a run with other settings than this study plans for it "
                    "(a study is continued with the configs and overrides it was started "
                    "with): start the study again with --overwrite, or choose another "
                    "folder; changed:\n  " + "\n  ".join(study.unplanned(name, seed))
                )
            cfg = study.planned(name, seed)
            console.rule(f"seed {seed}, {name}")
            run_training(cfg, run.path, resume=state == "stopped", console=console, data=data,
                         overwrite=state == "new", moved=study.located(seed))  # fmt: skip
            if after_run is not None:
                after_run(name, seed, cfg, run, data)
    return study.runs()
