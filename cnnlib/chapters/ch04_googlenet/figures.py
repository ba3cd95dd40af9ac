"""Chapter 04's figures (GoogLeNet and Inception): module costs, the module designer (an explorer), the
network overview beside Table 1, and what silencing each branch costs."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

from ...analysis.costs import BRANCHES, ModuleCosts, module_costs
from ...analysis.lesion import Ablation
from ...models.googlenet import INCEPTIONS
from ...viz import STYLE, figure
from ...widgets import controls_explorer
from .table1 import GoogLeNetTable

__all__ = ["inception_module_designer", "plot_branch_ablation", "plot_googlenet_overview", "plot_module_costs"]

_SIZES = {"3": 28, "4": 14, "5": 7}  # grid of the Inception modules of Table 1 at 224 px
_BRANCH_LABELS = {
    "1x1": "1×1 branch",
    "3x3": "3×3 branch (+ its 1×1 reduce)",
    "5x5": "5×5 branch (+ its 1×1 reduce)",
    "pool": "pool branch (+ its 1×1 projection)",
}


def plot_module_costs(costs: ModuleCosts, title: str = ""):
    """Stacked bars, one segment per branch: parameters and multiply-adds of the naive and the reduced module."""
    fig, axes = figure(ncols=2, figsize=(10, 4.2))
    colors = STYLE["axes.prop_cycle"].by_key()["color"]
    kinds = {"naive\n(Fig. 2a)": costs.naive, "with 1×1\nreductions\n(Fig. 2b)": costs.reduced}
    for ax, (field, unit, scale) in zip(
        axes.flat, [("params", "parameters (thousands)", 1e3), ("mult_adds", "multiply-adds (millions)", 1e6)]
    ):
        for x, (kind, branches) in enumerate(kinds.items()):
            bottom = 0.0
            for j, branch in enumerate(BRANCHES):
                value = getattr(branches[branch], field) / scale
                ax.bar(x, value, 0.6, bottom=bottom, color=colors[j], label=_BRANCH_LABELS[branch] if x == 0 else None)
                bottom += value
            channels = sum(b.channels for b in branches.values())
            ax.annotate(f"{bottom:,.0f}\n→ {channels} channels out", (x, bottom), ha="center", va="bottom", fontsize=9)
        ax.set_xticks(range(len(kinds)), list(kinds), fontsize=9)
        ax.set_ylabel(unit)
        ax.set_ylim(0, ax.get_ylim()[1] * 1.2)
        ax.set_title("Parameters" if field == "params" else f"Multiply-adds per image ({costs.size}×{costs.size} grid)")
        ax.grid(axis="x", visible=False)
    axes.flat[0].legend(fontsize=8, loc="upper right")
    ratio = costs.naive_total.mult_adds / costs.reduced_total.mult_adds
    fig.suptitle(
        title
        or (
            f"Inception module on {costs.in_channels} input channels: "
            f"the naive one costs {ratio:.1f}× the multiply-adds"
        ),
        fontweight="bold",
    )
    fig.tight_layout()
    return fig


def inception_module_designer(module: str = "3a"):
    """Sliders for the input channels, the branch and reduction widths and the grid size of an Inception module;
    bars show the parameters and multiply-adds of the naive and the reduced module, per branch.

    Starts from the Inception module ``module`` of Table 1 ("3a" ... "5b"); the dropdown loads another one.
    """
    import ipywidgets as widgets

    presets = {cfg.name: cfg for cfg in INCEPTIONS}
    if module not in presets:
        raise KeyError(f"no Inception module {module!r} in Table 1; modules: {list(presets)}")

    def values(name: str) -> dict[str, int]:
        cfg = presets[name]
        return {"in_channels": cfg.in_channels, **cfg.branch_channels(), "size": _SIZES[name[0]]}

    start = values(module)
    names = {
        "in_channels": "input ch.",
        "ch1x1": "#1×1",
        "ch3x3_reduce": "#3×3 reduce",
        "ch3x3": "#3×3",
        "ch5x5_reduce": "#5×5 reduce",
        "ch5x5": "#5×5",
        "pool_proj": "pool proj",
        "size": "grid H=W",
    }
    sliders = {
        key: widgets.IntSlider(
            value=start[key],
            min=1 if key != "size" else 3,
            max=1024 if key != "size" else 56,
            description=label,
            continuous_update=False,
            style={"description_width": "90px"},
        )
        for key, label in names.items()
    }
    preset = widgets.Dropdown(options=list(presets), value=module, description="Table 1")
    box = controls_explorer(
        lambda **v: plot_module_costs(module_costs(**v)),
        sliders,
        rows=[list(names)[:4], list(names)[4:]],
        above=[preset],
        note="change the widths or load another module of Table 1; the bars are counted on real PyTorch modules",
    )
    preset.observe(lambda change: box.set_values(values(change["new"])), names="value")
    return box


_KIND_COLORS = {
    "convolution": 0,
    "inception": 1,
    "aux": 2,
    "linear": 3,
}  # indices into the style's colour cycle; the rest grey


def plot_googlenet_overview(table: GoogLeNetTable, aux_after: Sequence[str] = ("4a", "4d"), title: str = ""):
    """The whole GoogLeNet as a strip of boxes, one per row of Table 1 (height ~ number of output channels),
    with the output grid under each box and the auxiliary classifiers branching off ``aux_after``."""
    fig, ax = plt.subplots(figsize=(13, 4.6))
    colors = STYLE["axes.prop_cycle"].by_key()["color"]
    top = max(r.output[2] for r in table.rows)
    grid_seen = None
    positions = {}
    for i, row in enumerate(table.rows):
        label = row.paper.label
        kind = "inception" if label.startswith("inception") else label.split(" (")[0]
        h, w, c = row.output
        height = 0.8 + 1.2 * c / top
        color = colors[_KIND_COLORS[kind]] if kind in _KIND_COLORS else "0.8"
        ax.add_patch(
            FancyBboxPatch(
                (i - 0.38, -height / 2), 0.76, height, boxstyle="round,pad=0.02", color=color, alpha=0.85, lw=0
            )
        )
        name = (
            label.replace("inception ", "").strip("()") if kind == "inception" else label.replace("convolution", "conv")
        )
        detail = f"{row.paper.patch}" if row.paper.patch else ""
        if label == "convolution" and row.paper.depth == 2:
            detail = "1×1 + 3×3"
        ax.text(
            i,
            0,
            f"{name}\n{detail}".strip(),
            rotation=90,
            ha="center",
            va="center",
            fontsize=8,
            color="white" if kind in ("inception", "convolution", "linear") else "black",
        )
        ax.text(i, -1.15, f"{c}", ha="center", va="top", fontsize=8)
        if (h, w) != grid_seen:
            ax.text(i, -1.45, f"{h}×{w}", ha="center", va="top", fontsize=8, color="0.3")
            grid_seen = (h, w)
        positions[name] = i
        if i:
            ax.annotate("", (i - 0.4, 0), (i - 0.6, 0), arrowprops=dict(arrowstyle="->", color="0.4", lw=0.8))
    aux_color = colors[_KIND_COLORS["aux"]]
    unknown = [name for name in aux_after if name not in positions]
    if unknown:
        plt.close(fig)
        raise KeyError(f"aux_after: no row {unknown} in the table; rows: {list(positions)}")
    for k, name in enumerate(aux_after, start=1):
        x, y = positions[name], 1.45 + 0.45 * (len(aux_after) - k)
        ax.annotate("", (x, y), (x, 1.05), arrowprops=dict(arrowstyle="->", color=aux_color, lw=1.2))
        ax.text(
            x + 0.1,
            y,
            f"auxiliary classifier {k} (training only, loss × 0.3): avg pool 5×5/3 → 1×1 conv 128 → FC 1024 → FC 1000",
            fontsize=8,
            va="center",
            color=aux_color,
        )
    ax.text(-0.6, -1.15, "channels", ha="right", va="top", fontsize=8)
    ax.text(-0.6, -1.45, "grid", ha="right", va="top", fontsize=8, color="0.3")
    ax.set_xlim(-1.6, len(table.rows) - 0.4)
    ax.set_ylim(-1.8, 2.4)
    ax.axis("off")
    ax.set_title(title or "GoogLeNet, one box per row of Table 1 (box height ~ output channels)", fontweight="bold")
    fig.tight_layout()
    return fig


def plot_branch_ablation(
    result: Ablation,
    labels: Mapping[str, str] | None = None,
    branch_names: Mapping[str, str] | None = None,
    title: str = "",
):
    """Grouped bars: accuracy lost (points) when each branch of each block is silenced; channels printed on the bars."""
    import numpy as np

    blocks = list(dict.fromkeys(b for b, _, _, _ in result.rows))
    branches = list(dict.fromkeys(br for _, br, _, _ in result.rows))
    fig, axes = figure(figsize=(max(7, 0.9 * len(blocks) + 2), 4))
    ax = axes[0, 0]
    colors = STYLE["axes.prop_cycle"].by_key()["color"]
    width = 0.8 / len(branches)
    x = np.arange(len(blocks))
    for j, branch in enumerate(branches):
        ys, chans = [], []
        for block in blocks:
            row = next((r for r in result.rows if r[0] == block and r[1] == branch), None)
            ys.append(np.nan if row is None else 100 * (result.baseline - row[3]))
            chans.append(None if row is None else row[2])
        pos = x + (j - (len(branches) - 1) / 2) * width
        ax.bar(pos, ys, width, color=colors[j % len(colors)], label=(branch_names or {}).get(branch, branch))
        for p, y, c in zip(pos, ys, chans):
            if c is not None and not np.isnan(y):
                ax.annotate(str(c), (p, max(y, 0)), ha="center", va="bottom", fontsize=8, color="gray")
    ax.set_xticks(x, [(labels or {}).get(b, b) for b in blocks], rotation=0, fontsize=9)
    ax.set_ylabel("accuracy lost (points)")
    ax.set_xlabel("block (grey numbers: output channels of the silenced branch)")
    ax.set_title(
        title or f"Silencing one branch at a time (baseline {100 * result.baseline:.1f} %, {result.images} test images)"
    )
    ax.axhline(0, color="black", lw=0.8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
