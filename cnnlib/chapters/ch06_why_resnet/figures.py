"""Figures and the interactive explorer of chapter 06 (Why ResNet works): per-layer statistics
(gradient norms, He et al.'s Fig. 7), Veit et al.'s paths and lesions, and the returns of depth."""

from __future__ import annotations

import random
from typing import Any, Mapping, Sequence

import numpy as np
import torch.nn as nn
from matplotlib.figure import Figure

from ...analysis.lesion import reordered, swapped_order, without
from ...data import ImageTensors
from ...train import evaluate
from ...viz import figure
from ...widgets import controls_explorer

__all__ = [
    "lesion_explorer",
    "plot_depth_returns",
    "plot_layer_statistic",
    "plot_lesions",
    "plot_path_gradients",
    "plot_response_std",
]

_COLOURS = {"plain20": "#E69F00", "plain56": "#D55E00", "resnet20": "#56B4E9", "resnet56": "#0072B2"}


def plot_layer_statistic(
    values: Mapping[str, Sequence[float]], ylabel: str, title: str = "", log: bool = True
) -> Figure:
    """One statistic per layer (input on the left), one line per model."""
    fig, axes = figure(figsize=(9, 3.4))
    ax = axes[0, 0]
    for name, vals in values.items():
        ax.plot(range(1, len(vals) + 1), vals, marker=".", ms=4, color=_COLOURS.get(name), label=name)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("layer (1 = next to the input)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_response_std(stds: Mapping[str, Sequence[float]], title: str = "") -> Figure:
    """He et al. Fig. 7: the std of each 3x3 layer's response, in layer order (top) and sorted (bottom)."""
    fig, axes = figure(nrows=2, figsize=(9, 5.6))
    for name, vals in stds.items():
        kw = dict(marker=".", ms=4, color=_COLOURS.get(name), label=name, ls="--" if "plain" in name else "-")
        axes[0, 0].plot(range(1, len(vals) + 1), vals, **kw)
        axes[1, 0].plot(range(1, len(vals) + 1), sorted(vals, reverse=True), **kw)
    axes[0, 0].set_xlabel("layer index (original order)")
    axes[1, 0].set_xlabel("layer index (sorted by magnitude)")
    for ax in axes[:, 0]:
        ax.set_ylabel("std")
    axes[0, 0].legend(fontsize=8, ncol=4)
    axes[0, 0].set_title(title or "Std of each 3×3 layer's response (after BN, before the addition and ReLU)")
    fig.tight_layout()
    return fig


def plot_path_gradients(result: Mapping[str, Any]) -> Figure:
    """Veit et al. Fig. 6 from a ``path_gradients`` result: (a) how many paths have each length, (b) the
    gradient one path of that length sends back, (c) their product: the total gradient per length."""
    lengths = np.asarray(result["lengths"])
    counts = np.asarray(result["path_count"], dtype=float)
    grads = np.asarray(result["gradient_norm"])
    total = counts * grads
    fig, axes = figure(ncols=3, figsize=(12, 3.4))
    axes[0, 0].bar(lengths, counts / counts.sum(), color="#7f7f7f")
    axes[0, 0].set_title("(a) distribution of path lengths")
    axes[0, 0].set_ylabel("share of all paths")
    axes[0, 1].semilogy(lengths, grads, "o-", ms=4)
    axes[0, 1].set_title("(b) gradient of one path")
    axes[0, 1].set_ylabel("‖∂L/∂x‖ at the first block")
    axes[0, 2].bar(lengths, total / total.sum(), color="#0072B2")
    axes[0, 2].set_title("(c) total gradient per length")
    axes[0, 2].set_ylabel("share of the total")
    for ax in axes[0]:
        ax.set_xlabel("path length (residual functions passed)")
    fig.suptitle(f"resnet56: {result['blocks']} blocks, 2^{result['blocks']} paths")
    fig.tight_layout()
    return fig


def plot_lesions(result: Mapping[str, Any]) -> Figure:
    """Veit et al. Fig. 3 and 5 from a ``lesions`` result: accuracy after deleting each single block
    (resnet56, plain56) or layer (vgg11_bn_cifar), error against the number of blocks deleted and
    against Kendall's tau of a shuffled order."""
    models = result["models"]
    fig, axes = figure(ncols=4, figsize=(14, 4.2), gridspec_kw={"width_ratios": [2.2, 0.65, 1, 1]})
    ax = axes[0, 0]
    for name in ("resnet56", "plain56"):
        single = models[name]["single"]
        ax.plot(range(len(single)), [100 * a for a in single.values()], "o-", ms=4, color=_COLOURS[name], label=name)
        ax.axhline(100 * models[name]["intact"], color=_COLOURS[name], ls=":", lw=1)
    ax.axhline(10, color="grey", lw=0.8)
    ax.text(len(models["resnet56"]["single"]) - 1, 2, "chance: 10 %", fontsize=8, color="grey", ha="right")
    ax.set_xticks(range(len(models["resnet56"]["single"])))
    ax.set_xticklabels(list(models["resnet56"]["single"]), rotation=90, fontsize=10)
    ax.set_ylim(0, 100)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"one block deleted; dotted: intact ({models['resnet56']['images']:,} images)")
    ax.legend(fontsize=8)
    vgg = models["vgg11_bn_cifar"]
    axes[0, 1].bar(range(len(vgg["single"])), [100 * a for a in vgg["single"].values()], color="#009E73")
    axes[0, 1].axhline(100 * vgg["intact"], color="#009E73", ls=":", lw=1)
    axes[0, 1].axhline(10, color="grey", lw=0.8)
    axes[0, 1].set_xticks(range(len(vgg["single"])))
    axes[0, 1].set_xticklabels(list(vgg["single"]), rotation=90, fontsize=10)
    axes[0, 1].set_ylim(0, 100)
    axes[0, 1].set_title("vgg11_bn_cifar:\none layer deleted", fontsize=11)
    for name in ("resnet56", "plain56"):
        record = models[name]
        ks = [int(k) for k in record["k_deleted"]]
        errors = np.asarray([[100 * (1 - a) for a in v] for v in record["k_deleted"].values()])
        axes[0, 2].errorbar(ks, errors.mean(1), yerr=errors.std(1), marker="o", ms=4, color=_COLOURS[name], label=name)
        taus = [s["kendall_tau"] for s in record["shuffled"]]
        axes[0, 3].plot(taus, [100 * (1 - s["acc"]) for s in record["shuffled"]], "o", ms=4, color=_COLOURS[name])
    axes[0, 2].set_xlabel("blocks deleted at random")
    axes[0, 2].set_ylabel("test error (%)")
    axes[0, 2].set_title(f"k blocks deleted\n({result['repeats']} draws each)")
    axes[0, 2].legend(fontsize=8)
    axes[0, 3].set_xlabel("Kendall τ of the block order (1 = intact)")
    axes[0, 3].set_ylabel("test error (%)")
    axes[0, 3].set_title("blocks shuffled\nwithin stages")
    axes[0, 3].invert_xaxis()
    fig.tight_layout()
    return fig


