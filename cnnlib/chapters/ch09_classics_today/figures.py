"""Figures and the fusion explorer of chapter 09 (The classics today)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from ...models.repvgg import RepVGGBlock, fuse_conv_bn, identity_kernel, pad_1x1_to_3x3
from ...viz import STYLE, figure
from ...widgets import controls_explorer
from .reparam import small_block

__all__ = [
    "fusion_explorer",
    "plot_ablation",
    "plot_ablation_curves",
    "plot_kernel_density",
    "plot_kernels",
    "plot_repvgg_speed",
    "plot_speedrun",
]

_COLOURS = STYLE["axes.prop_cycle"].by_key()["color"]


def _kernels(block: RepVGGBlock) -> list[tuple[str, torch.Tensor]]:
    with torch.no_grad():
        k3, _ = fuse_conv_bn(block.conv3x3[0].weight, block.conv3x3[1])
        k1, _ = fuse_conv_bn(block.conv1x1[0].weight, block.conv1x1[1])
        panels = [("3×3 conv + BN", k3), ("1×1 conv + BN, padded", pad_1x1_to_3x3(k1))]
        if block.identity is not None:
            kid, _ = fuse_conv_bn(identity_kernel(block.in_channels, like=k3), block.identity)
            panels.append(("identity + BN", kid))
        panels.append(("fused = sum", sum(k for _, k in panels)))
    return panels


def plot_kernels(block: RepVGGBlock, title: str = "") -> Figure:
    """Ding et al.'s Fig. 4 with numbers: each branch's kernel after its BN is folded in, then their sum. A C x C
    block has C x C 3 x 3 matrices per kernel (output channel = row of matrices, input channel = column)."""
    panels = _kernels(block)
    c = block.in_channels
    fig, axes = figure(ncols=len(panels), figsize=(3.0 * len(panels), 3.2))
    limit = max(float(k.abs().max()) for _, k in panels)
    for ax, (name, k) in zip(axes[0], panels):
        grid = np.full((4 * c - 1, 4 * c - 1), np.nan)  # 3 x 3 matrices with a one-cell gap
        for o in range(c):
            for i in range(c):
                grid[4 * o : 4 * o + 3, 4 * i : 4 * i + 3] = k[o, i].numpy()
        ax.imshow(grid, cmap="RdBu_r", vmin=-limit, vmax=limit)
        for (r, col), v in np.ndenumerate(grid):
            if not np.isnan(v) and c <= 2:
                ax.text(col, r, f"{v:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if abs(v) > 0.6 * limit else "black")  # fmt: skip
        ax.set_title(name, fontsize=10)
        ax.set_xticks([4 * i + 1 for i in range(c)], [f"in {i}" for i in range(c)], fontsize=8)
        ax.set_yticks([4 * o + 1 for o in range(c)], [f"out {o}" for o in range(c)], fontsize=8)
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
    fig.suptitle(title or "Three branches, one 3×3 kernel: each BN folded into its kernel, then summed", fontsize=11)
    fig.tight_layout()
    return fig


def _fusion_figure(gamma: float, variance: float, mean: float, identity: bool) -> Figure:
    block = small_block(2, seed=0)
    if not identity:
        block.identity = None
    with torch.no_grad():
        for bn in (m for m in block.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.weight.mul_(gamma)
            bn.running_var.mul_(variance)
            bn.running_mean.add_(mean)
    fig = plot_kernels(block)
    x = torch.randn(4, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        kernel, bias = block.equivalent_kernel_bias()
        diff = (block(x) - torch.relu(torch.nn.functional.conv2d(x, kernel, bias, padding=1))).abs().max().item()
    fig.suptitle(f"BN: γ×{gamma:g}, running variance ×{variance:g}, mean {mean:+g}; largest |block − fused| on a "
                 f"4×2×8×8 input: {diff:.1e}", fontsize=10)  # fmt: skip
    return fig


def fusion_explorer(gamma: float = 1.0, variance: float = 1.0, mean: float = 0.0, identity: bool = True):
    """Change every BN of a 2-channel RepVGG block (scale gamma and the running variance, shift the running mean;
    drop the identity branch) and see the folded kernels and the fused conv's difference from the block."""
    import ipywidgets as widgets

    controls = {
        "gamma": widgets.FloatLogSlider(value=gamma, base=10, min=-1, max=1, step=0.1, description="γ ×",
                                        continuous_update=False),
        "variance": widgets.FloatLogSlider(value=variance, base=10, min=-2, max=2, step=0.25,
                                           description="var ×", continuous_update=False),
        "mean": widgets.FloatSlider(value=mean, min=-2, max=2, step=0.25, description="mean +",
                                    continuous_update=False),
        "identity": widgets.Checkbox(value=identity, description="identity branch"),
    }  # fmt: skip
    return controls_explorer(_fusion_figure, controls, note="change the BN statistics and watch the kernels")


