"""Pictures of a run: training curves, ranked lists, BSGA attention, CRE examples."""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from ccreid.data import Sample, read_image  # noqa: E402
from ccreid.fileio import atomic_write  # noqa: E402
from ccreid.models import attention_region_means  # noqa: E402
from ccreid.models.mask_head import mask_overlap  # noqa: E402
from ccreid.parsing import ATR, body_mask, erase_clothes, get_schema, to_parts  # noqa: E402
from ccreid.parsing.labelmaps import read_label_map  # noqa: E402

PART_COLOURS = np.array(
    [
        [0, 0, 0],
        [255, 200, 80],
        [220, 40, 40],
        [40, 80, 220],
        [200, 60, 200],
        [60, 200, 90],
        [40, 200, 220],
    ],
    dtype=np.uint8,
)


def _save(fig: plt.Figure, path: Path) -> Path:
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    finally:
        plt.close(fig)
    return path


def training_curves(runs: dict[str, list[dict]], path: Path, metric: str = "cc/mAP") -> Path:
    """Loss and an eval metric per epoch, one line per run."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, rows in runs.items():
        epochs = [r["epoch"] for r in rows]
        axes[0].plot(epochs, [r["loss"] for r in rows], marker="o", label=name)
        pts = [(r["epoch"], r[metric]) for r in rows if metric in r]
        if pts:
            axes[1].plot(*zip(*pts, strict=True), marker="o", label=name)
    axes[0].set(title="training loss", xlabel="epoch", ylabel="L_id + L_tri")
    axes[1].set_xlim(axes[0].get_xlim())  # one evaluation point still sits on the epoch axis
    axes[1].set(title=metric.replace("/", " ") + " (%)", xlabel="epoch")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def _rgb(path: str) -> np.ndarray:
    """An image as (H, W, 3) uint8, read the way training reads it."""
    return read_image(path).permute(1, 2, 0).numpy()


def _thumb(path: str, size: tuple[int, int] = (64, 128)) -> np.ndarray:
    return np.asarray(Image.fromarray(_rgb(path)).resize(size))


def ranked_lists(
    queries: list[Sample],
    gallery: list[Sample],
    rankings: dict[str, list[np.ndarray]],
    path: Path,
    top_k: int = 10,
) -> Path:
    """For each query, the ranked gallery of each model (lists may be shorter than
    ``top_k``). Frame: green = same identity, red = another. Title: "=" when the outfit is
    the query's, "~" when it differs (clothes-changing hits are green with "~")."""
    rows = [
        (q, name, orders[qi]) for qi, q in enumerate(queries) for name, orders in rankings.items()
    ]
    width = max(1, min(top_k, max((len(order) for _, _, order in rows), default=1)))
    fig, axes = plt.subplots(len(rows), width + 1, figsize=(1.0 * (width + 1), 2.1 * len(rows)))
    axes = np.atleast_2d(axes)
    for r, (q, name, order) in enumerate(rows):
        axes[r, 0].imshow(_thumb(q.path))
        axes[r, 0].set_title(f"query\n{name}", fontsize=7)
        for k in range(width):
            ax = axes[r, k + 1]
            if k >= len(order):
                ax.axis("off")
                continue
            g = gallery[int(order[k])]
            ax.imshow(_thumb(g.path))
            known = g.pid >= 0 and q.pid >= 0  # an unknown identity is framed grey
            colour = ("#1a9641" if g.pid == q.pid else "#d7191c") if known else "#999999"
            for side in ax.spines.values():
                side.set(edgecolor=colour, linewidth=3)
            outfit = "=" if g.clothes == q.clothes else "~"
            ax.set_title(f"{k + 1} {outfit}", fontsize=7, color=colour)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    return _save(fig, path)


def _parts_of(sample: Sample, schema: str) -> np.ndarray:
    return to_parts(read_label_map(sample.mask), get_schema(schema))


def cre_examples(samples: list[Sample], path: Path, schema: str = ATR.name) -> Path:
    """Original, 7-part parsing, erased image (CRE) and body mask for each sample."""
    fig, axes = plt.subplots(len(samples), 4, figsize=(6, 2.6 * len(samples)))
    axes = np.atleast_2d(axes)
    for r, s in enumerate(samples):
        image = _rgb(s.path)
        parts = _parts_of(s, schema)
        panels = [image, PART_COLOURS[parts], erase_clothes(image, parts), body_mask(parts) * 255]
        for c, (panel, title) in enumerate(
            zip(panels, ["image", "7 parts", "CRE erased", "body mask"], strict=True)
        ):
            axes[r, c].imshow(panel, cmap="gray" if panel.ndim == 2 else None, vmin=0, vmax=255)
            axes[r, c].set_title(title, fontsize=8)
            axes[r, c].axis("off")
    return _save(fig, path)


