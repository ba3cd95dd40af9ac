"""Plot helpers with one look: every figure has a title, labelled axes and a consistent palette.

Each function takes results (tensors, histories, matrices) and returns the
matplotlib ``Figure``; none of them trains or evaluates anything.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter
from matplotlib.transforms import Bbox
from torch import Tensor

__all__ = [
    "PALETTE",
    "STYLE",
    "TOL_MUTED",
    "use_course_style",
    "figure",
    "place_labels",
    "plot_confusion_matrix",
    "plot_feature_maps",
    "plot_filters",
    "plot_history",
    "plot_steps",
    "plot_bars",
    "show_images",
    "to_display",
]

# Okabe & Ito's colour-blind-safe palette (Color Universal Design, 2008; Wong, Nature Methods 8, 441, 2011),
# in the order the course's series take them. Charts with more series than this use Paul Tol's muted
# scheme (also colour-blind safe); greys are free. tests/test_viz_analysis.py holds cnnlib's colours to this.
PALETTE = {
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "bluish green": "#009E73",
    "orange": "#E69F00",
    "reddish purple": "#CC79A7",
    "sky blue": "#56B4E9",
    "black": "#000000",
    "yellow": "#F0E442",
}
TOL_MUTED = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255", "#AA4499")

# One style for every figure of the course, sized for a slide: a 8 x 4.5 in figure at 100 dpi is 800 x 450
# pixels, which a 1280 x 720 deck shows at about 1.2x, so 12 pt text reads as about 20 px on a projector.
# start() applies it to the whole notebook; figure() applies it to the figure it makes.
STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "figure.figsize": (8, 4.5),
    "font.size": 12,
    "axes.titlesize": 13,
    "axes.titleweight": "bold",
    "axes.labelsize": 12,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 11,
    "figure.titlesize": 14,
    "lines.linewidth": 2.0,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "image.cmap": "viridis",
    "axes.prop_cycle": plt.cycler(color=list(PALETTE.values())[:7]),
}


def use_course_style() -> None:
    """Make :data:`STYLE` the default for every figure from now on (``start()`` calls it)."""
    plt.rcParams.update(STYLE)


def figure(**kwargs) -> tuple[Figure, np.ndarray]:
    """``plt.subplots(squeeze=False, **kwargs)`` in the course's style: every figure of the course starts here."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(squeeze=False, **kwargs)
    return fig, axes


def to_display(img: Tensor) -> tuple[np.ndarray, str | None]:
    """C x H x W (uint8 or float) -> H x W (grey) or H x W x 3 array in [0, 1]."""
    img = img.detach().cpu().float()
    if img.max() > 1.5:
        img = img / 255.0
    if img.shape[0] == 1:
        return img[0].numpy(), "gray"
    return img.permute(1, 2, 0).clamp(0, 1).numpy(), None


def show_images(
    images: Tensor,
    labels: Sequence[int] | Tensor | None = None,
    classes: Sequence[str] | None = None,
    predictions: Sequence[int] | Tensor | None = None,
    ncols: int = 8,
    title: str = "",
    size: float = 1.3,
) -> Figure:
    """A grid of images (N x C x H x W, uint8 or in [0, 1]); captions show labels and, if given, predictions in
    red when wrong."""
    n = len(images)
    if n == 0:
        raise ValueError("no images to show")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    captioned = labels is not None or predictions is not None
    two_lines = labels is not None and predictions is not None  # "label" over "→ prediction"
    row_height = size + (0.6 if two_lines else 0.35 if captioned else 0.0)  # room for the caption above
    fig, axes = figure(nrows=nrows, ncols=ncols, figsize=(size * ncols, row_height * nrows + (0.5 if title else 0.2)))
    name = (lambda i: classes[int(i)]) if classes is not None else (lambda i: str(int(i)))
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        arr, cmap = to_display(images[k])
        ax.imshow(arr, cmap=cmap, vmin=0, vmax=1)
        caption, color = "", "black"
        if labels is not None:
            caption = name(labels[k])
        if predictions is not None:
            wrong = labels is not None and int(predictions[k]) != int(labels[k])
            caption = f"{caption}\n→ {name(predictions[k])}" if labels is not None else name(predictions[k])
            color = "#D55E00" if wrong else "black"
        if caption:
            ax.set_title(caption, fontsize=9, color=color, fontweight="bold" if color != "black" else "normal")
    if title:
        fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig


