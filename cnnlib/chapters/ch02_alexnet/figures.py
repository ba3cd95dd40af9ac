"""Chapter 02's figures and tables (AlexNet and ZFNet): the LRN explorer, and the plots of the stored
experiments (the ReLU/tanh error race, the generalisation gap, test-time augmentation)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from ...models.alexnet import LRN_ALPHA, LRN_BETA, LRN_K, LRN_SIZE, lrn_formula
from ...widgets import controls_explorer

__all__ = [
    "TTA_WAYS",
    "example_channel_profile",
    "lrn_explorer",
    "plot_error_race",
    "plot_generalisation_gap",
    "plot_lrn",
    "TTA_SHORT",
    "plot_tta",
    "tta_findings",
    "tta_rows",
]

TTA_WAYS = {  # the ten_crop_tta result's answers: (label, number of views)
    "single_centre": ("centre view", 1),
    "mirror_centre": ("mirrored centre view", 1),
    "centre_and_mirror": ("centre + its mirror", 2),
    "five_crops_no_mirror": ("five crops, no mirror", 5),
    "ten_crop_logits": ("ten views, mean logits", 10),
    "ten_crop_softmax": ("ten views, mean softmax (paper)", 10),
}


def example_channel_profile() -> torch.Tensor:
    """Activations of 16 channels at one pixel (ReLU outputs of AlexNet's scale, 0 ... 200): a strong
    group of neighbours (channels 3-7), one isolated strong channel (12) and weak channels elsewhere."""
    a = torch.full((16,), 5.0)
    a[3:8] = torch.tensor([60.0, 150.0, 200.0, 150.0, 60.0])
    a[12] = 200.0
    return a


def plot_lrn(
    k: float = LRN_K,
    n: int = LRN_SIZE,
    alpha: float = LRN_ALPHA,
    beta: float = LRN_BETA,
    profile: torch.Tensor | None = None,
) -> Figure:
    """Left: a channel profile before and after LRN (:func:`cnnlib.models.alexnet.lrn_formula`), both
    divided by ``k ** beta`` so that "no damping" means equal bars. Right: the output of one channel
    as its own activation grows, for several levels of activity in its neighbours."""
    a = example_channel_profile() if profile is None else profile.float()
    b = lrn_formula(a.view(1, -1, 1, 1), n=n, k=k, alpha=alpha, beta=beta).view(-1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6), constrained_layout=True)
    idx = torch.arange(len(a))
    ax1.bar(idx - 0.2, a / k**beta, width=0.4, label="input a / k^β (no damping)", color="#bbbbbb")
    ax1.bar(idx + 0.2, b, width=0.4, label="output b", color="#D55E00")
    ax1.set(
        xlabel="channel i", ylabel="response", title=f"LRN across channels (k={k:g}, n={n}, α={alpha:.0e}, β={beta:g})"
    )
    ax1.set_xticks(idx[::2].tolist())
    ax1.set_ylim(0, 1.4 * (a / k**beta).max().item())  # headroom above the bars for the labels and the legend
    ax1.legend(fontsize=9, loc="upper right", ncols=2, frameon=True, facecolor="white", framealpha=1, edgecolor="0.8")
    for ch in (5, 12):  # the centre of the group and the isolated channel: how much is kept, above the pair of bars
        top = max((a[ch] / k**beta).item(), b[ch].item())
        ax1.annotate(f"{(b[ch] * k**beta / a[ch]).item():.0%}", (ch, top), ha="center", va="bottom", fontsize=9)
    own = torch.linspace(0, 300, 200)
    for neighbours in (0.0, 100.0, 200.0, 300.0):
        # n channels: the centre one at `own`, its n - 1 window neighbours at `neighbours`; read the centre back
        acts = torch.full((len(own), n), neighbours)
        acts[:, n // 2] = own
        out = lrn_formula(acts.view(len(own), n, 1, 1), n=n, k=k, alpha=alpha, beta=beta)[:, n // 2, 0, 0]
        ax2.plot(own, out, label=f"neighbours at {neighbours:g}")
    ax2.plot(own, own / k**beta, "k--", lw=1, label="no damping (a / k^β)")
    ax2.set(
        xlabel="own activation a_i", ylabel="output b_i", title="One channel's response, by its neighbours' activity"
    )
    ax2.legend(fontsize=8)
    return fig


def lrn_explorer(k: float = LRN_K, n: int = LRN_SIZE, alpha: float = LRN_ALPHA, beta: float = LRN_BETA):
    """Sliders for LRN's k, n, alpha and beta; the figure of :func:`plot_lrn` redraws (live kernel only)."""
    import ipywidgets as widgets

    controls = {
        "k": widgets.FloatSlider(value=k, min=0.5, max=4.0, step=0.5, description="k", continuous_update=False),
        "n": widgets.IntSlider(value=n, min=1, max=9, step=2, description="n", continuous_update=False),
        "alpha": widgets.FloatLogSlider(
            value=alpha, base=10, min=-6, max=-2, step=0.25, description="α", continuous_update=False
        ),
        "beta": widgets.FloatSlider(value=beta, min=0.25, max=1.5, step=0.05, description="β", continuous_update=False),
    }
    return controls_explorer(
        plot_lrn, controls, rows=[["k", "n"], ["alpha", "beta"]], note="move the sliders to change the LRN constants"
    )


# Static figures of the chapter's stored experiments (they take results, never train).


def plot_error_race(result: dict) -> Figure:
    """The ``relu_vs_tanh`` result as the paper's Fig. 1: running training error against epochs, with the 25 % line."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2), constrained_layout=True)
    styles = {"relu": ("ReLU", "-", "#D55E00"), "tanh": ("tanh", "--", "#0072B2")}
    for key, (label, ls, color) in styles.items():
        run = result[key]
        spe = run["steps_per_epoch"]
        epochs = [p["step"] / spe for p in run["curve"]]
        errors = [p["train_error"] for p in run["curve"]]
        reached = run["steps_to_target"]
        where = f"{reached / spe:.1f} epochs" if reached else f"not within {run['epochs_trained']} epochs"
        ax.plot(epochs, errors, ls=ls, color=color, label=f"{label} (lr {run['lr']:g}): 25 % after {where}")
        if reached:
            ax.plot([reached / spe], [result["target_error"]], "o", color=color)
    ax.axhline(result["target_error"], color="gray", ls=":", lw=1)
    ax.set(
        xlabel="epochs (passes over the 50,000 training images)",
        ylabel="training error (running, per 0.1 epoch)",
        title="Four-layer CNN on CIFAR-10: ReLU vs tanh (after Krizhevsky et al. 2012, Fig. 1)",
        ylim=(0, 0.9),
    )
    ax.legend()
    return fig


def plot_generalisation_gap(result: dict) -> Figure:
    """The ``dropout_augmentation`` result: clean training accuracy and test accuracy of each variant."""
    runs = result["runs"]
    names = list(runs)
    fig, ax = plt.subplots(figsize=(7.5, 3.8), constrained_layout=True)
    x = torch.arange(len(names)).float()
    for offset, key, label, color in (
        (-0.2, "train_acc", "training images (measured without dropout or augmentation)", "#bbbbbb"),
        (0.2, "test_acc", f"test images ({result['test_images']:,})", "#D55E00"),
    ):
        values = [100 * runs[n][key] for n in names]
        bars = ax.bar(x + offset, values, width=0.4, label=label, color=color)
        for bar, v in zip(bars, values):
            ax.annotate(f"{v:.1f}", (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom", fontsize=9)
    ax.set_xticks(x.tolist(), [f"{n}\ngap {100 * runs[n]['gap']:.1f} pts" for n in names])
    ax.set(
        ylabel="accuracy (%)",
        ylim=(0, 105),
        title=f"Small AlexNet on {result['train_images']:,} CIFAR-10 images: dropout and augmentation",
    )
    ax.legend(fontsize=8, loc="upper right")
    return fig


def tta_rows(result: dict, model: str) -> list[dict]:
    """One row per way of combining the views (:data:`TTA_WAYS`) for ``model`` of a ``ten_crop_tta`` result:
    its test error (%) and McNemar's paired test against the centre view alone (images it fixed and broke,
    exact p-value). For :func:`cnnlib.nbtools.show_table`."""
    runs = result["models"][model]
    rows = []
    for key, (label, views) in TTA_WAYS.items():
        test = runs["mcnemar"].get(f"single_centre vs {key}")
        rows.append(
            {
                "way": label,
                "views": views,
                "error": 100 * (1 - runs[key]),
                "fixed": test["b_only"] if test else None,
                "broken": test["a_only"] if test else None,
                "p": test["p_value"] if test else None,
            }
        )
    return rows


def plot_tta(result: dict) -> Figure:
    """How much each way of combining the views (:data:`TTA_WAYS`) changes the test error against the centre
    view alone, per model of a ``ten_crop_tta`` result, with 95 % intervals of the paired difference."""
    models = list(result["models"])
    ways = [key for key in TTA_WAYS if key != "single_centre"]
    colours = ("#D55E00", "#0072B2", "#009E73")
    fig, ax = plt.subplots(figsize=(9, 4.4), layout="constrained")
    y = torch.arange(len(ways)).float()
    height = 0.8 / len(models)
    for m, (name, colour) in enumerate(zip(models, colours)):
        tests = [result["models"][name]["mcnemar"][f"single_centre vs {key}"] for key in ways]
        change = [-100 * (t["accuracy_b"] - t["accuracy_a"]) for t in tests]  # error change, points
        half = [100 * 1.96 * t["difference_se"] for t in tests]
        centre_error = 100 * (1 - result["models"][name]["single_centre"])
        ax.barh(
            y + (m - (len(models) - 1) / 2) * height,
            change,
            height=height,
            xerr=half,
            color=colour,
            ecolor="#333333",
            capsize=3,
            label=f"{name} (centre view: {centre_error:.2f} % error)",
        )
    ax.axvline(0, color="gray", lw=1)
    ax.set_yticks(y.tolist(), [TTA_WAYS[key][0] for key in ways])
    ax.invert_yaxis()
    ax.set(
        xlabel="change in test error against the centre view alone (points; bars: 95 % paired interval)",
        title=f"Test-time augmentation, {result['test_images']:,} CIFAR-10 test images: left of 0 is better",
    )
    fig.legend(loc="outside lower center", ncols=len(models), fontsize=9)
    return fig


def _verdict(test: dict) -> str:
    """McNemar's p-value in words: below 0.01 "clear", 0.05 or above "not clear", between them "weak"."""
    p = test["p_value"]
    return "clear" if p < 0.01 else "not clear" if p >= 0.05 else "weak"


