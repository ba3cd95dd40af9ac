"""Figures and the explorer of chapter 07 (After ResNet): separable and grouped costs, SE channel weights,
DenseNet feature reuse, and accuracy-versus-cost bubble charts."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from ...viz import figure, place_labels
from ...widgets import controls_explorer
from .costs import conv_cost, separable_cost, separable_ratio
from .se import ExcitationStats

__all__ = [
    "plot_excitations",
    "plot_feature_reuse",
    "plot_grouping",
    "plot_imagenet_bubbles",
    "plot_separable_ratios",
    "plot_specificity",
    "plot_zoo_bubbles",
    "separable_cost_explorer",
]

# one colour and marker per family (Okabe-Ito, Tol muted and greys); families of near colours differ by marker
_FAMILY_STYLES = {
    "alexnet": ("#BBBBBB", "D"),
    "vgg": ("#777777", "o"),
    "repvgg": ("#999999", "s"),
    "googlenet": ("#E69F00", "o"),
    "inception": ("#DDCC77", "s"),
    "resnet": ("#0072B2", "o"),
    "plain": ("#56B4E9", "s"),
    "preact_resnet": ("#332288", "D"),
    "resnext": ("#009E73", "o"),
    "senet": ("#117733", "D"),
    "efficientnet": ("#999933", "s"),
    "densenet": ("#D55E00", "o"),
    "squeezenet": ("#CC79A7", "o"),
    "mobilenet": ("#F0E442", "o"),
    "shufflenet": ("#882255", "s"),
    "xception": ("#AA4499", "^"),
}
# a scatter marker of size s covers this many times a circle's area (pi s / 4): bubble sizes are divided by it
_MARKER_AREA = {"o": 1.0, "s": 4 / np.pi, "D": 4 / np.pi, "^": 2 / np.pi}


def _colour(family: str) -> str:
    return _FAMILY_STYLES.get(family, ("#444444", "o"))[0]


def _marker(family: str) -> str:
    return _FAMILY_STYLES.get(family, ("#444444", "o"))[1]


def plot_separable_ratios(rows: Sequence[Mapping]) -> Figure:
    """Counted separable/regular multiply-adds of each separable layer against its width N, over 1/N + 1/k^2."""
    fig, axes = figure(figsize=(8.5, 3.4))
    ax = axes[0, 0]
    n = np.array([r["c_out"] for r in rows])
    ax.scatter(n, [r["ratio_counted"] for r in rows], color="#0072B2", zorder=3, label="counted, each separable layer")
    k = rows[0]["k"]
    grid = np.geomspace(max(4, n.min() / 2), n.max() * 1.5, 100)
    ax.plot(grid, [separable_ratio(int(g), k) if g >= 1 else np.nan for g in grid], color="#D55E00",
            label=f"formula 1/N + 1/{k}²")  # fmt: skip
    ax.axhline(1 / k**2, color="#999999", ls=":", label=f"1/{k}² = {1 / k**2:.3f} (N → ∞)")
    ax.set_xscale("log")
    ax.set_xlabel("output channels N of the layer")
    ax.set_ylabel("separable / regular mult-adds")
    ax.set_title("Xception's separable convolutions cost about 1/9 of regular 3×3 ones")
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def _cost_figure(c_in: int, c_out: int, k: int, size: int) -> Figure:
    regular, separable = conv_cost(c_in, c_out, k, size), separable_cost(c_in, c_out, k, size)
    fig, axes = figure(ncols=2, figsize=(9, 3.2))
    for ax, key, unit, scale in ((axes[0, 0], "params", "parameters (thousands)", 1e3),
                                 (axes[0, 1], "mult_adds", "multiply-adds (millions)", 1e6)):  # fmt: skip
        values = [regular[key] / scale, separable[key] / scale]
        bars = ax.bar(["regular", "separable"], values, color=["#999999", "#0072B2"])
        ax.bar_label(bars, labels=[f"{v:,.1f}" for v in values], fontsize=9)
        ax.set_ylabel(unit)
    ratio = separable["mult_adds"] / regular["mult_adds"]
    fig.suptitle(
        f"{c_in}→{c_out} channels, {k}×{k}, {size}×{size} map: separable/regular = {ratio:.4f} = 1/{c_out} + 1/{k * k}",
        fontsize=11,
    )
    fig.tight_layout()
    return fig


def separable_cost_explorer(c_in: int = 128, c_out: int = 256, k: int = 3, size: int = 32):
    """Sliders for a convolution's widths, kernel and map size: its cost, regular and depthwise separable."""
    import ipywidgets as widgets

    def slider(value: int, lo: int, hi: int, step: int, name: str) -> widgets.IntSlider:
        return widgets.IntSlider(value=value, min=lo, max=hi, step=step, description=name, continuous_update=False)

    controls = {
        "c_in": slider(c_in, 8, 1024, 8, "C in"),
        "c_out": slider(c_out, 8, 2048, 8, "C out (N)"),
        "k": slider(k, 1, 9, 2, "kernel k"),
        "size": slider(size, 4, 224, 4, "map H=W"),
    }
    return controls_explorer(_cost_figure, controls, rows=[["c_in", "c_out"], ["k", "size"]],
                             note="change the layer; the ratio follows 1/N + 1/k²")  # fmt: skip