def plot_kernel_density(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Achieved GFLOP/s per kernel size (this CPU, float32 and bfloat16) beside the paper's 1080Ti."""
    fig, axes = figure(ncols=2, figsize=(11, 3.8))
    kernels = sorted({r["kernel"] for r in rows})
    pos = np.arange(len(kernels))
    left, right = axes[0]
    for i, precision in enumerate(("float32", "bfloat16")):
        sel = {r["kernel"]: r for r in rows if r["precision"] == precision and r["gflops"] is not None}
        if sel:
            left.bar(pos + (i - 0.5) * 0.38, [sel[k]["gflops"] if k in sel else 0 for k in kernels], 0.38,
                     label=f"this CPU, {precision}", color=_COLOURS[i])  # fmt: skip
            right.plot(pos, [sel[k]["relative"] if k in sel else np.nan for k in kernels], "o-", color=_COLOURS[i],
                       label=f"this CPU, {precision}")  # fmt: skip
    paper = [next(r["paper_relative"] for r in rows if r["kernel"] == k) for k in kernels]
    right.plot(pos, paper, "s--", color="black", label="paper, 1080Ti (float32)")
    for ax in (left, right):
        ax.set_xticks(pos, [f"{k}×{k}" for k in kernels])
        ax.legend(fontsize=8)
    left.set_ylabel("GFLOP/s (2 per multiply-add)")
    left.set_title("Compute density of one convolution")
    right.axhline(1, color="grey", lw=0.8)
    right.set_ylabel("rate relative to the 1×1 convolution")
    right.set_title("Which kernel size uses the hardware best")
    fig.tight_layout()
    return fig


def plot_repvgg_speed(rows: Sequence[Mapping[str, Any]], model: str) -> Figure:
    """Images per second and peak activation memory of each form (multi-branch, BN folded, fused) per batch size,
    for one model of :func:`.speed.repvgg_speed`'s rows."""
    sel = [r for r in rows if r["model"] == model]
    if not sel:
        raise KeyError(f"no rows for {model!r}; the rows have {sorted({r['model'] for r in rows})}")
    batches = sorted({r["batch"] for r in sel})
    forms = list(dict.fromkeys(r["form"] for r in sel))
    fig, axes = figure(ncols=2, figsize=(10, 3.5))
    pos = np.arange(len(batches))
    width = 0.8 / len(forms)
    for i, form in enumerate(forms):
        by = {r["batch"]: r for r in sel if r["form"] == form}
        for ax, key in zip(axes[0], ("img_per_s", "peak_mb")):
            bars = ax.bar(pos + (i - (len(forms) - 1) / 2) * width, [by[b][key] for b in batches], width,
                          label=form, color=_COLOURS[i])  # fmt: skip
            ax.bar_label(bars, fmt="%.0f" if key == "img_per_s" else "%.1f", fontsize=8)
    for ax, label in zip(axes[0], ("images per second", "peak activation memory (MB)")):
        ax.set_xticks(pos, [f"batch {b}" for b in batches])
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    size = sel[0]["size"]
    fig.suptitle(f"{model} at {size}×{size}: one function, {len(forms)} forms (float32, this CPU)", fontsize=11)
    fig.tight_layout()
    return fig


def plot_ablation(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Test accuracy of each ingredient: one dot per seed, a bar at the mean, the baseline's mean as a line."""
    fig, axes = figure(figsize=(8, 0.45 * len(rows) + 1.2))
    ax = axes[0, 0]
    names = [r["ingredient"] for r in rows]
    pos = np.arange(len(rows))[::-1]
    base = rows[0]["mean"]
    ax.barh(pos, [r["mean"] - base for r in rows], left=base, color=[_COLOURS[0] if r["gain"] >= 0 else _COLOURS[1]
            for r in rows], alpha=0.5, height=0.6)  # fmt: skip
    for p, r in zip(pos, rows):
        ax.plot(r["accs"], [p] * len(r["accs"]), "ko", ms=4)
        ax.annotate(f"{r['gain']:+.2f}", (max(r["accs"]), p), xytext=(6, -3), textcoords="offset points", fontsize=8)
    ax.axvline(base, color="grey", lw=1)
    ax.set_yticks(pos, names)
    ax.set_xlabel("CIFAR-10 test accuracy (%), one dot per seed")
    ax.set_title("One ingredient at a time on the zoo's ResNet-20 recipe")
    ax.margins(x=0.15)
    fig.tight_layout()
    return fig


def plot_ablation_curves(results: Mapping[str, Mapping[str, Any]], chosen: Sequence[str] | None = None) -> Figure:
    """Test accuracy after each epoch, mean over the seeds, for the chosen ingredients (default: every one)."""
    fig, axes = figure(figsize=(8, 3.8))
    ax = axes[0, 0]
    for i, name in enumerate(chosen or list(results)):
        runs = results[name]["runs"]
        epochs = [e["epoch"] for e in runs[0]["epochs"]]
        acc = np.mean([[100 * e["test_acc"] for e in r["epochs"]] for r in runs], axis=0)
        ax.plot(epochs, acc, "-o", ms=3, color=_COLOURS[i % len(_COLOURS)], label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%), mean over seeds")
    ax.set_ylim(bottom=max(ax.get_ylim()[0], 50))
    ax.legend(fontsize=8)
    ax.set_title("Learning curves of the ablation")
    fig.tight_layout()
    return fig


def plot_speedrun(result: Mapping[str, Any], target: float = 94.0) -> Figure:
    """The ``speedrun_cifar10`` runs: training loss (left) and test accuracy without TTA (right) against the
    training wall time, one line per seed; the final accuracy with TTA as a dot at the end, the target dashed."""
    fig, axes = figure(ncols=2, figsize=(10, 3.8))
    loss_ax, acc_ax = axes[0]
    for i, run in enumerate(result["runs"]):
        colour = _COLOURS[i % len(_COLOURS)]
        minutes = [p["seconds"] / 60 for p in run["curve"]]
        loss_ax.plot(minutes, [p["train_loss"] for p in run["curve"]], "-o", ms=3, color=colour,
                     label=f"seed {run['seed']}")  # fmt: skip
        acc_ax.plot(minutes, [100 * p["test_acc"] for p in run["curve"]], "-o", ms=3, color=colour,
                    label=f"seed {run['seed']}: {100 * run['test_acc']:.2f} % with TTA")  # fmt: skip
        acc_ax.plot([minutes[-1]], [100 * run["test_acc"]], "*", ms=10, color=colour)
    acc_ax.axhline(target, color="gray", ls="--", lw=1)
    loss_ax.set(xlabel="training time (minutes)", ylabel="training loss (label-smoothed)", title="Training loss")
    acc_ax.set(xlabel="training time (minutes)", ylabel="test accuracy (%)", ylim=(80, 95.5),
               title="Test accuracy after each epoch (line), with TTA (star)")  # fmt: skip
    loss_ax.legend(fontsize=9)
    acc_ax.legend(fontsize=9, loc="upper left")
    fig.tight_layout()
    return fig
