"""Figures and the interactive explorer of chapter 05 (ResNet and its relatives): gradient flow
through deep stacks, Li et al.'s loss surfaces, Highway gates and stochastic depth's survival rule."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from torch import Tensor

from ...viz import figure
from ...widgets import controls_explorer
from .flow import INITS, gradient_flow

__all__ = [
    "gradient_flow_explorer",
    "plot_gate_means",
    "plot_gradient_flow",
    "plot_loss_slices",
    "plot_loss_surfaces",
    "plot_survival",
]

_FLOW_STYLE = {  # (residual, batch_norm) -> label, colour, line style
    (False, False): ("plain", "#D55E00", "--"),
    (True, False): ("with shortcuts", "#0072B2", "--"),
    (False, True): ("plain + BN", "#D55E00", "-"),
    (True, True): ("with shortcuts + BN", "#0072B2", "-"),
}


def plot_gradient_flow(flows: Mapping[tuple[bool, bool], Sequence[float]], title: str = "") -> Figure:
    """Gradient norm per convolution (input on the left), log scale, one line per stack of :func:`gradient_flow`."""
    fig, axes = figure(figsize=(9, 3.6))
    ax = axes[0, 0]
    for key, norms in flows.items():
        label, colour, style = _FLOW_STYLE[key]
        values = np.maximum(np.asarray(norms, dtype=float), 1e-30)  # an underflow to 0 drawn at the axis floor
        ax.semilogy(np.arange(1, len(values) + 1), values, style, color=colour, marker=".", ms=4, label=label)
    ax.set_xlabel("convolution (1 = next to the input)")
    ax.set_ylabel("‖∂L/∂W‖ at initialisation")
    ax.set_title(title or "Gradient reaching each layer")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


def gradient_flow_explorer(x: Tensor, y: Tensor, blocks: int = 20, init: str = "pytorch"):
    """Sliders for the depth and the initialisation of :func:`plot_gradient_flow`'s four stacks (recomputed)."""
    import ipywidgets as widgets

    controls = {
        "blocks": widgets.IntSlider(value=blocks, min=2, max=40, step=2, description="blocks", continuous_update=False),
        "init": widgets.Dropdown(options=list(INITS), value=init, description="init"),
    }

    def draw(blocks: int, init: str) -> Figure:
        flows = gradient_flow(x, y, blocks, init)
        label = {"pytorch": "PyTorch's default", "he": "He et al.'s"}[init]
        return plot_gradient_flow(
            flows, title=f"{blocks} blocks ({2 * blocks + 1} convolutions), {label} initialisation"
        )

    return controls_explorer(draw, controls, note="change the depth or the initialisation to recompute")


def plot_loss_surfaces(result: Mapping[str, Any], models: Sequence[str] | None = None, levels: int = 30) -> Figure:
    """Li et al. 2018 Fig. 5 from a ``loss_landscape`` result: for each model a contour map (top row) and
    a 3-D surface (bottom row) of the training loss on the 2-D slice, with the same contour levels."""
    models = list(models or result["models"])
    grid = np.asarray(result["coordinates"])
    alpha, beta = np.meshgrid(grid, grid)  # loss rows follow beta, columns alpha
    surfaces = {m: np.asarray(result["models"][m]["loss"]) for m in models}
    top = max(float(np.max(s)) for s in surfaces.values())
    floor = min(float(np.min(s)) for s in surfaces.values())
    contour_levels = np.geomspace(max(floor, 1e-3), top, levels)
    fig = plt.figure(figsize=(4.6 * len(models), 8))
    for i, name in enumerate(models):
        loss = surfaces[name]
        ax = fig.add_subplot(2, len(models), i + 1)
        norm = LogNorm(vmin=contour_levels[0], vmax=contour_levels[-1])
        cs = ax.contour(alpha, beta, loss, levels=contour_levels, cmap="viridis", norm=norm, linewidths=0.9)
        ax.plot(0, 0, "r+", ms=10)
        ax.set_aspect("equal")
        ax.set_title(f"{name}: training loss (contours)", fontsize=10)
        ax.set_xlabel("α (direction 1)")
        ax.set_ylabel("β (direction 2)")
        if i == len(models) - 1:
            bar = fig.colorbar(cs, ax=ax, shrink=0.8, label="loss (levels shared by both maps)")
            ticks = [t for t in (0.01, 0.1, 1, 10, 100, 1000) if contour_levels[0] <= t <= contour_levels[-1]]
            bar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
            bar.minorticks_off()
        ax3 = fig.add_subplot(2, len(models), len(models) + i + 1, projection="3d")
        clipped = np.minimum(loss, 10.0)  # Li et al. also clip the z axis at 10
        ax3.plot_surface(alpha, beta, clipped, cmap="viridis", vmin=0, vmax=10, linewidth=0, antialiased=True)
        ax3.set_zlim(0, 10)
        ax3.set_title(f"{name}: surface, clipped at 10", fontsize=10)
        ax3.set_xlabel("α")
        ax3.set_ylabel("β")
        ax3.view_init(elev=35, azim=-60)
    fig.suptitle(
        f"Loss on {result['images']:,} training images, {result['steps']}×{result['steps']} grid, "
        "filter-normalised random directions"
    )
    fig.tight_layout()
    return fig


def plot_loss_slices(coordinates: Sequence[float], losses: Mapping[str, Sequence[float]], title: str = "") -> Figure:
    """1-D slices: the loss along one filter-normalised direction, one line per model (log scale)."""
    fig, axes = figure(figsize=(6.4, 3.6))
    ax = axes[0, 0]
    for name, loss in losses.items():
        ax.semilogy(coordinates, loss, marker="o", ms=4, label=name)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel("α (0 = the trained weights)")
    ax.set_ylabel("training loss")
    ax.set_title(title or "1-D slice through the weights")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_gate_means(gates: Sequence[Tensor], title: str = "") -> Figure:
    """Transform-gate values T(x) per highway layer: each unit's mean over a batch (dots) and the layer's
    mean (line). T near 0: the layer mostly carries its input; near 1: it transforms it."""
    fig, axes = figure(figsize=(6.4, 3.4))
    ax = axes[0, 0]
    for i, gate in enumerate(gates, start=1):
        values = gate.float().cpu().numpy()
        ax.plot(np.full(values.shape, i) + np.linspace(-0.2, 0.2, len(values)), values, ".", color="#0072B2", ms=3)
    ax.plot(range(1, len(gates) + 1), [float(g.mean()) for g in gates], "-o", color="#D55E00", label="layer mean")
    ax.set_ylim(0, 1)
    ax.set_xticks(range(1, len(gates) + 1))
    ax.set_xlabel("highway layer")
    ax.set_ylabel("transform gate T(x)")
    ax.set_title(title or "Highway gates after training")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_survival(probabilities: Sequence[float], title: str = "") -> Figure:
    """Survival probability of each residual block (Huang et al. 2016, Eq. 4: linear decay with depth)."""
    fig, axes = figure(figsize=(6.4, 3.0))
    ax = axes[0, 0]
    ax.bar(range(1, len(probabilities) + 1), probabilities, color="#009E73")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("residual block l")
    ax.set_ylabel("survival probability p_l")
    ax.set_title(title or "Stochastic depth: p_l = 1 − l/L · (1 − p_L)")
    fig.tight_layout()
    return fig
