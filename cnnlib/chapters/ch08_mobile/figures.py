"""Figures and the interactive explorer of chapter 08 (Mobile architectures)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import patheffects
from matplotlib.colors import ListedColormap, to_rgb
from matplotlib.figure import Figure
from torch import Tensor

from ...models.shufflenet import channel_shuffle
from ...viz import STYLE, figure, place_labels
from ...widgets import controls_explorer
from .manifold import relu_roundtrip
from .tables import HOWARD_TABLE2, HOWARD_TABLE6, HOWARD_TABLE7, mobilenet_v1_cost

__all__ = [
    "multiplier_explorer",
    "plot_activations",
    "plot_channel_shuffle",
    "plot_group_reach",
    "plot_guidelines",
    "plot_kind_shares",
    "plot_latency",
    "plot_relu_manifold",
    "plot_zoo_tradeoff",
    "short_name",
]

_COLOURS = STYLE["axes.prop_cycle"].by_key()["color"]


def _text_colour(colour: str, alpha: float = 1.0) -> str:
    """Black or white, whichever contrasts more with ``colour`` drawn at ``alpha`` over white (WCAG luminance)."""
    rgb = alpha * np.array(to_rgb(colour)) + (1 - alpha)
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    luminance = float(lin @ [0.2126, 0.7152, 0.0722])
    return "black" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "white"


def plot_relu_manifold(points: Tensor, dims: Sequence[int] = (2, 3, 5, 15, 30), seed: int = 0) -> Figure:
    """Sandler et al.'s Fig. 1: the spiral, then ``T^+ ReLU(T x)`` for each embedding dimension n."""
    fig, axes = figure(ncols=len(dims) + 1, figsize=(2.3 * (len(dims) + 1), 2.8))
    colour = np.linspace(0, 1, len(points))
    panels = [("input (2-D)", points)] + [(f"n = {n}", relu_roundtrip(points, n, seed)) for n in dims]
    for ax, (title, p) in zip(axes[0], panels):
        ax.scatter(p[:, 0], p[:, 1], c=colour, cmap="viridis", s=3)
        ax.set_title(title, fontsize=10)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("A spiral through ReLU in n dimensions and back: T⁺ ReLU(T x), T random n × 2", fontsize=11)
    fig.tight_layout()
    return fig


