"""Figures and the explorer of chapter 00 (Introduction).

The figures take results (the ILSVRC table, logits, per-layer cost splits, the feature maps of
the text and audio convolutions, spectrograms) and return a matplotlib ``Figure``; they compute
nothing that matters. The explorer ``top5_explorer`` shows an Imagenette photo with the top-5
guesses of an ImageNet classifier (a static figure first: see :mod:`cnnlib.widgets`).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
from matplotlib.figure import Figure
from torch import Tensor

from ...analysis.metrics import top_predictions
from ...data import ImageTensors, normalize
from ...data.imagenet import imagenet_classes, imagenette_targets
from ...viz import STYLE, figure, to_display
from ...widgets import index_slider_explorer
from .ilsvrc import IlsvrcResult

__all__ = [
    "plot_cost_split",
    "plot_ilsvrc_history",
    "plot_spectrogram",
    "plot_text_convolution",
    "plot_top5",
    "top5_explorer",
]

_COLORS = STYLE["axes.prop_cycle"].by_key()["color"]


def plot_ilsvrc_history(winners: Sequence[IlsvrcResult], human: IlsvrcResult | None = None) -> Figure:
    """Top-5 error of each year's winner as bars (grey: not a CNN), labelled with the entry and its depth."""
    fig, axes = figure(figsize=(9, 4.6))
    ax = axes[0, 0]
    years = [w.year for w in winners]
    errors = [w.top5_error for w in winners]
    colors = [_COLORS[0] if w.cnn else "#9e9e9e" for w in winners]
    bars = ax.bar(years, errors, color=colors, width=0.7)
    for bar, w in zip(bars, winners):
        depth = f"\n{w.depth} layers" if w.depth else ""
        label = f"{round(w.top5_error, 2):g} %"  # at most two decimals (SENet's 2.251 % shows as 2.25 %)
        ax.annotate(
            f"{label}\n{w.team}{depth}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
            bbox={"fc": "white", "ec": "none", "alpha": 0.85, "pad": 0.5},
        )
    if human is not None:
        ax.axhline(
            human.top5_error,
            color=_COLORS[1],
            ls="--",
            lw=1.5,
            zorder=0,
            label=f"human: {human.top5_error:g} % (one trained annotator, Russakovsky et al. 2015)",
        )
        ax.legend(loc="upper right", fontsize=9)
    ax.set_xticks(years)
    ax.set_ylim(0, max(errors) * 1.3)
    ax.set_xlabel("ILSVRC year")
    ax.set_ylabel("top-5 error on the test set (%)")
    ax.set_title("ILSVRC classification winners (grey: not a CNN)")
    ax.grid(axis="x", visible=False)
    fig.tight_layout()
    return fig


