"""YAML configs with a ``base:`` chain and dot-list overrides, checked against the schema."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ccreid.config.schema import CHOICES, CONFIG_VERSION, MAX_SIDE, ExperimentConfig
from ccreid.errors import ConfigError


def packaged_configs() -> Path:
    """The configs shipped inside the package (one per dataset and ablation row)."""
    return Path(str(resources.files("ccreid") / "configs"))


def packaged_config_names() -> list[str]:
    root = packaged_configs()
    return sorted(
        p.relative_to(root).with_suffix("").as_posix()
        for p in root.rglob("*.yaml")
        if not p.name.startswith("_")
    )


def resolve_config(path: str | Path) -> Path:
    """A config file, or the name of a packaged config (``prcc/full``, ``base``)."""
    given = Path(path)
    if given.is_file():
        return given
    name = str(path).removesuffix(".yaml")
    packaged = packaged_configs() / f"{name}.yaml"
    if not given.exists() and packaged.is_file():
        return packaged
    raise ConfigError(
        f"config file {path} does not exist, and no packaged config is named {name!r} "
        f"(packaged: {', '.join(packaged_config_names())})"
    )


def _read_chain(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[Path, DictConfig]]:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    if path.resolve() in seen:
        raise ConfigError(f"config {path} includes itself through 'base'")
    node = _read_node(path)
    chain: list[tuple[Path, DictConfig]] = []
    base = node.pop("base", None)
    if base is not None:
        chain = _read_chain((path.parent / str(base)), (*seen, path.resolve()))
    return [*chain, (path, node)]


def _read_node(path: Path) -> DictConfig:
    """One YAML file as a mapping of sections, old keys migrated; errors name the file."""
    try:
        node = OmegaConf.load(path)
    except Exception as exc:
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from None
    if not isinstance(node, DictConfig):
        raise ConfigError(f"{path}: a config must be a mapping of sections (data:, model:, ...), "
                          f"found a {type(node).__name__.removesuffix('Config').lower()}")  # fmt: skip
    return migrate(node)


def _yaml_problem(exc: Exception) -> str:
    """A YAML parser's error on one line: what is wrong and where (its own text repeats
    the file's name over several lines)."""
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return " ".join(str(exc).split())
    context = f" ({exc.context})" if getattr(exc, "context", None) else ""
    return f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem}{context}"


def _merge(cfg: DictConfig, node: DictConfig, src: Path | str) -> DictConfig:
    try:
        return OmegaConf.merge(cfg, node)  # type: ignore[return-value]
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{src}: {_describe(exc)}") from None