def plot_channel_shuffle(channels: int = 12, groups: int = 3) -> Figure:
    """The channels of a labelled tensor before and after ``channel_shuffle``, coloured by their group."""
    per = channels // groups
    x = torch.arange(channels, dtype=torch.float32).view(1, channels, 1, 1)
    after = [int(v) for v in channel_shuffle(x, groups).flatten()]
    label = [f"{'abcdefgh'[i // per]}{i % per}" for i in range(channels)]
    fig, axes = figure(figsize=(0.62 * channels + 1.5, 2.6))
    ax = axes[0, 0]
    for row, order, y in (("before", list(range(channels)), 1.0), ("after", after, 0.0)):
        for pos, ch in enumerate(order):
            ax.add_patch(plt.Rectangle((pos, y), 0.9, 0.5, color=_COLOURS[ch // per], alpha=0.75))
            ax.text(pos + 0.45, y + 0.25, label[ch], ha="center", va="center", fontsize=10,
                    color=_text_colour(_COLOURS[ch // per], 0.75))  # fmt: skip
        ax.text(-0.3, y + 0.25, row, ha="right", va="center", fontsize=10)
    for pos, ch in enumerate(after):  # a line from each channel's old position to its new one
        ax.plot([ch + 0.45, pos + 0.45], [1.0, 0.5], color=_COLOURS[ch // per], lw=0.8)
    ax.set_xlim(-1.6, channels)
    ax.set_ylim(-0.1, 1.6)
    ax.axis("off")
    ax.set_title(f"channel_shuffle: {channels} channels in {groups} groups (a, b, c, ...) of {per}", fontsize=11)
    fig.tight_layout()
    return fig


def plot_group_reach(reach: Mapping[str, Tensor], groups: int) -> Figure:
    """One dependency matrix per stack (output channel x input channel): blue = depends, white = does not; thin
    lines between the cells, so a matrix with every dependency reads as full, not blank."""
    fig, axes = figure(ncols=len(reach), figsize=(3.4 * len(reach), 3.6))
    for ax, (title, r) in zip(axes[0], reach.items()):
        n = len(r)
        ax.imshow(r.float().numpy(), cmap=ListedColormap(["white", _COLOURS[0]]), vmin=0, vmax=1)
        seen = int(r.sum(1).float().mean())
        ax.set_title(f"{title}\neach output sees {seen} of {n} inputs", fontsize=10)
        ax.set_xlabel("input channel")
        ax.set_ylabel("output channel")
        ax.grid(False)
        ax.set_xticks(range(0, n, n // groups))
        ax.set_yticks(range(0, n, n // groups))
        for k in np.arange(n + 1) - 0.5:  # cell borders
            ax.axhline(k, color="white", lw=0.6)
            ax.axvline(k, color="white", lw=0.6)
        for k in np.arange(0, n + 1, n // groups) - 0.5:  # group borders
            ax.axhline(k, color="#999999", lw=1)
            ax.axvline(k, color="#999999", lw=1)
    fig.tight_layout()
    return fig


def plot_activations() -> Figure:
    """MobileNetV3's hard versions against the smooth ones: swish vs h-swish, sigmoid vs h-sigmoid."""
    x = torch.linspace(-6, 6, 241)
    fig, axes = figure(ncols=2, figsize=(9, 3.2))
    pairs = (
        ("swish x·σ(x)", torch.nn.functional.silu(x), "h-swish x·ReLU6(x+3)/6", torch.nn.functional.hardswish(x)),
        ("sigmoid σ(x)", torch.sigmoid(x), "h-sigmoid ReLU6(x+3)/6", torch.nn.functional.hardsigmoid(x)),
    )
    for ax, (a, ya, b, yb) in zip(axes[0], pairs):
        ax.plot(x, ya, label=a, lw=2)
        ax.plot(x, yb, "--", label=b, lw=2)
        ax.set_xlabel("x")
        ax.set_ylabel("activation")
        ax.legend(fontsize=8)
    axes[0, 0].set_title("Swish and its hard version")
    axes[0, 1].set_title("The SE gate: sigmoid and hard sigmoid")
    fig.tight_layout()
    return fig


def plot_guidelines(rows: Sequence[Mapping[str, Any]], scale: int = 1) -> Figure:
    """Speed of each variant relative to the guideline's first one: this CPU beside the paper's ARM and GPU."""
    guidelines = list(dict.fromkeys(r["guideline"] for r in rows))
    ncols = min(len(guidelines), 2)
    nrows = -(-len(guidelines) // ncols)
    fig, axes = figure(nrows=nrows, ncols=ncols, figsize=(5 * ncols, 3 * nrows + 0.8))
    for ax in axes.flat[len(guidelines) :]:
        ax.set_visible(False)
    for ax, g in zip(axes.flat, guidelines):
        sel = [r for r in rows if r["guideline"] == g and r["scale"] == scale]
        labels = [r["variant"].replace("c1:c2 = ", "").replace("-fragment-", "-").replace(", ", "\n") for r in sel]
        pos = np.arange(len(sel))
        series = [("this CPU", [r["relative"] for r in sel])]
        if sel[0]["arm"] is not None:
            series.append(("paper, ARM", [r["arm"] / sel[0]["arm"] for r in sel]))
            series.append(("paper, GPU", [r["gpu"] / sel[0]["gpu"] for r in sel]))
        width = 0.8 / len(series)
        for i, (name, values) in enumerate(series):
            ax.bar(pos + (i - (len(series) - 1) / 2) * width, values, width, label=name, color=_COLOURS[[0, 3, 6][i]])
        ax.axhline(1, color="grey", lw=0.8)
        ax.set_xticks(pos, labels, fontsize=10)
        ax.set_ylabel("speed / first variant's")
        ax.set_title(g, fontsize=12)
        ax.grid(axis="x", visible=False)
    # one legend for all the panels, under the title, clear of the bars and of the 1.0 line
    handles, names = max((ax.get_legend_handles_labels() for ax in axes.flat), key=lambda h: len(h[0]))
    fig.suptitle(f"ShuffleNet v2's guidelines, same mult-adds per panel (channels x{scale}, one 56 × 56 image)",
                 fontsize=12)  # fmt: skip
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))
    fig.legend(handles, names, loc="upper center", ncol=len(names), fontsize=10, frameon=False,
               bbox_to_anchor=(0.5, 1 - 0.3 / fig.get_figheight()))  # fmt: skip
    return fig


# Short labels for the latency scatter, and a family (colour and marker) per model
SHORT_NAMES: dict[str, str] = {
    "mobilenet_v1": "MobileNet v1",
    "mobilenet_v2": "MobileNetV2",
    "mobilenet_v3_large": "V3-Large",
    "mobilenet_v3_small": "V3-Small",
    "squeezenet1_0": "SqueezeNet 1.0",
    "squeezenet1_1": "SqueezeNet 1.1",
    "sqnxt23_1x": "SqNxt-23",
    "shufflenet_v1_g3": "ShuffleNet v1",
    "shufflenet_v2_x1_0": "ShuffleNet v2",
    "efficientnet_b0": "EfficientNet-B0",
    "alexnet": "AlexNet",
    "resnet18": "ResNet-18",
    "resnet50": "ResNet-50",
}
# (name prefix, colour, marker): strong colours, since the labels are written in them
_FAMILIES = (
    ("mobilenet", "#0072B2", "o"),
    ("squeeze", "#D55E00", "s"),
    ("sqnxt", "#009E73", "s"),
    ("shufflenet", "#D55E00", "D"),
    ("efficientnet", "#CC79A7", "^"),
)


def short_name(model: str) -> str:
    """The label of ``model`` in the latency figure (:data:`SHORT_NAMES`, else the name itself)."""
    return SHORT_NAMES.get(model, model)


def _style(model: str) -> tuple[str, str]:
    """(colour, marker) of a model's family; the reference models (anything else) are black crosses."""
    for prefix, colour, marker in _FAMILIES:
        if model.startswith(prefix):
            return colour, marker
    return "black", "X"


def plot_latency(rows: Sequence[Mapping[str, Any]], title: str = "", reference: str = "resnet18") -> Figure:
    """Mult-adds against measured latency at batch 1 and batch 64 (log-log), each point labelled with its model's
    short name (:func:`short_name`) in its family's colour (MobileNet blue, SqueezeNet red, SqueezeNext green,
    ShuffleNet orange, EfficientNet purple; the reference models black).

    The dotted line is the ``reference`` model's mult-adds per second: points above it run their
    arithmetic more slowly than the reference does.
    """
    fig, axes = figure(ncols=2, figsize=(11, 5))
    ref = next((r for r in rows if r["model"] == reference), None)
    keys = ("batch1_ms", "batch64_ms")
    for ax, key, batch in zip(axes[0], keys, (1, 64)):
        for r in rows:
            colour, marker = _style(r["model"])
            ax.loglog(r["mult_adds"] / 1e6, r[key], marker, color=colour, ms=7)
        if ref is not None:
            xs = np.geomspace(min(r["mult_adds"] for r in rows) / 1e6, max(r["mult_adds"] for r in rows) / 1e6, 10)
            ax.loglog(xs, ref[key] * xs / (ref["mult_adds"] / 1e6), ":", color="grey", label=f"{reference}'s rate")
            ax.legend(fontsize=10, loc="upper left")
        ax.margins(0.15)
        ax.set_xlabel("mult-adds per image (millions)")
        ax.set_ylabel(f"latency, batch {batch} (ms)")
        ax.set_title(f"batch {batch}", fontsize=12)
    fig.suptitle(title or "Fewer mult-adds, but not proportionally less time")
    fig.tight_layout()
    halo = [patheffects.withStroke(linewidth=3, foreground="white")]  # the reference line passes behind the names
    for ax, key in zip(axes[0], keys):  # after the layout: the label boxes are measured where they will stay
        names = place_labels(
            ax,
            [(r["mult_adds"] / 1e6, r[key]) for r in rows],
            [short_name(r["model"]) for r in rows],
            fontsize=10,
            colours=[_style(r["model"])[0] for r in rows],
        )
        for name in names:
            name.set_path_effects(halo)
            name.set_zorder(4)
    return fig


def plot_kind_shares(rows: Sequence[Mapping[str, Any]], title: str = "") -> Figure:
    """Per layer kind: share of the mult-adds (Howard et al.'s Table 2 and counted) beside share of the time."""
    fig, axes = figure(figsize=(8, 3.6))
    ax = axes[0, 0]
    pos = np.arange(len(rows))
    published = [HOWARD_TABLE2.get(r["kind"], (None, None))[0] for r in rows]
    ax.bar(pos - 0.27, [r["mult_add_share"] for r in rows], 0.27, label="share of mult-adds (counted)")
    ax.bar(
        pos,
        [p if p is not None else 0 for p in published],
        0.27,
        label="share of mult-adds (Howard, Table 2)",
        color=_COLOURS[3],
    )
    ax.bar(pos + 0.27, [r["time_share"] for r in rows], 0.27, label="share of the time (measured)", color=_COLOURS[2])
    ax.set_xticks(pos, [r["kind"].split(" (")[0] for r in rows], fontsize=8)
    ax.set_ylabel("% of the model")
    ax.set_title(title or "MobileNet v1: where the arithmetic is, and where the time goes")
    ax.legend(fontsize=8)
    ax.grid(axis="x", visible=False)
    fig.tight_layout()
    return fig


def plot_zoo_tradeoff(rows: Sequence[Mapping[str, Any]], title: str = "") -> Figure:
    """The zoo's CIFAR-10 checkpoints: batch-1 latency against test error, marker area ~ parameters."""
    fig, axes = figure(figsize=(7, 4))
    ax = axes[0, 0]
    xy = [(r["batch1_ms"], 100 * (1 - r["test_acc"])) for r in rows]
    areas = [20 + r["params"] / 2e4 for r in rows]
    for i, ((x, y), area) in enumerate(zip(xy, areas)):
        ax.scatter(x, y, s=area, color=_COLOURS[i % 7], alpha=0.7)
    ax.margins(0.12)
    ax.set_xlabel("CPU latency, one 32 × 32 image (ms)")
    ax.set_ylabel("CIFAR-10 test error (%)")
    ax.set_title(title or "The zoo on CIFAR-10: latency and error (area ~ parameters)")
    fig.tight_layout()
    place_labels(ax, xy, [r["model"] for r in rows], radii=[np.sqrt(a) / 2 for a in areas])
    return fig


WIDTHS = (0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0)
RESOLUTIONS = (128, 160, 192, 224)


def _multiplier_figure(width: float, resolution: int) -> Figure:
    fig, axes = figure(ncols=2, figsize=(10, 3.8))
    left, right = axes[0]
    for i, r in enumerate(RESOLUTIONS):
        macs = [mobilenet_v1_cost(w, r)[1] / 1e6 for w in WIDTHS]
        left.plot(WIDTHS, macs, "-o", ms=3, color=_COLOURS[i], label=f"{r} px", alpha=1 if r == resolution else 0.4)
    left.plot(list(HOWARD_TABLE6), [v[1] for v in HOWARD_TABLE6.values()], "kx", ms=8, label="Howard, Table 6 (224 px)")
    params, macs = mobilenet_v1_cost(width, resolution)
    left.plot([width], [macs / 1e6], "*", ms=16, color="#D55E00")
    left.set_xlabel("width multiplier α")
    left.set_ylabel("mult-adds (millions)")
    left.legend(fontsize=8)
    left.set_title("Cost ∝ α² ρ²")
    right.plot(WIDTHS, [mobilenet_v1_cost(w, 224)[0] / 1e6 for w in WIDTHS], "-o", ms=3, label="counted (any ρ)")
    right.plot(list(HOWARD_TABLE6), [v[2] for v in HOWARD_TABLE6.values()], "kx", ms=8, label="Howard, Table 6")
    right.plot([width], [params / 1e6], "*", ms=16, color="#D55E00")
    right.set_xlabel("width multiplier α")
    right.set_ylabel("parameters (millions)")
    right.legend(fontsize=8)
    right.set_title("Parameters ∝ α² (ρ does not change them)")
    base = mobilenet_v1_cost(1.0, 224)[1]
    published = (
        HOWARD_TABLE7.get(resolution) if width == 1.0 else HOWARD_TABLE6.get(width) if resolution == 224 else None
    )
    note = f"; Howard et al.: top-1 {published[0]} %" if published else ""
    fig.suptitle(
        f"MobileNet α = {width:g}, {resolution} px: {params / 1e6:.2f} M parameters, {macs / 1e6:.0f} M mult-adds "
        f"({macs / base:.0%} of 1.0-224){note}",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def multiplier_explorer(width: float = 0.5, resolution: int = 160):
    """Sliders for MobileNet v1's width multiplier α and input resolution; counts from cnnlib's model."""
    import ipywidgets as widgets

    controls = {
        "width": widgets.SelectionSlider(options=list(WIDTHS), value=width, description="α", continuous_update=False),
        "resolution": widgets.SelectionSlider(
            options=list(RESOLUTIONS), value=resolution, description="pixels", continuous_update=False
        ),
    }
    return controls_explorer(_multiplier_figure, controls, note="move α and the resolution to recount the network")