def plot_history(
    histories: Mapping[str, Mapping] | Mapping,
    metrics: Sequence[str] = ("loss", "error"),
    title: str = "",
    x: str = "epoch",
) -> Figure:
    """Training curves of one history (``fit``'s return value) or a dict ``{label: history}``.

    ``metrics``: any of ``"loss"``, ``"acc"`` and ``"error"`` (100 - accuracy, in %). Train curves are
    dashed, test curves solid.
    """
    if "epochs" in histories:
        histories = {"": histories}
    fig, axes = figure(ncols=len(metrics), figsize=(5 * len(metrics), 3.8))
    colors = STYLE["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes.flat, metrics):
        for i, (label, hist) in enumerate(histories.items()):
            color = colors[i % len(colors)]
            epochs = hist["epochs"]
            xs = [e["epoch"] for e in epochs] if x == "epoch" else np.cumsum([e["seconds"] for e in epochs])
            for split, style in (("train", "--"), ("test", "-")):
                key = f"{split}_{'acc' if metric in ('acc', 'error') else metric}"
                if key not in epochs[0]:
                    continue
                ys = np.array([e[key] for e in epochs], dtype=float)
                if metric == "error":
                    ys = 100 * (1 - ys)
                elif metric == "acc":
                    ys = 100 * ys
                name = f"{label} {split}".strip()
                ax.plot(xs, ys, style, color=color, label=name, marker="o", ms=3)
        ax.set_xlabel("epoch" if x == "epoch" else "training time (s)")
        if x == "epoch":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel({"loss": "cross-entropy loss", "acc": "accuracy (%)", "error": "error (%)"}[metric])
        ax.set_title({"loss": "Loss", "acc": "Accuracy", "error": "Error rate"}[metric])
        if metric == "error":
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        # a framed legend at 10 pt: readable on a slide, and the curves stay visible around it
        ax.legend(fontsize=10, frameon=True, framealpha=0.85, facecolor="white", edgecolor="none")
    if title:
        fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig


def plot_steps(
    histories: Mapping[str, Mapping], metric: str = "loss", title: str = "", images_per_step: int | None = None
) -> Figure:
    """Training loss (or error, %) every ``config.log_every`` steps, one line per history (``{label: history}``)."""
    fig, axes = figure(figsize=(8, 4))
    ax = axes[0, 0]
    colors = STYLE["axes.prop_cycle"].by_key()["color"]
    for i, (label, hist) in enumerate(histories.items()):
        if not hist.get("steps"):
            raise ValueError(f"history {label!r} has no per-step records: train with TrainConfig(log_every=...)")
        xs = np.array([s["step"] for s in hist["steps"]])
        ys = np.array([s["train_loss"] if metric == "loss" else 100 * (1 - s["train_acc"]) for s in hist["steps"]])
        ax.plot(xs, ys, color=colors[i % len(colors)], label=label, lw=1.5)
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("optimiser step (batch of images)")
    ax.set_ylabel("training cross-entropy loss" if metric == "loss" else "training error (%)")
    ax.set_title(title or ("Training loss" if metric == "loss" else "Training error"))
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def plot_filters(weight: Tensor, title: str = "Filters", ncols: int = 8, size: float = 1.0) -> Figure:
    """Convolution kernels ``out x in x k x k``: one tile per output channel (first input channel, or RGB if in=3).

    Each tile is scaled to its own range; blue is negative, red positive (a diverging map centred at 0).
    """
    w = weight.detach().cpu().float()
    n = w.shape[0]
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = figure(nrows=nrows, ncols=ncols, figsize=(size * ncols, (size + 0.3) * nrows + 0.6))
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        if w.shape[1] == 3:
            tile = w[k]
            tile = (tile - tile.min()) / (tile.max() - tile.min() + 1e-8)
            ax.imshow(tile.permute(1, 2, 0).numpy())
        else:
            tile = w[k, 0]
            lim = tile.abs().max().item() + 1e-8
            ax.imshow(tile.numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(str(k), fontsize=8, fontweight="normal")
    fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig


def plot_feature_maps(
    maps: Mapping[str, Tensor], image: Tensor | None = None, max_maps: int = 16, title: str = "", size: float = 1.1
) -> Figure:
    """Feature maps of one image: one row per layer (``{layer name: C x H x W}``), up to ``max_maps`` channels each."""
    rows = list(maps.items())
    ncols = min(max_maps, max(m.shape[0] for _, m in rows)) + (1 if image is not None else 0)
    fig, axes = figure(nrows=len(rows), ncols=ncols, figsize=(size * ncols, size * len(rows) + 0.6))
    for r, (name, fmap) in enumerate(rows):
        fmap = fmap.detach().cpu().float()
        offset = 0
        if image is not None:
            arr, cmap = to_display(image)
            axes[r, 0].imshow(arr, cmap=cmap)
            axes[r, 0].set_title("input" if r == 0 else "", fontsize=8, fontweight="normal")
            offset = 1
        for c in range(ncols - offset):
            ax = axes[r, c + offset]
            ax.axis("off")
            if c < fmap.shape[0]:
                ax.imshow(fmap[c].numpy(), cmap="magma")
                if c == 0:
                    ax.set_title(
                        f"{name}  {fmap.shape[0]}@{fmap.shape[1]}x{fmap.shape[2]}",
                        fontsize=8,
                        loc="left",
                        fontweight="normal",
                    )
        if image is not None:
            axes[r, 0].axis("off")
    if title:
        fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig


def plot_confusion_matrix(
    cm: Tensor, classes: Sequence[str], title: str = "Confusion matrix", hide_diagonal: bool = False
) -> Figure:
    """Counts per (true, predicted) pair; ``hide_diagonal`` leaves out correct predictions so the errors are visible."""
    cm = torch.as_tensor(cm).cpu().numpy().astype(float)
    shown = cm.copy()
    if hide_diagonal:
        np.fill_diagonal(shown, np.nan)
    n = len(classes)
    fig, axes = figure(figsize=(0.55 * n + 2.5, 0.55 * n + 1.5))
    ax = axes[0, 0]
    ax.grid(False)
    im = ax.imshow(np.where(shown > 0, shown, np.nan), cmap="Blues", vmin=0, vmax=max(1.0, float(np.nanmax(shown))))
    for i in range(n):
        for j in range(n):
            if cm[i, j] and not (hide_diagonal and i == j):
                dark = shown[i, j] > 0.6 * np.nanmax(shown)
                ax.text(
                    j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=8, color="white" if dark else "black"
                )
    long_names = max(map(len, classes)) > 2
    ax.set_xticks(range(n), classes, rotation=45 if long_names else 0, ha="right" if long_names else "center")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="images")
    fig.tight_layout()
    return fig


def plot_bars(
    values: Mapping[str, float],
    title: str,
    ylabel: str,
    reference: Mapping[str, float] | None = None,
    fmt: str = "{:.2f}",
) -> Figure:
    """A bar per entry (e.g. test error per variant), with an optional published reference line per entry."""
    fig, axes = figure(figsize=(max(5, 1.4 * len(values) + 1), 3.8))
    ax = axes[0, 0]
    names = list(values)
    bars = ax.bar(names, [values[k] for k in names], color=STYLE["axes.prop_cycle"].by_key()["color"][: len(names)])
    for bar, k in zip(bars, names):
        ax.annotate(
            fmt.format(values[k]),
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=9,
        )
    for label, y in (reference or {}).items():
        ax.axhline(y, color="gray", ls=":", lw=1.5)
        ax.annotate(label, (len(names) - 0.5, y), ha="right", va="bottom", fontsize=8, color="gray")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="x", visible=False)
    fig.tight_layout()
    return fig


