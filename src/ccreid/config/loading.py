"""YAML configs with a ``base:`` chain and dot-list overrides, checked against the schema."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ccreid.config.schema import CONFIG_VERSION, ExperimentConfig
from ccreid.errors import CCReIDError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
MAX_SIDE = 4096  # pixels: larger inputs are a typo, not a re-ID crop


class ConfigError(CCReIDError, ValueError):
    """A config file or override that does not fit the schema."""


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
    try:
        node = OmegaConf.load(path)
    except Exception as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(node, DictConfig):
        raise ConfigError(f"{path}: a config must be a mapping of sections (data:, model:, ...), "
                          f"found a {type(node).__name__.removesuffix('Config').lower()}")  # fmt: skip
    migrate(node)
    chain: list[tuple[Path, DictConfig]] = []
    base = node.pop("base", None)
    if base is not None:
        chain = _read_chain((path.parent / str(base)), (*seen, path.resolve()))
    return [*chain, (path, node)]


def _describe(exc: OmegaConfBaseException) -> str:
    key = getattr(exc, "full_key", None)
    msg = str(exc).splitlines()[0]
    return f"key '{key}': {msg}" if key else msg


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Schema defaults <- YAML chain (base first) <- ``key=value`` overrides, then validated."""
    cfg = OmegaConf.structured(ExperimentConfig)
    sources = _read_chain(resolve_config(path)) if path is not None else []
    for src, node in sources:
        try:
            cfg = OmegaConf.merge(cfg, node)
        except OmegaConfBaseException as exc:
            raise ConfigError(f"{src}: {_describe(exc)}") from None
    return _finish(_with_overrides(cfg, overrides), str(path or "config"))


def apply_overrides(cfg: ExperimentConfig, overrides: Sequence[str]) -> ExperimentConfig:
    """``key=value`` overrides on top of an existing config (e.g. a checkpoint's), validated."""
    return _finish(_with_overrides(OmegaConf.structured(cfg), overrides), "override")


def _with_overrides(cfg: DictConfig, overrides: Sequence[str]) -> DictConfig:
    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise ConfigError(f"overrides must look like key=value, got {bad}")
    try:
        return OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
    except OmegaConfBaseException as exc:
        raise ConfigError(f"override {_describe(exc)}") from None


def _finish(cfg: DictConfig, where: str) -> ExperimentConfig:
    """The typed, validated config; ``where`` names the source in errors."""
    try:
        obj: ExperimentConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    except OmegaConfBaseException as exc:  # e.g. an interpolation ${...} that does not resolve
        raise ConfigError(f"{where}: {_describe(exc)}") from None
    validate(obj)
    return obj


