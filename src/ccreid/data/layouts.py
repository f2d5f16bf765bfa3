"""What every dataset shares: layout checks, relabelling, masks, statistics.

A concrete dataset only knows its own folders and file names: it implements
`DatasetLayout.scan` (raw records per split) and `DatasetLayout.protocol`
(its evaluation sets).
"""

from __future__ import annotations

import abc
import codecs
import inspect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ccreid.config.schema import DataConfig
from ccreid.data.records import EvalSet, Sample
from ccreid.errors import CCReIDError, InputError
from ccreid.imagefiles import list_images
from ccreid.registry import Registry

MISSING_LISTED = 5


class DatasetError(CCReIDError, ValueError):
    """A dataset tree that does not match its expected layout."""


@dataclass(frozen=True)
class RawSample:
    """A parsed file (or tracklet: its ``frames``, ``path`` the first) before relabelling:
    clothes is any hashable outfit key."""

    path: Path
    pid: int
    camid: int
    clothes: object
    frames: tuple[Path, ...] = ()

    @property
    def files(self) -> tuple[Path, ...]:
        return self.frames or (self.path,)


@dataclass
class ReIDData:
    """A loaded dataset: relabelled training samples and its own evaluation sets."""

    name: str
    root: Path
    train: list[Sample]
    eval_sets: dict[str, EvalSet]
    num_train_pids: int
    num_train_clothes: int
    pid2clothes: np.ndarray = field(repr=False)  # (num_pids, num_clothes) bool
    skipped: dict[str, int] = field(default_factory=dict)
    primary_setting: str = "cc"  # the setting a dataset's papers lead with
    val_set: EvalSet | None = None  # for model selection; never built from test images
    video: bool = False  # items are tracklets (Sample.frames)

    def stats(self) -> list[dict[str, object]]:
        """One row per split: identities, images, outfits and cameras."""
        splits: dict[str, list[Sample]] = {"train": self.train}
        for name, es in self.eval_sets.items():
            splits.setdefault(f"{name}/query", es.query)
            splits.setdefault(f"{name}/gallery", es.gallery)
        return [
            {
                "split": split,
                "ids": len({s.pid for s in items}),
                **({"tracklets": len(items), "frames": sum(len(s.frames) for s in items)}
                   if self.video else {"images": len(items)}),
                "clothes": len({(s.pid, s.clothes) for s in items}),
                "cameras": len({s.camid for s in items}),
            }
            for split, items in splits.items()
        ]  # fmt: skip


class DatasetLayout(abc.ABC):
    """A dataset's folder layout, file-name grammar and evaluation protocol."""

    #: folders (relative to the dataset root) that must exist, shown in errors
    required: Sequence[str] = ()
    #: a short drawing of the expected tree, shown when a folder is missing
    layout_help: str = ""
    #: a sub-folder the root may be given above (e.g. "VC-Clothes")
    default_subdir: str | None = None
    #: other names that sub-folder goes by (e.g. the name of the folder as distributed)
    other_subdirs: Sequence[str] = ()
    #: the evaluation setting that papers lead with for this dataset
    primary_setting: str = "cc"
    #: splits that are neither training nor test (e.g. PRCC's "val"): no identity check
    validation_splits: Sequence[str] = ()
    #: items are tracklets (frames in order) rather than images
    video: bool = False

    def __init__(self, **options: object) -> None:
        if options:
            raise InputError(
                f"data.options {sorted(options)} are not options of {type(self).__name__} (it takes none)"
            )

    def resolve_root(self, root: Path) -> Path:
        for sub in (self.default_subdir, *self.other_subdirs):
            if sub and (root / sub).is_dir():
                return root / sub
        return root

    def check_layout(self, root: Path) -> None:
        if not root.is_dir():
            raise DatasetError(
                f"dataset folder {root} does not exist.\nExpected:\n{self.layout_help}"
            )
        for sub in self.required:
            if not (root / sub).is_dir():
                raise DatasetError(
                    f"{root / sub} is missing: expected this layout under {root}:\n{self.layout_help}"
                )

    @abc.abstractmethod
    def scan(self, root: Path) -> dict[str, list[RawSample]]:
        """Parsed files per split name ('train' plus the splits the protocol uses)."""

    @abc.abstractmethod
    def protocol(self, splits: dict[str, list[Sample]]) -> dict[str, EvalSet]:
        """Evaluation sets built from the (labelled) test splits."""

    def file_labels(self, path: Path) -> RawSample | None:
        """What a single file's name (and the folders it sits in) say about it, for files
        outside a loaded split (a search gallery, a query): None when this layout's names
        do not say, or the file is not named by its rules. A field the names do not carry
        is None (never a made-up value)."""
        return None

    def validation(self, splits: dict[str, list[Sample]]) -> EvalSet | None:
        """The dataset's own validation set, if it ships one: by default its "val_query"
        and "val_gallery" splits, general setting (LaST, DeepChange); PRCC overrides."""
        if "val_query" in splits and "val_gallery" in splits:
            return EvalSet(splits["val_query"], splits["val_gallery"], "general")
        return None