TTA_SHORT = {  # short names for the findings' lines
    "single_centre": "centre",
    "mirror_centre": "mirrored centre",
    "centre_and_mirror": "centre + mirror",
    "ten_crop_logits": "ten views",
    "ten_crop_softmax": "ten, softmax",
}


def tta_findings(result: dict) -> str:
    """The ``ten_crop_tta`` result in sentences, one paragraph per model, built from its numbers, and the
    check of the images' orientation. Each comparison gives both error rates, how many images each way
    alone got right, and McNemar's exact p-value (below 0.01: "clear"; 0.05 or above: "not clear")."""
    lines = []
    for name, runs in result["models"].items():
        lines.append(
            f"{name} ({result['test_images']:,} images): A -> B, error %, right only in A / only in B, McNemar p"
        )
        for a, b in (
            ("single_centre", "mirror_centre"),
            ("single_centre", "centre_and_mirror"),
            ("centre_and_mirror", "ten_crop_logits"),
            ("ten_crop_logits", "ten_crop_softmax"),
        ):
            test = runs["mcnemar"][f"{a} vs {b}"]
            lines.append(
                f"  {TTA_SHORT[a]:>15} -> {TTA_SHORT[b]:<15} {100 * (1 - test['accuracy_a']):5.2f} -> "
                f"{100 * (1 - test['accuracy_b']):5.2f} %  {test['a_only']:>3} / {test['b_only']:>3}  "
                f"p = {test['p_value']:.2g} ({_verdict(test)})"
            )
        corners = [v for k, v in runs["per_view_acc"].items() if "centre" not in k]
        lines.append(
            f"  each of the eight corner views alone: {100 * (1 - max(corners)):.2f} to "
            f"{100 * (1 - min(corners)):.2f} % error"
        )
    check = result["orientation"]
    found = "once, as published" if len(check["as_published"]) == 1 else f"{len(check['as_published'])} times"
    lines.append(
        f"orientation: the official first training image (a frog) found {found}; "
        f"mirrored: {len(check['mirrored'])}, upside down: {len(check['upside_down'])}"
    )
    return "\n".join(lines)