def plot_grouping(rows: Sequence[Mapping]) -> Figure:
    """Parameters of a 1x1 + grouped k x k pair as the number of groups grows to one per channel."""
    fig, axes = figure(figsize=(8.5, 3.4))
    ax = axes[0, 0]
    g = [r["groups"] for r in rows]
    ax.plot(g, [r["params"] / 1e3 for r in rows], marker="o", color="#0072B2", label="1×1 + grouped 3×3")
    ax.plot(g, [(r["params"] - r["spatial_params"]) / 1e3 for r in rows], ls="--", color="#999999",
            label="the 1×1 alone")  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set_xticks(g, [str(v) for v in g])
    ax.set_xlabel("groups of the 3×3 (1 = regular; last = one filter per channel)")
    ax.set_ylabel("parameters (thousands)")
    ax.set_title(f"From Inception towers to 'extreme Inception', {rows[0]['channels_per_group']} channels")
    ax.annotate("extreme Inception", (g[-1], rows[-1]["params"] / 1e3), textcoords="offset points",
                xytext=(-90, 25), arrowprops={"arrowstyle": "->"})  # fmt: skip
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def plot_excitations(stats: ExcitationStats, blocks: Sequence[str], classes: Sequence[int] = (0, 3, 8)) -> Figure:
    """Hu et al. Fig. 6 on CIFAR-10: the mean excitation of each channel, per class, for chosen SE blocks."""
    fig, axes = figure(ncols=len(blocks), figsize=(3.6 * len(blocks), 3.2), sharey=True)
    colours = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00"]
    for ax, block in zip(axes[0], blocks):
        means = stats.means[block].numpy()
        x = np.arange(means.shape[1])
        ax.plot(x, stats.overall[block].numpy(), color="#000000", lw=2.5, alpha=0.35, label="all classes")
        for colour, k in zip(colours, classes):
            ax.plot(x, means[k], color=colour, lw=1.2, label=stats.classes[k])
        ax.set_title(f"{block}\nη² = {stats.specificity[block]:.2f}", fontsize=10)
        ax.set_xlabel("channel")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylim(0, 1.02)
    axes[0, 0].set_ylabel("mean excitation s_c")
    axes[0, -1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_specificity(stats: ExcitationStats) -> Figure:
    """η² (the share of the excitations' variance the class explains) for every SE block, input on the left."""
    fig, axes = figure(figsize=(8.5, 3.2))
    ax = axes[0, 0]
    values = [stats.specificity[b] for b in stats.blocks]
    stage = [b.split(".")[0] for b in stats.blocks]
    palette = {s: c for s, c in zip(dict.fromkeys(stage), ["#56B4E9", "#0072B2", "#D55E00", "#009E73"])}
    bars = ax.bar(range(len(values)), values, color=[palette[s] for s in stage])
    ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=8)
    ax.set_xticks(range(len(values)), [b.removesuffix(".se") for b in stats.blocks], rotation=30, fontsize=8)
    ax.set_ylabel("η²: between-class share")
    ax.set_ylim(0, 1)
    ax.set_title(f"How class-specific each SE block's weights are ({stats.images:,} test images)")
    fig.tight_layout()
    return fig


def plot_feature_reuse(maps: Sequence, titles: Sequence[str] | None = None) -> Figure:
    """Huang et al. Fig. 5: mean |weight| from each source (column) into each target (row), per dense block."""
    fig, axes = figure(ncols=len(maps), figsize=(3.5 * len(maps), 3.4), gridspec_kw={"wspace": 0.45})
    vmax = max(float(np.nanmax(m.heat.numpy())) for m in maps)
    for i, (ax, reuse) in enumerate(zip(axes[0], maps)):
        h = reuse.heat.numpy()
        image = ax.imshow(h, cmap="viridis", vmin=0, vmax=vmax)
        ax.grid(False)
        ax.set_xticks(range(h.shape[1]), ["in"] + [str(s) for s in range(1, h.shape[1])], fontsize=8)
        ax.set_yticks(range(h.shape[0]), list(reuse.targets), fontsize=8)
        ax.set_xlabel("source layer s")
        ax.set_title(titles[i] if titles else f"dense block {i + 1}", fontsize=10)
    axes[0, 0].set_ylabel("target layer ℓ")
    fig.colorbar(image, ax=list(axes[0]), shrink=0.8, label="mean |w|")
    return fig