def plot_top5(
    image: Tensor, logits: Tensor, true_index: int | None = None, classes: Sequence[str] | None = None, title: str = ""
) -> Figure:
    """One photo and the model's five most probable classes as horizontal bars (the true class in green)."""
    preds = top_predictions(logits, 5, classes)
    names = classes or imagenet_classes()
    fig, axes = figure(ncols=2, figsize=(8.4, 2.9), gridspec_kw={"width_ratios": [1, 1.6]})
    arr, cmap = to_display(image)
    axes[0, 0].imshow(arr, cmap=cmap)
    axes[0, 0].axis("off")
    if true_index is not None:
        axes[0, 0].set_title(f"label: {names[true_index]}", fontsize=10)
    ax = axes[0, 1]
    labels = [name for _, name, _ in preds][::-1]
    probs = [100 * p for _, _, p in preds][::-1]
    colors = [("#009E73" if i == true_index else _COLORS[0]) for i, _, _ in preds][::-1]
    ax.barh(labels, probs, color=colors)
    for y, p in enumerate(probs):
        ax.annotate(f"{p:.1f} %", (p, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_xlim(0, 115)
    ax.set_xlabel("softmax probability (%)")
    ax.set_title(title or "top-5 guesses", fontsize=10)
    ax.grid(axis="y", visible=False)
    fig.tight_layout()
    return fig


def plot_cost_split(splits: Mapping[str, Mapping[str, Mapping[str, float]]]) -> Figure:
    """For each model, the share of parameters and of multiply-adds in convolutions, dense layers and the rest."""
    fig, axes = figure(ncols=2, figsize=(10, 0.7 * len(splits) + 2.0), sharey=True)
    names = list(splits)
    parts = (
        ("conv", "convolutions", _COLORS[0]),
        ("dense", "dense (fully connected)", _COLORS[1]),
        ("other", "other (BN, ...)", "#bdbdbd"),
    )
    for ax, key, label in (
        (axes[0, 0], "params_share", "share of parameters (%)"),
        (axes[0, 1], "mult_adds_share", "share of multiply-adds (%)"),
    ):
        left = np.zeros(len(names))
        for part, legend, color in parts:
            values = np.array([100 * splits[n][key][part] for n in names])
            ax.barh(names, values, left=left, color=color, label=legend)
            for y, (start, v) in enumerate(zip(left, values)):
                if v >= 6:
                    ax.annotate(f"{v:.0f}", (start + v / 2, y), ha="center", va="center", fontsize=8, color="white")
            left += values
        ax.set_xlim(0, 100)
        ax.set_xlabel(label)
        ax.grid(axis="y", visible=False)
    axes[0, 0].invert_yaxis()  # first model on top (the y axis is shared: invert it once)
    axes[0, 0].set_title("where the parameters are")
    axes[0, 1].set_title("where the compute is")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def plot_text_convolution(
    tokens: Sequence[str], embeddings: Tensor, features: Tensor, pooled: Tensor, kernel_size: int
) -> Figure:
    """The L x D embedding matrix, the C x (L - k + 1) feature map and its max-over-time vector, side by side."""
    emb = embeddings.detach().numpy()
    feat = features.detach().numpy()
    fig, axes = figure(
        ncols=3, figsize=(11, 4.2), gridspec_kw={"width_ratios": [emb.shape[1], feat.shape[1] * 0.55, 1.7]}
    )
    lim = float(np.abs(emb).max())
    axes[0, 0].imshow(emb, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    axes[0, 0].set_yticks(range(len(tokens)), tokens)
    axes[0, 0].set_xticks(range(emb.shape[1]))
    axes[0, 0].set_xlabel("embedding dimension")
    axes[0, 0].set_title(f"input: {len(tokens)} words × {emb.shape[1]}")
    flim = float(np.abs(feat).max())
    axes[0, 1].imshow(feat, cmap="RdBu_r", vmin=-flim, vmax=flim, aspect="auto")
    windows = [" ".join(tokens[i : i + kernel_size]) for i in range(feat.shape[1])]
    axes[0, 1].set_xticks(range(feat.shape[1]), windows, rotation=70, ha="right", fontsize=8)
    axes[0, 1].set_yticks(range(feat.shape[0]), [f"kernel {c + 1}" for c in range(feat.shape[0])])
    axes[0, 1].set_title(f"after Conv1d (k = {kernel_size}): {feat.shape[0]} × {feat.shape[1]}")
    best = feat.argmax(1)
    for c, t in enumerate(best):
        axes[0, 1].add_patch(plt.Rectangle((t - 0.5, c - 0.5), 1, 1, fill=False, ec="black", lw=2))
    pooled_np = pooled.detach().numpy()[:, None]
    axes[0, 2].imshow(pooled_np, cmap="RdBu_r", vmin=-flim, vmax=flim, aspect="auto")
    for c, v in enumerate(pooled_np[:, 0]):
        axes[0, 2].annotate(f"{v:.2f}", (0, c), ha="center", va="center", fontsize=9)
    axes[0, 2].set_xticks([])
    axes[0, 2].set_yticks(range(feat.shape[0]), [f"kernel {c + 1}" for c in range(feat.shape[0])])
    axes[0, 2].set_title("max over time")
    for ax in axes.flat:
        ax.grid(False)
    fig.tight_layout()
    return fig


def plot_spectrogram(
    maps: Mapping[str, Tensor],
    seconds: float,
    sample_rate: int | None = None,
    waveform: Tensor | None = None,
    fmax: float | None = None,
    title: str = "",
) -> Figure:
    """The waveform (optional) above one image per map (frequency bands x time frames), sharing the time axis."""
    rows = len(maps) + (waveform is not None)
    fig, axes = figure(
        nrows=rows,
        figsize=(9, 1.5 + 2.1 * len(maps)),
        sharex=True,
        gridspec_kw={"height_ratios": ([0.6] if waveform is not None else []) + [1] * len(maps)},
    )
    row = 0
    if waveform is not None:
        t = np.arange(len(waveform)) / (sample_rate or 1)
        axes[0, 0].plot(t, waveform.numpy(), lw=0.4, color=_COLORS[0])
        axes[0, 0].set_ylabel("amplitude")
        axes[0, 0].set_title("waveform", fontsize=10)
        row = 1
    for (label, m), ax in zip(maps.items(), axes[row:, 0]):
        arr = m.detach().numpy()
        diverging = arr.min() < 0 < arr.max() and "dB" not in label
        lim = float(np.abs(arr).max())
        image = ax.imshow(
            arr,
            origin="lower",
            aspect="auto",
            extent=(0, seconds, 0, arr.shape[0]),
            cmap="RdBu_r" if diverging else "magma",
            vmin=-lim if diverging else None,
            vmax=lim if diverging else None,
        )
        ax.set_ylabel("mel band")
        ax.set_title(label, fontsize=10)
        ax.grid(False)
        fig.colorbar(image, ax=ax, pad=0.01, fraction=0.04)
    axes[-1, 0].set_xlabel("time (s)")
    if title:
        fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig


def _top5_figure(model: nn.Module, data: ImageTensors, index: int) -> Figure:
    device = next(model.parameters()).device
    x = normalize(data.images[index : index + 1].to(device), data.spec.mean, data.spec.std)
    with torch.no_grad():
        logits = model(x)[0].float().cpu()
    true_index = int(imagenette_targets(data)[index])
    return plot_top5(
        data.images[index], logits, true_index, title=f"{data.split} image #{index}: top-5 of 1,000 classes"
    )


def top5_explorer(model: nn.Module, data: ImageTensors, index: int = 0):
    """Pick an Imagenette photo with a slider and see the ImageNet classifier's five best guesses."""
    return index_slider_explorer(
        lambda i: _top5_figure(model, data, i), len(data), index, "photo #", "pick another photo"
    )