def _intersect(p: np.ndarray, q: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the segments p-q and a-b cross."""

    def side(u: np.ndarray, v: np.ndarray, w: np.ndarray) -> float:
        return float(np.sign((v[0] - u[0]) * (w[1] - u[1]) - (v[1] - u[1]) * (w[0] - u[0])))

    return side(p, q, a) * side(p, q, b) < 0 and side(a, b, p) * side(a, b, q) < 0


def _distance(box: Bbox, point: np.ndarray) -> float:
    """Distance from ``point`` to the nearest point of ``box`` (0 inside)."""
    dx = max(box.x0 - point[0], 0.0, point[0] - box.x1)
    dy = max(box.y0 - point[1], 0.0, point[1] - box.y1)
    return float(np.hypot(dx, dy))


def _crosses(box: Bbox, a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the middle of the segment a-b (10 % to 90 % of its length) passes through ``box`` (Liang-Barsky)."""
    lo, hi = 0.1, 0.9
    (ax, ay), (dx, dy) = (float(a[0]), float(a[1])), (float(b[0] - a[0]), float(b[1] - a[1]))
    for p, q in ((-dx, ax - box.x0), (dx, box.x1 - ax), (-dy, ay - box.y0), (dy, box.y1 - ay)):
        if p == 0:
            if q < 0:
                return False
        elif p < 0:
            lo = max(lo, q / p)
        else:
            hi = min(hi, q / p)
    return lo <= hi


def place_labels(
    ax,
    xy: Sequence[tuple[float, float]],
    labels: Sequence[str],
    fontsize: float = 9,
    colours: Sequence[str] | None = None,
    radii: float | Sequence[float] = 6,
) -> list:
    """Write each label beside its point (data coordinates), away from the other labels, points and the legend.

    Each label tries offsets around its point, the nearest without a leader line, the farther ones with a
    thin line to the point; a placement costs 2 for each label or point its text covers, 1 for each label,
    point or leader line its own leader line crosses, 1 for each leader line crossing its text, 1 for each
    other point nearer than its own to a label without a leader line, and 3 if it leaves the axes. The most
    crowded points choose first, then every label is placed again, twice, given all the others, and pairs of
    labels still in conflict are placed together (a local search). Returns the annotations. Call it after the
    layout is final (``tight_layout``): the boxes are measured on the drawn figure. ``colours``: one text
    colour per label (its marker's, say), black by default. ``radii``: each marker's half-width in points (one
    for all, or one per point; a scatter marker of area ``s`` has half-width ``sqrt(s) / 2``)."""
    fig = ax.figure
    fig.canvas.draw()  # fixes the limits and the transforms
    renderer = fig.canvas.get_renderer()
    points = [np.asarray(ax.transData.transform(p)) for p in xy]
    pads = [r * fig.dpi / 72 for r in (radii if isinstance(radii, Sequence) else [radii] * len(points))]
    markers = [Bbox.from_extents(px - r, py - r, px + r, py + r) for (px, py), r in zip(points, pads)]
    legend = ax.get_legend()
    fixed = [legend.get_window_extent(renderer)] if legend is not None else []
    near = ((6, 4), (6, -12), (-6, 4), (-6, -12), (0, 7), (0, -17))
    far = tuple(
        (sx * dx, dy)
        for dx, dy in ((16, 16), (16, -26), (28, -4), (8, 30), (8, -40), (36, 26), (36, -36), (24, 44), (52, 8))
        for sx in (1, -1)
    )

    def annotate(label: str, point: tuple[float, float], offset: tuple[float, float], **style):
        """The label ``offset`` points from ``point``, aligned away from it (the same text for trial and result)."""
        dx = offset[0]
        return ax.annotate(label, point, xytext=offset, textcoords="offset points", fontsize=fontsize,
                           ha="left" if dx > 0 else "right" if dx < 0 else "center", **style)  # fmt: skip

    # every candidate's text box (and leader line: point -> the text's centre, where matplotlib aims it)
    candidates = []
    for k, ((x, y), label) in enumerate(zip(xy, labels)):
        options = []
        for dx, dy in near + far:
            ann = annotate(label, (x, y), (dx, dy))
            ann.update_positions(renderer)
            box = Text.get_window_extent(ann, renderer).expanded(1.04, 1.1)
            ann.remove()
            line = None if (dx, dy) in near else (points[k], np.array([(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2]))
            options.append(((dx, dy), box, line))
        candidates.append(options)

    def cost(k: int, option: tuple, chosen: Mapping[int, tuple]) -> int:
        _, box, line = option
        others = [o for j, o in chosen.items() if j != k]
        boxes = [o[1] for o in others] + fixed
        dots = [m for j, m in enumerate(markers) if j != k]
        c = 2 * sum(box.overlaps(b) for b in boxes) + 2 * sum(box.overlaps(m) for m in dots)
        c += sum(_crosses(box, *o[2]) for o in others if o[2] is not None)
        if line is not None:
            c += sum(_crosses(b, *line) for b in boxes + dots)
            c += sum(_intersect(*line, *o[2]) for o in others if o[2] is not None)
        if line is None:  # a label without a leader line must sit nearer its own point than any other
            c += sum(_distance(box, q) < _distance(box, points[k]) for j, q in enumerate(points) if j != k)
        inside = ax.bbox.x0 <= box.x0 and box.x1 <= ax.bbox.x1 and ax.bbox.y0 <= box.y0 and box.y1 <= ax.bbox.y1
        return c + (0 if inside else 3)

    def best(k: int, chosen: Mapping[int, tuple]) -> tuple:
        return min(candidates[k], key=lambda o: cost(k, o, chosen))  # the first of the cheapest: nearest first

    crowd = [sum(np.hypot(*(p - q)) < 60 * fig.dpi / 72 for q in points) for p in points]
    chosen: dict[int, tuple] = {}
    for k in sorted(range(len(xy)), key=lambda k: -crowd[k]):
        chosen[k] = best(k, chosen)
    for _ in range(2):
        for k in range(len(xy)):
            chosen[k] = best(k, chosen)
    # two labels still in conflict: try every pair of their options together
    for k in range(len(xy)):
        for j in range(k + 1, len(xy)):
            if cost(k, chosen[k], chosen) == 0 or cost(j, chosen[j], chosen) == 0:
                continue

            def pair_cost(ok: tuple, oj: tuple, k: int = k, j: int = j) -> int:
                trial = {**chosen, k: ok, j: oj}
                return cost(k, ok, trial) + cost(j, oj, trial)

            pair = min(((ok, oj) for ok in candidates[k] for oj in candidates[j]), key=lambda p: pair_cost(*p))
            if pair_cost(*pair) < pair_cost(chosen[k], chosen[j]):
                chosen[k], chosen[j] = pair
    annotations = []
    for k, ((x, y), label) in enumerate(zip(xy, labels)):
        (dx, dy), _, line = chosen[k]
        annotations.append(
            annotate(
                label,
                (x, y),
                (dx, dy),
                color="black" if colours is None else colours[k],
                arrowprops=None if line is None else {"arrowstyle": "-", "lw": 0.6, "color": "grey", "shrinkB": 4},
            )
        )
    return annotations