def _bubbles(ax, xs, ys, params, families, labels, scale: float) -> list[tuple]:
    """Draw the bubbles and the family legend entries; returns (x, y, area, label) of each bubble drawn, for
    :func:`_label_bubbles` once the layout is final."""
    shown = [(x, y, p, f, lab) for x, y, p, f, lab in zip(xs, ys, params, families, labels) if x is not None]
    for x, y, p, fam, _ in shown:
        m = _marker(fam)
        ax.scatter(x, y, s=p * scale / _MARKER_AREA[m], color=_colour(fam), marker=m, alpha=0.55,
                   edgecolor="black", linewidth=0.5, zorder=3)  # fmt: skip
    for fam in dict.fromkeys(f for _, _, _, f, _ in shown):
        ax.scatter([], [], s=40, color=_colour(fam), marker=_marker(fam), alpha=0.7, edgecolor="black",
                   linewidth=0.5, label=fam)  # fmt: skip
    return [(x, y, p * scale, lab) for x, y, p, _, lab in shown]


def _label_bubbles(ax, bubbles: Sequence[tuple]) -> None:
    """Name every bubble, away from the other names and bubbles (:func:`cnnlib.viz.place_labels`)."""
    xy, labels = [(x, y) for x, y, _, _ in bubbles], [lab for *_, lab in bubbles]
    place_labels(ax, xy, labels, fontsize=8, radii=[min(np.sqrt(s) / 2, 18) for _, _, s, _ in bubbles])


def plot_imagenet_bubbles(rows: Sequence[Mapping]) -> Figure:
    """Canziani/Bianco style: ImageNet top-1 against G multiply-adds (log), bubble area proportional to parameters."""
    fig, axes = figure(figsize=(11, 6))
    ax = axes[0, 0]
    ax.set_xscale("log")
    bubbles = _bubbles(ax, [r["gmult_adds"] for r in rows], [r["top1"] for r in rows],
                       [r["params"] / 1e6 for r in rows], [r["family"] for r in rows], [r["model"] for r in rows],
                       scale=8)  # fmt: skip
    ax.set_xlabel("multiply-adds per image at the model's own resolution (G, log scale)")
    ax.set_ylabel("ImageNet top-1 accuracy (%)")
    ax.set_title("torchvision's documented figures (first weights of each model); area ∝ parameters")
    for p in (5, 25, 100):
        ax.scatter([], [], s=p * 8, color="white", edgecolor="black", linewidth=0.8, label=f"{p} M parameters")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), labelspacing=1.3, handlelength=3.5,
              handletextpad=1.0)  # fmt: skip
    fig.tight_layout()
    _label_bubbles(ax, bubbles)
    return fig


def plot_zoo_bubbles(rows: Sequence[Mapping]) -> Figure:
    """The zoo on CIFAR-10: test accuracy against M multiply-adds and against CPU latency at batch 1."""
    fig, axes = figure(ncols=2, figsize=(11, 5), sharey=True)
    params = [r["params"] / 1e6 for r in rows]
    families, labels = [r["family"] for r in rows], [r["entry"] for r in rows]
    acc = [r["test_acc"] for r in rows]
    for ax, margin in zip(axes[0], (0.2, 0.12)):  # room on the left for the names of the smallest models
        ax.margins(x=margin, y=0.08)
    bubbles = [
        _bubbles(ax, [r[key] for r in rows], acc, params, families, labels, scale=300)
        for ax, key in zip(axes[0], ("mmult_adds", "latency1_ms"))
    ]
    axes[0, 0].set_xlabel("multiply-adds per 32×32 image (M)")
    axes[0, 1].set_xlabel("CPU latency, batch 1 (ms, float32)")
    axes[0, 0].set_ylabel("CIFAR-10 test accuracy (%)")
    axes[0, 0].set_title("accuracy vs compute")
    axes[0, 1].set_title("accuracy vs measured latency")
    axes[0, 1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle("The course's CIFAR-10 zoo; area ∝ parameters", fontsize=11)
    fig.tight_layout()
    for ax, shown in zip(axes[0], bubbles):
        _label_bubbles(ax, shown)
    return fig