def _describe(exc: OmegaConfBaseException) -> str:
    key = getattr(exc, "full_key", None)
    msg = str(exc).splitlines()[0]
    return f"key '{key}': {msg}" if key else msg


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Schema defaults <- YAML chain (base first) <- ``key=value`` overrides, then validated."""
    cfg = OmegaConf.structured(ExperimentConfig)
    sources = _read_chain(resolve_config(path)) if path is not None else []
    for src, node in sources:
        cfg = _merge(cfg, node, src)
    return _finish(_with_overrides(cfg, overrides), str(path or "config"))


def apply_overrides(cfg: ExperimentConfig, overrides: Sequence[str]) -> ExperimentConfig:
    """``key=value`` overrides on top of an existing config (e.g. a checkpoint's), validated."""
    return _finish(_with_overrides(OmegaConf.structured(cfg), overrides), "override")


def _with_overrides(cfg: DictConfig, overrides: Sequence[str]) -> DictConfig:
    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise ConfigError(f"overrides must look like key=value, got {bad}")
    try:
        return OmegaConf.merge(
            cfg, OmegaConf.from_dotlist([_migrate_override(o) for o in overrides])
        )
    except OmegaConfBaseException as exc:
        raise ConfigError(f"override {_describe(exc)}") from None


def _finish(cfg: DictConfig, where: str) -> ExperimentConfig:
    """The typed, validated config; ``where`` names the source in errors."""
    obj = _typed(cfg, where)
    validate(obj)
    return obj


def _typed(cfg: DictConfig, where: str) -> ExperimentConfig:
    try:
        return OmegaConf.to_object(cfg)  # type: ignore[return-value]
    except OmegaConfBaseException as exc:  # e.g. an interpolation ${...} that does not resolve
        raise ConfigError(f"{where}: {_describe(exc)}") from None


def read_run_config(path: str | Path) -> ExperimentConfig:
    """The ``config.yaml`` that ``ccreid train`` wrote into a run folder, validated.

    A missing, broken, partial (``ccreid train`` writes every section) or invalid file is
    one ConfigError naming it, never a run read with silently defaulted settings."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: {path.parent} is not a run folder of "
                          "`ccreid train`")  # fmt: skip
    node = _read_node(path)
    missing = [s for s in SECTIONS if s not in node]
    if missing:
        raise ConfigError(f"{path}: no {', '.join(missing)} section: not a whole config "
                          "written by `ccreid train` (truncated or edited?)")  # fmt: skip
    cfg = _typed(_merge(OmegaConf.structured(ExperimentConfig), node, path), str(path))
    problems = config_problems(cfg)
    if problems:
        raise ConfigError(f"{path}: invalid config: {'; '.join(problems)}")
    return cfg


_UNSET = "<unset>"


def config_changes(old: ExperimentConfig, new: ExperimentConfig) -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose values differ between two configs, as (old, new), in schema order."""
    a, b = _flatten(old), _flatten(new)
    return {
        key: (a.get(key, _UNSET), b.get(key, _UNSET))
        for key in dict.fromkeys([*a, *b])
        if a.get(key, _UNSET) != b.get(key, _UNSET)
    }


def _flatten(cfg: ExperimentConfig) -> dict[str, Any]:
    def walk(node: Any, prefix: str) -> dict[str, Any]:
        if not isinstance(node, dict) or (prefix and not node):
            return {prefix.removesuffix("."): node}
        return {
            k: v for key, value in node.items() for k, v in walk(value, f"{prefix}{key}.").items()
        }

    return walk(OmegaConf.to_container(OmegaConf.structured(cfg)), "")


SECTIONS = ("data", "model", "loss", "train", "eval")
SEED_LIMIT = 2**32  # numpy's legacy seeding (np.random.seed) takes 0 <= seed < 2**32


def validate(cfg: ExperimentConfig) -> None:
    """Values the schema's types cannot rule out, all listed at once."""
    problems = config_problems(cfg)
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


def config_problems(cfg: ExperimentConfig) -> list[str]:
    """What `validate` refuses, one line per problem, each naming its key."""
    problems = _nonfinite_problems(cfg)
    if not problems:  # the range checks compare numbers: nan would slip through them
        problems = _range_problems(cfg) + _batch_problems(cfg) + _choice_problems(cfg)
    if cfg.version != CONFIG_VERSION:
        problems.insert(
            0, f"version: config version {cfg.version}, this ccreid reads version {CONFIG_VERSION}"
        )
    return problems


def _nonfinite_problems(cfg: ExperimentConfig) -> list[str]:
    """Every float setting of every section must be finite: a nan weight decay or margin
    passes a ``>= 0`` test and only fails in the middle of training."""
    problems = []
    for section in SECTIONS:
        values = getattr(cfg, section)
        for f in fields(values):
            value = getattr(values, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                problems.append(f"{section}.{f.name} must be a finite number, got {value}")
    return problems


def _range_problems(cfg: ExperimentConfig) -> list[str]:
    """Numbers out of range, each named by its key."""
    t, d, loss = cfg.train, cfg.data, cfg.loss
    # data.pad: the random crop's offset moves up to 2 * pad, so with pad <= half the
    # smaller side a crop keeps at least half of the person in each direction; larger pads
    # only crop blank canvas (and cost memory per sample). The paper's pad 10 at 256x128
    # and the demo's 4 at 128x64 are far inside.
    max_pad = min(d.height, d.width) // 2
    checks = [  # (holds, key, requirement, value)
        (t.lr > 0, "train.lr", "a finite number > 0", t.lr),
        (t.weight_decay >= 0, "train.weight_decay", ">= 0", t.weight_decay),
        (t.epochs >= 1, "train.epochs", ">= 1", t.epochs),
        (t.eval_every >= 1, "train.eval_every", ">= 1", t.eval_every),
        (0 <= t.seed < SEED_LIMIT, "train.seed", f"an integer from 0 to {SEED_LIMIT - 1}", t.seed),
        (t.step_size >= 1, "train.step_size", ">= 1", t.step_size),
        (0 < t.gamma <= 1, "train.gamma", "in (0, 1]", t.gamma),
        (t.warmup_epochs >= 0, "train.warmup_epochs", ">= 0", t.warmup_epochs),
        (t.max_steps_per_epoch is None or t.max_steps_per_epoch >= 1,
         "train.max_steps_per_epoch", ">= 1 (or null for whole epochs)", t.max_steps_per_epoch),
        (loss.weight >= 0, "loss.weight", ">= 0", loss.weight),
        (0 <= loss.label_smoothing < 1, "loss.label_smoothing", "in [0, 1)", loss.label_smoothing),
        (loss.margin >= 0, "loss.margin", ">= 0", loss.margin),
        (loss.mask_weight >= 0, "loss.mask_weight", ">= 0", loss.mask_weight),
        (0 <= d.pad <= max_pad, "data.pad",
         f"in [0, {max_pad}] (half the smaller side of {d.height}x{d.width})", d.pad),
        (0 <= d.random_erasing <= 1, "data.random_erasing", "a probability in [0, 1]", d.random_erasing),
        (0 <= d.flip <= 1, "data.flip", "a probability in [0, 1]", d.flip),
        (d.workers >= 0, "data.workers", ">= 0", d.workers),
        (max(d.height, d.width) <= MAX_SIDE, "data.height/width", f"<= {MAX_SIDE}",
         f"{d.height}x{d.width}"),
        (min(d.height, d.width) >= 32, "data.height/width", ">= 32", f"{d.height}x{d.width}"),
        (d.val_ids >= 0, "data.val_ids", ">= 0", d.val_ids),
        (d.seq_len >= 1, "data.seq_len", ">= 1", d.seq_len),
        (d.stride >= 1, "data.stride", ">= 1", d.stride),
        (cfg.eval.batch_size >= 1, "eval.batch_size", ">= 1", cfg.eval.batch_size),
    ]  # fmt: skip
    return [f"{key} must be {need}, got {value}" for ok, key, need, value in checks if not ok]


def _batch_problems(cfg: ExperimentConfig) -> list[str]:
    """P x K batches: triplets need two identities of two images each."""
    d = cfg.data
    problems = []
    if d.num_identities < 2 or d.num_instances < 2:
        problems.append("data.num_identities and data.num_instances must be >= 2 for triplets")
    if d.batch_size is None or d.num_instances < 2:  # nothing to divide by
        return problems
    if d.batch_size < 1 or d.batch_size % d.num_instances:
        problems.append(
            f"data.batch_size ({d.batch_size}) must be a positive multiple of "
            f"data.num_instances ({d.num_instances})"
        )
    elif d.batch_size // d.num_instances < 2:
        problems.append(
            f"data.batch_size ({d.batch_size}) must hold at least 2 identities of "
            f"data.num_instances ({d.num_instances}) images"
        )
    return problems


def _choice_problems(cfg: ExperimentConfig) -> list[str]:
    """Names that must be one of a few (attention options are checked by the module that
    declares them, when the model is built)."""
    flat = _flatten(cfg)
    problems = [f"{key} must be one of {', '.join(ok)}, got {flat[key]!r}"
                for key, ok in CHOICES.items() if flat[key] not in ok]  # fmt: skip
    if cfg.model.mask_source == "predicted" and not cfg.model.mask_head:
        problems.append("model.mask_source=predicted needs model.mask_head=true")
    return problems


def validate_sampling(cfg: ExperimentConfig, pids: Sequence[int], dataset: str) -> None:
    """Batch shape against the training split: values no sampler could honour."""
    counts = Counter(pids)
    P = cfg.data.identities_per_batch
    problems = []
    if len(counts) < P:
        problems.append(
            f"a batch of {P} identities (data.num_identities / data.batch_size) needs more "
            f"identities than the {len(counts)} of {dataset}'s training split"
        )
    most = max(counts.values(), default=0)
    if cfg.data.num_instances > most:
        problems.append(
            f"data.num_instances ({cfg.data.num_instances}) is larger than the images of every "
            f"identity in {dataset}'s training split (at most {most})"
        )
    if problems:
        raise ConfigError("invalid config for this dataset:\n  " + "\n  ".join(problems))


def to_yaml(cfg: ExperimentConfig) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


# Keys that moved: BSGA's options became options the attention module declares itself.
MOVED_KEYS = {
    "model.bsga_init": "model.attention_options.init",
    "model.share_mask_conv": "model.attention_options.share_mask_conv",
}


def migrate(node: DictConfig) -> DictConfig:
    """Old keys in place of new ones, so earlier configs and checkpoints still load:
    model.pretrained / model.weights_path (before 2026-11-26) -> model.weights;
    model.bsga_init / model.share_mask_conv -> model.attention_options (BSGA took them;
    other attention modules ignored them, so they are dropped there)."""
    model = node.get("model")
    if not isinstance(model, DictConfig):
        return node
    if "pretrained" in model or "weights_path" in model:
        pretrained, path = model.pop("pretrained", False), model.pop("weights_path", None)
        if "weights" not in model:  # torchvision's DEFAULT was what "pretrained" loaded
            model.weights = path or ("imagenet1k_v2" if pretrained else "none")
    moved = {new.rsplit(".", 1)[1]: model.pop(old.split(".", 1)[1])
             for old, new in MOVED_KEYS.items() if old.split(".", 1)[1] in model}  # fmt: skip
    if moved and model.get("attention", "bsga") == "bsga":
        options = model.get("attention_options") or {}
        model.attention_options = {**moved, **options}
    return node


def _migrate_override(override: str) -> str:
    key, sep, value = override.partition("=")
    return f"{MOVED_KEYS.get(key.strip(), key)}{sep}{value}"


def from_yaml_text(text: str) -> ExperimentConfig:
    """Parse a resolved config (e.g. stored in a checkpoint) back into the schema."""
    cfg = OmegaConf.merge(OmegaConf.structured(ExperimentConfig), migrate(OmegaConf.create(text)))
    return OmegaConf.to_object(cfg)  # type: ignore[return-value]