def plot_depth_returns(published: Mapping[int, float], measured: Mapping[str, tuple[int, float]]) -> Figure:
    """Test error against depth: He et al.'s Table 6 (line) and the zoo's nets (points, labelled)."""
    fig, axes = figure(figsize=(6.4, 3.6))
    ax = axes[0, 0]
    depths = sorted(published)
    ax.plot(depths, [published[d] for d in depths], "o-", color="#0072B2", label="He et al. 2016, Table 6")
    for name, (depth, error) in measured.items():
        ax.plot(depth, error, "s", ms=7, color=_COLOURS.get(name, "#D55E00"))
        ax.annotate(name, (depth, error), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xticks(depths)
    ax.set_xticklabels([str(d) for d in depths])
    ax.set_xlabel("weighted layers")
    ax.set_ylabel("CIFAR-10 test error (%)")
    ax.set_title("Returns of depth")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def lesion_explorer(
    model: nn.Module,
    data: ImageTensors,
    blocks: Sequence[str],
    stages: Sequence[str],
    deleted: Sequence[str] = (),
    swaps: int = 0,
):
    """Delete any blocks and shuffle the rest of a residual net, then re-evaluate it on ``data`` live.

    ``blocks`` are the ones offered for deletion; when shuffling, the first block of each stage after
    ``stages[0]`` stays in place (it changes the shape).
    """
    import ipywidgets as widgets

    intact = evaluate(model, data)["acc"]
    controls = {
        "deleted": widgets.SelectMultiple(options=list(blocks), value=tuple(deleted), rows=6, description="delete"),
        "swaps": widgets.IntSlider(value=swaps, min=0, max=16, description="swaps/stage", continuous_update=False),
        "seed": widgets.IntSlider(value=0, min=0, max=9, description="seed", continuous_update=False),
    }

    def draw(deleted: Sequence[str], swaps: int, seed: int) -> Figure:
        changed, rng = model, random.Random(seed)
        for stage in stages:
            order = swapped_order(len(changed.get_submodule(stage)), swaps, rng, fixed_first=stage != stages[0])
            changed = reordered(changed, stage, order)
        if deleted:
            changed = without(changed, list(deleted))
        acc = evaluate(changed, data)["acc"]
        fig, axes = figure(figsize=(6, 2.2))
        ax = axes[0, 0]
        ax.barh(["intact", "changed"], [100 * intact, 100 * acc], color=["#7f7f7f", "#0072B2"])
        for i, a in enumerate((intact, acc)):
            ax.text(100 * a + 1, i, f"{100 * a:.1f} %", va="center", fontsize=9)
        ax.set_xlim(0, 110)
        ax.set_xlabel(f"accuracy on {len(data)} test images")
        ax.set_title(f"{len(deleted)} block(s) deleted, {swaps} swap(s) per stage", fontsize=10)
        fig.tight_layout()
        return fig

    return controls_explorer(
        draw, controls, rows=[["deleted"], ["swaps", "seed"]], note="pick blocks to delete, or shuffle"
    )