def attention_maps(
    images: list[np.ndarray], masks: list[np.ndarray], maps: list[torch.Tensor], path: Path
) -> Path:
    """BSGA's A_f upsampled over each image, beside the body mask that guided it. Every
    row uses the same colour scale (0..1); titles give the mean on body and background."""
    fig, axes = plt.subplots(len(images), 3, figsize=(5.6, 2.6 * len(images)))
    axes = np.atleast_2d(axes)
    for r, (img, mask, amap) in enumerate(zip(images, masks, maps, strict=True)):
        a = torch.nn.functional.interpolate(
            amap[None, None].float(), size=img.shape[:2], mode="bilinear"
        )[0, 0]
        axes[r, 0].imshow(img)
        axes[r, 1].imshow(mask, cmap="gray")
        axes[r, 2].imshow(img)
        shown = axes[r, 2].imshow(a.numpy(), cmap="jet", alpha=0.5, vmin=0, vmax=1)
        means = attention_region_means(amap[None, None], torch.as_tensor(mask)[None, None])
        title = f"A_f body {means['body']:.2f} / bg {means['background']:.2f}"
        for c, t in enumerate(["image", "body mask", title]):
            axes[r, c].set_title(t, fontsize=8)
            axes[r, c].axis("off")
    fig.colorbar(shown, ax=axes[:, 2].tolist(), shrink=0.6, pad=0.12)
    return _save(fig, path)


def mask_comparison(
    images: list[np.ndarray], parser_masks: list[np.ndarray], predicted: list[np.ndarray],
    path: Path,
) -> Path:  # fmt: skip
    """Each test image beside the parser's body mask and the model's own (mask head) mask,
    the two at the resolution BSGA uses them; titles give the IoU of the two."""
    fig, axes = plt.subplots(len(images), 3, figsize=(4.2, 2.6 * len(images)))
    axes = np.atleast_2d(axes)
    for r, (img, parsed, own) in enumerate(zip(images, parser_masks, predicted, strict=True)):
        inter, union = mask_overlap(torch.as_tensor(own), torch.as_tensor(parsed))
        iou = inter / union if union else 1.0
        titles = ["image", "parser mask", f"predicted, IoU {iou:.2f}"]
        for c, (shown, title) in enumerate(zip([img, parsed, own], titles, strict=True)):
            axes[r, c].imshow(shown, cmap=None if c == 0 else "gray", vmin=0, vmax=1)
            axes[r, c].set_title(title, fontsize=8)
            axes[r, c].axis("off")
    return _save(fig, path)


def activation_maps(
    images: list[np.ndarray], maps: dict[str, list[np.ndarray]], path: Path
) -> Path:
    """Figure 1 of the paper: for each query image (a row), the image and each model's
    class-independent activation map (a column per model) overlaid on it."""
    names = list(maps)
    fig, axes = plt.subplots(
        len(images), len(names) + 1, figsize=(1.6 * (len(names) + 1), 2.8 * len(images))
    )
    axes = np.atleast_2d(axes)
    for r, img in enumerate(images):
        axes[r, 0].imshow(img)
        axes[r, 0].set_title("query", fontsize=8)
        for c, name in enumerate(names, start=1):
            axes[r, c].imshow(img)
            axes[r, c].imshow(maps[name][r], cmap="jet", alpha=0.5, vmin=0, vmax=1)
            axes[r, c].set_title(name, fontsize=8)
    for ax in axes.ravel():
        ax.axis("off")
    return _save(fig, path)


def show_mask(image: Path, mask: Path, out: Path, schema: str = ATR.name) -> Path:
    """``ccreid masks show``: one image beside its 7 parts, erased copy and body mask."""
    from ccreid.fileio import check_output_file

    for f in (image, mask):
        if not Path(f).is_file():
            raise FileNotFoundError(f"file {f} does not exist")
    check_output_file(out, ".png")
    return cre_examples([Sample(str(image), 0, 0, 0, str(mask))], out, schema)


def plot_hits(queries: list[Sample], hits: list[list], path: Path, top_k: int,
              query_labels: list | None = None) -> Path:  # fmt: skip
    """The ranked lists of a search (``ccreid search --plot``): each query and its hits,
    framed by identity where the index and the query's name carry one (grey: unknown)."""
    outfits: dict[tuple, int] = {}
    unknown = itertools.count(-1, -1)  # an unknown outfit equals no other

    def coded(path_: str, labels) -> Sample:
        pid = -1 if labels is None or labels.pid is None else labels.pid
        if labels is None or None in (labels.pid, labels.clothes):
            return Sample(path_, pid, -1, next(unknown))
        return Sample(
            path_, pid, -1, outfits.setdefault((labels.pid, labels.clothes), len(outfits))
        )

    qs = [coded(q.path, None if query_labels is None else query_labels[i])
          for i, q in enumerate(queries)]  # fmt: skip
    gallery = [coded(h.path, h.labels) for hs in hits for h in hs]
    bounds = np.cumsum([0, *(len(hs) for hs in hits)])
    orders = [np.arange(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return ranked_lists(qs, gallery, {"search": orders}, path, top_k=top_k)