class FileNameLayout(DatasetLayout):
    """A layout whose splits are flat folders of files named by one regular expression.

    Subclasses set ``splits`` (split -> folder), ``pattern`` and ``expected_name``, and
    turn a match into a record in `record` (``None`` skips a file and counts it).
    Patterns are compiled with ``re.ASCII``: ``\\d`` otherwise matches other scripts'
    digits, which ``int`` reads as an identity.
    """

    splits: dict[str, str] = {}
    pattern: re.Pattern[str]
    expected_name: str = ""

    def __init__(self) -> None:
        self.skipped: dict[str, int] = {}

    @property
    def required(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(self.splits.values())

    #: whether the names carry an outfit (Market-1501's do not: its records use the pid)
    names_outfits: bool = True

    def record(self, path: Path, match: re.Match[str], split: str) -> RawSample | None:
        raise NotImplementedError

    def file_labels(self, path: Path) -> RawSample | None:
        match = self.pattern.match(Path(path).stem)
        if not match:
            return None
        rec = self.record(Path(path), match, "gallery")
        if rec is None or self.names_outfits:
            return rec
        return RawSample(rec.path, rec.pid, rec.camid, None)

    def scan(self, root: Path) -> dict[str, list[RawSample]]:
        out: dict[str, list[RawSample]] = {}
        for split, folder in self.splits.items():
            items = []
            for path in list_images(root / folder):
                match = self.pattern.match(path.stem)
                if not match:
                    raise parse_error(path, self.expected_name)
                rec = self.record(path, match, split)
                if rec is not None:
                    items.append(rec)
            out[split] = items
        return out


DATASETS: Registry[type[DatasetLayout]] = Registry("dataset")


def _refuse_escaping_links(raw: dict[str, list[RawSample]], root: Path) -> None:
    """A symlink may point anywhere inside the dataset root, never outside it."""
    real_root = root.resolve()
    for items in raw.values():
        for r in items:
            for path in r.files:
                if path.is_symlink() and not path.resolve().is_relative_to(real_root):
                    raise DatasetError(f"{path} is a symlink to {path.resolve()}, outside {root}")


def _refuse_shared_identities(
    raw: dict[str, list[RawSample]], name: str, validation_splits: Sequence[str] = ()
) -> None:
    """Training identities must not appear in a test split: that would leak the answer."""
    train_ids = {r.pid for r in raw["train"]}
    for split, items in raw.items():
        if split == "train" or split in validation_splits:
            continue
        shared = sorted(train_ids & {r.pid for r in items})
        if shared:
            example = next(r.path for r in items if r.pid == shared[0])
            train_example = next(r.path for r in raw["train"] if r.pid == shared[0])
            raise DatasetError(
                f"{len(shared)} identities of {name} split {split!r} also appear in 'train' "
                f"(e.g. pid {shared[0]}: {example} and {train_example}); training and test "
                "identities must be disjoint"
            )


def ascii_int(text: str) -> int | None:
    """``text`` as a non-negative ASCII decimal integer, else ``None``: ``str.isdigit``
    accepts superscript digits (``int`` then fails) and ``int`` accepts other
    scripts' digits, neither of which is an identity in a dataset's names."""
    return int(text) if text.isascii() and text.isdigit() else None


def read_lines(path: Path) -> list[str]:
    """A list file's lines, decoded as UTF-8 (a leading BOM dropped); a byte that is not
    UTF-8 is a `DatasetError` naming the file and the line it is on."""
    data = path.read_bytes().removeprefix(codecs.BOM_UTF8)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DatasetError(
            f"{path}:{line}: byte {data[exc.start]:#04x} is not UTF-8 (expected a UTF-8 text file)"
        ) from None
    lines = [line.removesuffix("\r") for line in text.split("\n")]  # numbered as editors do
    return lines[:-1] if lines and not lines[-1] else lines


def parse_error(path: Path, expected: str) -> DatasetError:
    return DatasetError(f"cannot parse file name {path}: expected {expected}")


def _codes(keys: Iterable[object]) -> dict[object, int]:
    """Dense 0..n-1 codes in sorted key order (deterministic across runs)."""
    return {k: i for i, k in enumerate(sorted(set(keys), key=repr))}


def _attach_masks(
    raw: dict[str, list[RawSample]], root: Path, mask_root: Path | None
) -> dict[str, list[tuple[str, ...] | None]]:
    """Mask paths per item (one per file: an image, or each frame of a tracklet); all
    missing masks of all splits are counted in one error."""
    if mask_root is None:
        return {split: [None] * len(items) for split, items in raw.items()}
    # A mask root mirrors the dataset folder (or the folder above it).
    base = mask_root / root.name if (mask_root / root.name).is_dir() else mask_root
    masks = {
        split: [tuple(base / f.relative_to(root).with_suffix(".png") for f in r.files)
                for r in items]
        for split, items in raw.items()
    }  # fmt: skip
    every = [m for paths in masks.values() for item in paths for m in item]
    missing = [m for m in every if not m.is_file()]
    if missing:
        listed = "\n  ".join(str(m) for m in missing[:MISSING_LISTED])
        raise DatasetError(
            f"{len(missing)} of {len(every)} parsing masks are missing under {base}, e.g.:\n"
            f"  {listed}\nRun `ccreid parse {root} --out {base}` to make them."
        )
    return {
        split: [tuple(str(m) for m in item) for item in paths] for split, paths in masks.items()
    }


def _sample(r: RawSample, pid: int, clothes: int, masks: tuple[str, ...] | None) -> Sample:
    """The relabelled record; a tracklet keeps its frames and their masks."""
    frames = tuple(str(f) for f in r.frames)
    return Sample(str(r.path), pid, r.camid, clothes, masks[0] if masks else None, frames,
                  masks if masks and frames else ())  # fmt: skip


def _split_off_identities(
    train: list[RawSample], val_ids: int
) -> tuple[list[RawSample], list[RawSample]]:
    """The last ``val_ids`` training identities (in sorted order) become a validation split."""
    pids = sorted({r.pid for r in train})
    if not 0 < val_ids < len(pids) - 1:
        raise DatasetError(f"data.val_ids={val_ids} must be between 1 and {len(pids) - 2}")
    held = set(pids[-val_ids:])
    return [r for r in train if r.pid not in held], [r for r in train if r.pid in held]


def validation_set(samples: list[Sample]) -> EvalSet:
    """For each (identity, camera) the first image is a query, the rest gallery;
    clothes-changing when those identities wear more than one outfit, else general."""
    query, gallery, seen = [], [], set()
    for s in samples:
        (gallery if (s.pid, s.camid) in seen else query).append(s)
        seen.add((s.pid, s.camid))
    outfits = len({(s.pid, s.clothes) for s in samples})
    return EvalSet(query, gallery, "cc" if outfits > len({s.pid for s in samples}) else "general")


def dataset_of(data: DataConfig) -> ReIDData:
    """The dataset a config's data section names (its root, masks, held-out ids, options)."""
    return load_dataset(data.name, data.root, data.mask_root, data.val_ids, **dict(data.options))


def load_dataset(
    name: str, root: str | Path, mask_root: str | Path | None = None, val_ids: int = 0,
    **options: object,
) -> ReIDData:  # fmt: skip
    """Load a dataset by registered name: relabelled train split plus its evaluation sets.

    ``val_ids`` holds out that many training identities as a validation set (for model
    selection) when the dataset ships none."""
    layout = _layout(name, options)
    root = layout.resolve_root(Path(root))
    layout.check_layout(root)
    mask_dir = Path(mask_root) if mask_root is not None else None
    if mask_dir is not None and not mask_dir.is_dir():
        raise DatasetError(f"mask folder {mask_dir} does not exist")
    raw = _scan_checked(layout, root, name)
    if val_ids:
        raw["train"], raw["val"] = _split_off_identities(raw["train"], val_ids)
    splits, num_pids, num_clothes = _relabelled(raw, _attach_masks(raw, root, mask_dir))
    pid2clothes = np.zeros((num_pids, num_clothes), dtype=bool)
    for s in splits["train"]:
        pid2clothes[s.pid, s.clothes] = True
    val_set = validation_set(splits["val"]) if val_ids else layout.validation(splits)
    eval_sets = layout.protocol(splits)
    _refuse_empty_sets(eval_sets, name, root)  # now, not at the first evaluation epochs later
    return ReIDData(
        name=name, root=root, train=splits["train"], eval_sets=eval_sets,
        primary_setting=layout.primary_setting, video=layout.video, val_set=val_set,
        num_train_pids=num_pids, num_train_clothes=num_clothes, pid2clothes=pid2clothes,
        skipped=getattr(layout, "skipped", {}),
    )  # fmt: skip


def _layout(name: str, options: dict[str, object]) -> DatasetLayout:
    """The registered layout ``name`` with its ``data.options``, named when it takes others."""
    layout_cls = DATASETS.get(name)
    try:
        return layout_cls(**options)
    except TypeError:
        accepted = [p for p in inspect.signature(layout_cls.__init__).parameters if p != "self"]
        raise DatasetError(
            f"data.options {sorted(options)} are not options of dataset {name!r} "
            f"(it takes: {', '.join(a for a in accepted if a not in ('options', 'kwargs')) or 'none'})"
        ) from None


def _scan_checked(layout: DatasetLayout, root: Path, name: str) -> dict[str, list[RawSample]]:
    """The layout's splits: no links out of the root, no empty split, no identity shared
    between training and test."""
    raw = layout.scan(root)
    _refuse_escaping_links(raw, root)
    for split, items in raw.items():
        if not items:
            raise DatasetError(f"split {split!r} of {name} under {root} has no images")
    _refuse_shared_identities(raw, name, layout.validation_splits)
    return raw


def _relabelled(
    raw: dict[str, list[RawSample]], mask_paths: dict[str, list[tuple[str, ...] | None]]
) -> tuple[dict[str, list[Sample]], int, int]:
    """Samples per split: training ids and outfits coded 0..n-1, test ids kept as they are
    (their outfits coded apart); with the numbers of training ids and outfits."""
    train_raw = raw["train"]
    pid_codes = _codes(r.pid for r in train_raw)
    clothes_codes = _codes((r.pid, r.clothes) for r in train_raw)
    test_clothes = _codes(
        (r.pid, r.clothes) for split, items in raw.items() if split != "train" for r in items
    )
    splits: dict[str, list[Sample]] = {}
    for split, items in raw.items():
        if split == "train":
            coded = [(pid_codes[r.pid], clothes_codes[(r.pid, r.clothes)]) for r in items]
        else:
            coded = [(r.pid, test_clothes[(r.pid, r.clothes)]) for r in items]
        splits[split] = [_sample(r, pid, clothes, m)
                         for r, (pid, clothes), m in zip(items, coded, mask_paths[split], strict=True)]  # fmt: skip
    return splits, len(pid_codes), len(clothes_codes)


def _refuse_empty_sets(eval_sets: dict[str, EvalSet], name: str, root: Path) -> None:
    for set_name, es in eval_sets.items():
        for side, items in (("query", es.query), ("gallery", es.gallery)):
            if not items:
                raise DatasetError(
                    f"evaluation set {set_name!r} of {name} under {root} has an empty {side} "
                    "(its cameras or splits hold no images)"
                )