def validate(cfg: ExperimentConfig) -> None:
    """Values the schema's types cannot rule out."""
    problems = []
    if cfg.version != CONFIG_VERSION:
        problems.append(
            f"version: config version {cfg.version}, this ccreid reads version {CONFIG_VERSION}"
        )
    t, d = cfg.train, cfg.data
    if not (math.isfinite(t.lr) and t.lr > 0):
        problems.append(f"train.lr must be a finite number > 0, got {t.lr}")
    checks = [  # (holds, key, requirement, value)
        (t.step_size >= 1, "train.step_size", ">= 1", t.step_size),
        (math.isfinite(t.gamma) and 0 < t.gamma <= 1, "train.gamma", "in (0, 1]", t.gamma),
        (t.warmup_epochs >= 0, "train.warmup_epochs", ">= 0", t.warmup_epochs),
        (t.max_steps_per_epoch is None or t.max_steps_per_epoch >= 1,
         "train.max_steps_per_epoch", ">= 1 (or null for whole epochs)", t.max_steps_per_epoch),
        (math.isfinite(cfg.loss.weight) and cfg.loss.weight >= 0, "loss.weight", ">= 0", cfg.loss.weight),
        (0 <= cfg.loss.label_smoothing < 1, "loss.label_smoothing", "in [0, 1)",
         cfg.loss.label_smoothing),
        (d.pad >= 0, "data.pad", ">= 0", d.pad),
        (0 <= d.random_erasing <= 1, "data.random_erasing", "a probability in [0, 1]", d.random_erasing),
        (0 <= d.flip <= 1, "data.flip", "a probability in [0, 1]", d.flip),
        (d.workers >= 0, "data.workers", ">= 0", d.workers),
        (max(d.height, d.width) <= MAX_SIDE, "data.height/width", f"<= {MAX_SIDE}",
         f"{d.height}x{d.width}"),
        (cfg.eval.batch_size >= 1, "eval.batch_size", ">= 1", cfg.eval.batch_size),
        (d.seq_len >= 1, "data.seq_len", ">= 1", d.seq_len),
        (d.stride >= 1, "data.stride", ">= 1", d.stride),
    ]  # fmt: skip
    problems += [f"{key} must be {need}, got {value}" for ok, key, need, value in checks if not ok]
    if t.epochs < 1:
        problems.append(f"train.epochs must be >= 1, got {t.epochs}")
    if t.weight_decay < 0:
        problems.append(f"train.weight_decay must be >= 0, got {t.weight_decay}")
    if t.eval_every < 1:
        problems.append(f"train.eval_every must be >= 1, got {t.eval_every}")
    if d.num_identities < 2 or d.num_instances < 2:
        problems.append("data.num_identities and data.num_instances must be >= 2 for triplets")
    if d.batch_size is not None and (d.batch_size < 1 or d.batch_size % d.num_instances):
        problems.append(
            f"data.batch_size ({d.batch_size}) must be a positive multiple of "
            f"data.num_instances ({d.num_instances})"
        )
    elif d.batch_size is not None and d.batch_size // d.num_instances < 2:
        problems.append(
            f"data.batch_size ({d.batch_size}) must hold at least 2 identities of "
            f"data.num_instances ({d.num_instances}) images"
        )
    if min(d.height, d.width) < 32:
        problems.append(f"data.height/width must be >= 32, got {d.height}x{d.width}")
    from ccreid.models.mask_head import MASK_SOURCES

    choices = [  # (key, value, allowed values)
        ("train.precision", t.precision, PRECISIONS),
        ("eval.precision", cfg.eval.precision, PRECISIONS),
        ("data.sampler", d.sampler, ("pk", "clothes")),
        ("loss.distance", cfg.loss.distance, ("cosine", "euclidean")),
        ("train.cre_clothes", t.cre_clothes, ("same", "own")),
        ("model.bsga_init", cfg.model.bsga_init, ("default", "body_prior")),
        ("model.mask_source", cfg.model.mask_source, MASK_SOURCES),
    ]
    problems += [f"{key} must be one of {', '.join(ok)}, got {value!r}"
                 for key, value, ok in choices if value not in ok]  # fmt: skip
    if cfg.model.mask_source == "predicted" and not cfg.model.mask_head:
        problems.append("model.mask_source=predicted needs model.mask_head=true")
    if not (math.isfinite(cfg.loss.mask_weight) and cfg.loss.mask_weight >= 0):
        problems.append(f"loss.mask_weight must be >= 0, got {cfg.loss.mask_weight}")
    if not cfg.loss.margin >= 0:
        problems.append(f"loss.margin must be >= 0, got {cfg.loss.margin}")
    if d.val_ids < 0:
        problems.append(f"data.val_ids must be >= 0, got {d.val_ids}")
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))


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


def migrate(node: DictConfig) -> DictConfig:
    """Old keys in place of new ones, so earlier configs and checkpoints still load:
    model.pretrained / model.weights_path (before 2026-11-26) -> model.weights."""
    model = node.get("model")
    if isinstance(model, DictConfig) and ("pretrained" in model or "weights_path" in model):
        pretrained, path = model.pop("pretrained", False), model.pop("weights_path", None)
        if "weights" not in model:  # torchvision's DEFAULT was what "pretrained" loaded
            model.weights = path or ("imagenet1k_v2" if pretrained else "none")
    return node


def from_yaml_text(text: str) -> ExperimentConfig:
    """Parse a resolved config (e.g. stored in a checkpoint) back into the schema."""
    cfg = OmegaConf.merge(OmegaConf.structured(ExperimentConfig), migrate(OmegaConf.create(text)))
    return OmegaConf.to_object(cfg)  # type: ignore[return-value]
