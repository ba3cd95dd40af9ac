"""Interactive explorers and figures for chapter 03 (VGG): how the receptive field grows with depth,
where VGG-16 keeps its parameters, and a check that a block diagram of VGG matches the paper's table."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ...analysis.receptive_field import LayerSpec, receptive_field, stack
from ...widgets import controls_explorer

__all__ = [
    "miscopied_vgg19",
    "drawn_stage_depths",
    "plot_layer_shares",
    "plot_receptive_field_growth",
    "receptive_field_explorer",
    "stack_with_pools",
]


def plot_receptive_field_growth(stacks: Mapping[str, Sequence[LayerSpec]], title: str = "", ax=None) -> Figure:
    """Receptive-field size against the number of convolutions applied, one line per named stack.

    A pooling layer does not count as a convolution: it is drawn as a vertical step (square marker)
    at the same x as the convolution before it, so stacks with and without pools line up.
    """
    if not stacks:
        raise ValueError("give at least one stack of layers")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
    else:
        fig = ax.figure
    for label, layers in stacks.items():
        rows = receptive_field(list(layers))
        xs, sizes, convs = [0], [1], 0
        for r in rows:
            convs += r.kind != "pool"
            xs.append(convs)
            sizes.append(r.size)
        (line,) = ax.plot(xs, sizes, marker="o", ms=4, label=label)
        pools = [(x, s) for x, s, r in zip(xs[1:], sizes[1:], rows) if r.kind == "pool"]
        if pools:
            ax.plot(*zip(*pools), ls="none", marker="s", ms=7, mfc="none", color=line.get_color(), label="2×2 max pool")
    ax.set_xlabel("convolutions applied")
    ax.set_ylabel("receptive field (input pixels per side)")
    ax.set_title(title or "Receptive-field growth")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def stack_with_pools(kernel: int, layers: int, pool_every: int = 0) -> list[LayerSpec]:
    """``layers`` convolutions of size ``kernel`` ("same" padding), a 2x2 max pool after every ``pool_every`` of
    them (0: none)."""
    if layers < 1:
        raise ValueError(f"layers must be at least 1, got {layers}")
    if pool_every < 0:
        raise ValueError(f"pool_every must be >= 0, got {pool_every}")
    specs: list[LayerSpec] = []
    for i, conv in enumerate(stack(kernel, layers)):
        specs.append(LayerSpec(conv.kernel, 1, conv.padding, name=f"conv{i + 1}", kind="conv"))
        if pool_every and (i + 1) % pool_every == 0:
            specs.append(LayerSpec(2, 2, 0, name=f"pool{(i + 1) // pool_every}", kind="pool"))
    return specs


def _explorer_figure(kernel: int, layers: int, pool_every: int) -> Figure:
    specs = stack_with_pools(kernel, layers, pool_every)
    rows = receptive_field(specs)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1.3, 1]})
    label = f"{layers} × {kernel}×{kernel}" + (f", 2×2 pool every {pool_every}" if pool_every else "")
    plot_receptive_field_growth(
        {label: specs, f"{layers} × 3×3 (VGG, no pool)": stack(3, layers)}, title="Growth with depth", ax=ax1
    )
    # Right: the nested squares one unit of each convolution sees, centred on the same input pixel.
    final = rows[-1].size
    cmap = plt.get_cmap("viridis")
    convs = [r for r in rows if r.kind == "conv"]
    for i, r in enumerate(reversed(convs)):
        colour = cmap(1 - (len(convs) - 1 - i) / max(1, len(convs) - 1) * 0.9)
        ax2.add_patch(
            Rectangle((-r.size / 2, -r.size / 2), r.size, r.size, facecolor=colour, edgecolor="white", lw=0.8)
        )
    ax2.add_patch(Rectangle((-0.5, -0.5), 1, 1, facecolor="red"))
    half = final / 2 + 1
    ax2.set_xlim(-half, half)
    ax2.set_ylim(-half, half)
    ax2.set_aspect("equal")
    ax2.set_xlabel("input pixels")
    ax2.set_title(
        f"What one unit sees: {final}×{final} pixels\n(darker = later layer; red = centre pixel)", fontsize=10
    )
    weights = f"weights {layers * kernel * kernel}·C²" + (
        "" if pool_every else f" (one {final}×{final} convolution: {final * final}·C²)"
    )
    fig.suptitle(f"{label}: receptive field {final}×{final}, jump {rows[-1].jump} px; {weights}", fontsize=10)
    fig.tight_layout()
    return fig


def receptive_field_explorer(kernel: int = 3, layers: int = 3, pool_every: int = 0):
    """Sliders for kernel size, number of stacked convolutions and pooling; redraws the growth and the field."""
    import ipywidgets as widgets

    controls = {
        "kernel": widgets.IntSlider(value=kernel, min=1, max=7, step=2, description="kernel", continuous_update=False),
        "layers": widgets.IntSlider(value=layers, min=1, max=12, description="layers", continuous_update=False),
        "pool_every": widgets.IntSlider(
            value=pool_every, min=0, max=4, description="pool every", continuous_update=False
        ),
    }
    return controls_explorer(
        _explorer_figure,
        controls,
        note="kernel size, number of stacked convolutions, a 2×2 pool every few layers (0 = none)",
    )


def plot_layer_shares(table, layers: Mapping[str, str], title: str = "") -> Figure:
    """Share of the network's multiply-adds and of its parameters in each named layer (grouped bars).

    ``table`` is a :class:`cnnlib.analysis.summary.LayerTable`; ``layers`` maps a label ("conv1_1") to a row
    name ("features.0").
    """
    import numpy as np

    labels = list(layers)
    if not labels:
        raise ValueError("name at least one layer")
    macs = [100 * table[layers[k]].mult_adds / table.total_mult_adds for k in labels]
    params = [100 * table[layers[k]].params / table.total_params for k in labels]
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(labels) + 1.5), 3.8))
    ax.bar(x - 0.2, macs, width=0.4, label="multiply-adds")
    ax.bar(x + 0.2, params, width=0.4, label="parameters")
    ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("share of the whole network (%)")
    ax.set_title(title or f"{table.model}: where the compute and the parameters sit")
    ax.legend()
    ax.grid(axis="x", visible=False)
    fig.tight_layout()
    return fig


def drawn_stage_depths(svg: str | Path) -> dict[str, list[tuple[int, int]]]:
    """Read a block diagram back: (convolutions, channels) per stage of each network drawn in ``svg`` (a
    file, or the SVG's text).

    The course's drawings (``img/vgg19.svg``) mark every network as ``<g class="network" data-name=...>``
    and every convolution as ``<rect class="conv" data-stage=... data-channels=...>``; the result has the
    form of :func:`cnnlib.models.vgg.stage_depths`, so a drawing can be compared with the table.
    """
    text = isinstance(svg, str) and svg.lstrip().startswith("<")
    root = ET.fromstring(svg) if text else ET.parse(svg).getroot()
    networks: dict[str, list[tuple[int, int]]] = {}
    for group in root.iter("{http://www.w3.org/2000/svg}g"):
        if group.get("class") != "network":
            continue
        stages: dict[int, list[int]] = {}
        for rect in group.iter("{http://www.w3.org/2000/svg}rect"):
            if rect.get("class") == "conv":
                stages.setdefault(int(rect.get("data-stage")), []).append(int(rect.get("data-channels")))
        if sorted(stages) != list(range(1, len(stages) + 1)):
            raise ValueError(f"{group.get('data-name')}: stages {sorted(stages)} are not numbered 1, 2, ...")
        for number, channels in stages.items():
            if len(set(channels)) != 1:
                raise ValueError(
                    f"{group.get('data-name')}, stage {number}: convolutions with different widths {channels}"
                )
        networks[group.get("data-name")] = [(len(stages[n]), stages[n][0]) for n in sorted(stages)]
    if not networks:
        raise ValueError(f'{svg}: no <g class="network"> in the drawing')
    return networks


def miscopied_vgg19(svg: str | Path) -> str:
    """The course's drawing ``svg`` (``img/vgg19.svg``) with two errors of the kinds that copied VGG diagrams
    carry, both in VGG-19: stage 4 drawn with VGG-16's three convolutions instead of four, and stage 5 drawn
    with 256 channels, as if the width halved again. For chapter 03's "spot the errors" exercise; the
    errors change the drawing and its data attributes alike, so :func:`drawn_stage_depths` reads them too."""
    lines = Path(svg).read_text(encoding="utf-8").splitlines()
    start = next(i for i, ln in enumerate(lines) if 'data-name="VGG-19"' in ln)
    end = next(i for i in range(start, len(lines)) if lines[i].strip() == "</g>")
    stage4 = [i for i in range(start, end) if 'class="conv" data-stage="4"' in lines[i]]
    labels = [i for i in range(start, end) if ">4×512</text>" in lines[i]]  # stages 4 and 5
    if len(stage4) != 4 or len(labels) != 2:
        raise ValueError(f"{svg}: not the course's VGG-19 drawing (stage 4 has {len(stage4)} convolutions drawn)")
    lines[labels[0]] = lines[labels[0]].replace("4×512", "3×512")
    lines[labels[1]] = lines[labels[1]].replace("4×512", "4×256")
    for i in range(start, end):
        if 'class="conv" data-stage="5"' in lines[i]:
            lines[i] = lines[i].replace('data-channels="512"', 'data-channels="256"')
    pool4 = next(i for i in range(start, end) if 'class="pool" data-stage="4"' in lines[i])
    lines[pool4] = lines[pool4].replace('x="522"', 'x="500"')  # close the gap the missing layer leaves
    del lines[stage4[-1]]
    # a copy keeps the drawing, not the course's caption, which states the right depths and widths
    lines = [ln for ln in lines if "VGG-19:</tspan>" not in ln and "Both: five pools" not in ln]
    return "\n".join(lines) + "\n"
