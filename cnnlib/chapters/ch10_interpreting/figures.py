"""Figures of chapter 10: attribution galleries, occlusion grids, the sanity check, deletion curves,
class-model visualisations, receptive fields, and the explorer that picks image, class, method and layer."""

from __future__ import annotations

import textwrap
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor

from ...data.imagenet import imagenet_classes
from ...viz import figure, to_display
from ...widgets import controls_explorer
from .experiments import decode_png

__all__ = [
    "COARSE",
    "attribution_explorer",
    "plot_attributions",
    "plot_class_models",
    "plot_deletion",
    "plot_occlusion_grid",
    "plot_receptive_fields",
    "plot_sanity",
    "show_map",
]

COARSE = ("occlusion", "cam", "grad-cam")  # maps coarser than pixels: drawn over the photo
METHOD_COLOURS = {  # one colour per method in every curve of the chapter (CAM dotted over Grad-CAM's colour)
    "occlusion": "#0072B2", "gradient": "#D55E00", "smoothgrad": "#009E73", "integrated gradients": "#E69F00",
    "guided backprop": "#CC79A7", "deconvnet": "#000000", "cam": "#56B4E9", "grad-cam": "#882255",
}  # fmt: skip


def _scaled(m: Tensor, signed: bool = False) -> np.ndarray:
    """A map scaled for display: |m| (or m, signed) divided by its 99th percentile, clipped to [0, 1] ([-1, 1])."""
    m = m.detach().float().cpu()
    top = torch.quantile(m.abs().flatten(), 0.99).item() or 1.0
    return (m / top).clamp(-1, 1).numpy() if signed else (m.abs() / top).clamp(0, 1).numpy()


def show_map(ax, image: Tensor, m: Tensor, name: str) -> None:
    """One map on one axis: coarse maps (``COARSE``, or ``"grad-cam @ layer"``) as a heat map over the grey
    photo, pixel maps on black.

    Every map is scaled to its own 99th percentile. Coarse maps share one diverging scale: red is
    evidence for the class, blue against (Grad-CAM has no negative part); pixel maps show magnitudes.
    """
    ax.axis("off")
    arr, _ = to_display(image)
    grey = arr.mean(-1) if arr.ndim == 3 else arr
    kind = name.split(" @ ")[0]  # "grad-cam @ features.4": Grad-CAM at a named layer
    if kind in COARSE:
        ax.imshow(grey, cmap="gray", vmin=0, vmax=1)
        ax.imshow(_scaled(m, signed=True), cmap="coolwarm", vmin=-1, vmax=1, alpha=0.6)
    else:
        ax.imshow(_scaled(m), cmap="inferno", vmin=0, vmax=1)


def plot_attributions(
    images: Tensor, maps: Mapping[str, Tensor], captions: Sequence[str], size: float = 1.55, title: str = ""
) -> Figure:
    """Rows: photos (uint8 N x C x H x W); columns: the photo, then one map per method (name -> N x H x W)."""
    n, names = len(images), list(maps)
    # titles wrapped to the column width (an inch holds ~11 bold 9 pt, ~14 plain 8 pt characters): no collisions
    fig, axes = figure(nrows=n, ncols=len(names) + 1, figsize=(size * (len(names) + 1), (size + 0.45) * n + 0.5))
    for i in range(n):
        ax = axes[i, 0]
        arr, cmap = to_display(images[i])
        ax.imshow(arr, cmap=cmap)
        caption = "\n".join(textwrap.fill(line, max(8, int(size * 14.5))) for line in captions[i].split("\n"))
        ax.set_title(caption, fontsize=8, loc="left")
        ax.axis("off")
        for j, name in enumerate(names, start=1):
            show_map(axes[i, j], images[i], maps[name][i], name)
            if i == 0:
                axes[i, j].set_title(textwrap.fill(name, max(8, int(size * 11))), fontsize=9)
    if title:
        fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig


def plot_occlusion_grid(image: Tensor, grid: Tensor, window: int, stride: int, caption: str) -> Figure:
    """Zeiler & Fergus's map: the class score's drop for each window position, beside the photo."""
    fig, axes = figure(ncols=2, figsize=(7.2, 3.4))
    axes[0, 0].imshow(to_display(image)[0])
    h = image.shape[-1]
    axes[0, 0].add_patch(Rectangle((h / 2 - window / 2, h / 2 - window / 2), window, window, color="#808080"))
    axes[0, 0].set_title(f"{caption}\n(grey: one {window} px window)", fontsize=9)
    top = grid.abs().max().item() or 1.0
    im = axes[0, 1].imshow(grid.cpu().numpy(), cmap="coolwarm", vmin=-top, vmax=top)
    axes[0, 1].set_title(f"score drop per window position\n({grid.shape[0]}x{grid.shape[1]}, stride {stride})",
                         fontsize=9)  # fmt: skip
    fig.colorbar(im, ax=axes[0, 1], fraction=0.046, label="logit drop")
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def _short(stage: str) -> str:
    """A stage's label on the sanity figure: "trained", "logits", "f18" ..."""
    return {"none": "trained", "classifier.1": "logits"}.get(stage, stage.replace("features.", "f"))


def plot_sanity(result: Mapping, photo: Tensor | None = None) -> Figure:
    """Adebayo et al.'s Fig. 2 and 4: rank correlation per randomisation stage, and one photo's maps."""
    rows = result["rows"]
    names = list(rows)
    shown = result["shown_stages"]
    ncols = len(shown) + 1
    fig = figure(figsize=(1.25 * ncols, 1.25 * len(names) + 3.5))[0]
    fig.clf()
    grid = fig.add_gridspec(len(names) + 2, ncols, height_ratios=[2.3, 0.75] + [1] * len(names), hspace=0.15)
    ax = fig.add_subplot(grid[0, :])
    stages = [_short(s) for s in result["stages"]]
    for name in names:
        ax.plot(range(len(stages)), [r["spearman_abs"] for r in rows[name]], marker="o", ms=3, label=name,
                color=METHOD_COLOURS.get(name))  # fmt: skip
    ax.set_xticks(range(len(stages)), stages, fontsize=10, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_ylabel("Spearman ρ of |maps|")
    ax.set_xlabel("randomised from the logits down to (cumulative)", fontsize=9)
    ax.set_ylim(-0.1, 1.05)
    ax.legend(fontsize=9, ncols=3)
    ax.set_title(f"Cascading randomisation of MobileNetV2, {result['photos']} photos")
    for i, name in enumerate(names):
        for j, stage_maps in enumerate(result["maps"][name]):
            a = fig.add_subplot(grid[i + 2, j + 1])
            a.imshow(_scaled(torch.tensor(stage_maps)), cmap="inferno", vmin=0, vmax=1)
            if not np.any(np.asarray(stage_maps)):  # e.g. Grad-CAM once its ReLU clips everything: say so
                a.text(0.5, 0.5, "map is\nall zero", transform=a.transAxes, ha="center", va="center", fontsize=9,
                       color="white")  # fmt: skip
            a.set_xticks([]), a.set_yticks([])
            if j == 0:
                a.set_ylabel(name.replace(" ", "\n", 1), fontsize=9)
            if i == 0:
                a.set_title(_short(shown[j]), fontsize=9)
    if photo is not None:
        a = fig.add_subplot(grid[2, 0])
        a.imshow(to_display(photo)[0])
        a.set_title("photo 1", fontsize=9)
        a.axis("off")
    fig.subplots_adjust(left=0.06, right=0.99, top=0.95, bottom=0.02)
    return fig


def plot_deletion(result: Mapping) -> Figure:
    """Mean class probability as pixels are deleted (left) and inserted (right), per method."""
    fig, axes = figure(ncols=2, figsize=(10, 4.4), sharey=True)
    frac = np.array(result["fraction"])
    for name, row in result["methods"].items():
        style = dict(color=METHOD_COLOURS.get(name, "grey"), ls=":" if name == "cam" else "-")
        if name == "random":
            style = dict(color="black", ls="--")
        for ax, mode in zip(axes[0], ("deletion", "insertion")):
            label = f"{name} (= grad-cam)" if name == "cam" else name
            ax.plot(frac * 100, row[mode]["probability"], label=label if mode == "deletion" else None, **style)
    for ax, mode, better in zip(axes[0], ("deletion", "insertion"), ("lower", "higher")):
        ax.set_xlabel(f"pixels {'deleted' if mode == 'deletion' else 'inserted'}, most important first (%)")
        ax.set_title(f"{mode}:\narea under the curve, {better} is better")
    axes[0, 0].set_ylabel("probability of the class")
    fig.legend(loc="lower center", ncols=5, fontsize=8)
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    return fig


def plot_class_models(result: Mapping, ablation: bool = False) -> Figure:
    """The stored class-model visualisations (``ablation=True``: one class, regularisers added in turn)."""
    items = result["ablation"] if ablation else result["classes"]
    fig, axes = figure(ncols=len(items), figsize=(2.1 * len(items), 2.5))
    for ax, item in zip(axes[0], items):
        ax.imshow(to_display(decode_png(item["png"]))[0])
        label = item["label"] if ablation else item["name"]
        ax.set_title(f"{label}\np = {item['probability']:.2f}", fontsize=9)
        ax.axis("off")
    if ablation:
        fig.suptitle(f"class {result['ablation_class']['name']!r}: regularisers added one at a time", fontsize=10)
    fig.tight_layout()
    return fig


def plot_receptive_fields(
    image: Tensor,
    layers: Sequence[str],
    theoretical: Sequence[int],
    erfs: Mapping[str, Sequence[Tensor]],
    extents: Mapping[str, Sequence[int]] | None = None,
) -> Figure:
    """Top row: the theoretical receptive field of each layer's centre unit drawn on the image; below,
    the effective receptive field of each layer for each set of weights (``erfs``: label -> maps), with
    the square holding 90 % of it (``extents``: label -> side per layer) in cyan."""
    n = len(layers)
    fig, axes = figure(nrows=1 + len(erfs), ncols=n, figsize=(1.9 * n, 1.9 * (1 + len(erfs)) + 0.3))
    size = image.shape[-1]
    for j, (layer, rf) in enumerate(zip(layers, theoretical)):
        ax = axes[0, j]
        ax.imshow(to_display(image)[0])
        side = min(rf, size)
        ax.add_patch(Rectangle((size / 2 - side / 2 - 0.5, size / 2 - side / 2 - 0.5), side, side, fill=False,
                               ec="#F0E442", lw=2))  # fmt: skip
        ax.set_title(f"{layer}\ntheoretical {rf} px", fontsize=8)
        ax.axis("off")
        for i, (label, maps) in enumerate(erfs.items(), start=1):
            a = axes[i, j]
            m = maps[j].detach().float().cpu()
            a.imshow((m / m.max()).numpy(), cmap="inferno", vmin=0, vmax=1)  # linear: the Gaussian's shape
            if extents is not None:
                e = extents[label][j]
                a.add_patch(Rectangle((size / 2 - e / 2 - 0.5, size / 2 - e / 2 - 0.5), e, e, fill=False,
                                      ec="#56B4E9", lw=1.2))  # fmt: skip
                a.set_title(f"90 %: {e} px", fontsize=8)
            a.set_xticks([]), a.set_yticks([])
            if j == 0:
                a.set_ylabel(f"ERF, {label}", fontsize=8)
    fig.tight_layout()
    return fig


def attribution_explorer(
    model: nn.Module,
    images: Tensor,
    x: Tensor,
    methods: Mapping[str, Callable[[nn.Module, str | None], object]],
    layers: Sequence[str],
    classes: Sequence[int],
    captions: Sequence[str],
    image: int = 0,
    method: str = "grad-cam",
    layer: str | None = None,
    target: int | None = None,
):
    """Pick a photo, a class to explain, a method and (for Grad-CAM) a layer; the map is redrawn live.

    ``methods``: name -> ``factory(model, layer)`` returning an attribution method; ``classes``: the
    ImageNet classes offered (the photo's predicted class is the default); ``captions`` one per photo.
    Headless, the call shows the static result for the given values.
    """
    import ipywidgets as widgets

    names = imagenet_classes()
    options = [(f"{c}: {names[c]}", c) for c in classes]
    controls = {
        "image": widgets.Dropdown(options=[(c, i) for i, c in enumerate(captions)], value=image, description="photo"),
        "target": widgets.Dropdown(
            options=[("predicted class", -1)] + options, value=-1 if target is None else target, description="class"
        ),  # fmt: skip
        "method": widgets.Dropdown(options=list(methods), value=method, description="method"),
        "layer": widgets.Dropdown(options=list(layers), value=layer or layers[-1], description="layer"),
    }

    def draw(image: int, target: int, method: str, layer: str) -> Figure:
        xi = x[image : image + 1]
        t = None if target == -1 else target
        with torch.no_grad():
            probs = model(xi).softmax(1)[0]
        c = int(probs.argmax()) if t is None else t
        m = methods[method](model, layer).attribute(xi, target=c)
        fig, axes = figure(ncols=2, figsize=(6.4, 3.3))
        axes[0, 0].imshow(to_display(images[image])[0])
        axes[0, 0].set_title(captions[image], fontsize=9)
        axes[0, 0].axis("off")
        show_map(axes[0, 1], images[image], m[0], method)
        where = f" at {layer}" if method == "grad-cam" else ""
        axes[0, 1].set_title(f"{method}{where}\nclass {names[c]!r}, p = {probs[c]:.2f}", fontsize=9)
        fig.tight_layout()
        return fig

    return controls_explorer(draw, controls, rows=[["image", "target"], ["method", "layer"]],
                             note="pick a photo, a class to explain, a method and its layer")  # fmt: skip
