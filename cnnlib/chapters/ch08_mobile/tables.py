"""Chapter 08's tables: the mobile papers' published figures, and the same quantities counted on cnnlib's models.

Sources (all ImageNet, 224 x 224 unless stated):

- Howard et al. 2017, *MobileNets* (arXiv 1704.04861): Table 2 (resources per layer type), Table 4
  (full vs depthwise separable convolutions), Table 6 (width multiplier), Table 7 (resolution multiplier).
- Iandola et al. 2016, *SqueezeNet* (arXiv 1602.07360), Table 2.
- Gholami et al. 2018, *SqueezeNext* (arXiv 1803.10615), Table 2 (1.0-SqNxt-23).
- Zhang et al. 2017, *ShuffleNet* (arXiv 1707.01083), Table 2 (1x, g = 3).
- Sandler et al. 2018, *MobileNetV2* (arXiv 1801.04381), Table 4; Howard et al. 2019, *Searching for
  MobileNetV3* (arXiv 1905.02244), Table 3.
- Tan & Le 2019, *EfficientNet* (arXiv 1905.11946), Table 2.
- torchvision 0.29's documented figures for the models it ships weights for (``pretrained.published_figures``).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Mapping, Sequence

import torch
import torch.nn as nn

from ...analysis.summary import count_mult_adds, count_parameters, layer_table
from ...models import build_on_meta
from ...models.blocks import ConvNormAct
from ...models.efficientnet import ALPHA, BETA, EFFICIENTNET_B0, EFFICIENTNET_VARIANTS, GAMMA, compound_scaling
from ...models.mobilenet import DepthwiseSeparable
from ...models.squeezenet import Fire
from ...pretrained import published_figures
from .guidelines import direction_holds

__all__ = [
    "EFFICIENTNET_TABLE2",
    "GAP_PARTS",
    "HOWARD_TABLE2",
    "HOWARD_TABLE4",
    "HOWARD_TABLE6",
    "HOWARD_TABLE7",
    "PAPER_IMAGENET",
    "PIXEL1_MS",
    "REFERENCE_MODELS",
    "SQUEEZENET_TABLE2",
    "conv_kind",
    "efficientnet_rows",
    "efficientnet_stage_rows",
    "fire_costs",
    "guideline_summary",
    "kind_mult_adds",
    "kind_shares",
    "below_reference",
    "latency_rows",
    "pair_rows",
    "mobilenet_v1_cost",
    "multiplier_gap",
    "multiplier_rows",
    "separable_costs",
    "squeezenet_rows",
    "throughput_rows",
    "zoo_comparison",
]

# Howard et al., Table 6 (width multiplier alpha at 224 px) and Table 7 (resolution at alpha = 1):
# key -> (ImageNet top-1 %, million mult-adds, million parameters)
HOWARD_TABLE6: dict[float, tuple[float, int, float]] = {
    1.0: (70.6, 569, 4.2),
    0.75: (68.4, 325, 2.6),
    0.5: (63.7, 149, 1.3),
    0.25: (50.6, 41, 0.5),
}
HOWARD_TABLE7: dict[int, tuple[float, int, float]] = {
    224: (70.6, 569, 4.2),
    192: (69.1, 418, 4.2),
    160: (67.2, 290, 4.2),
    128: (64.4, 186, 4.2),
}
# Table 4: the same 28-layer network with full convolutions or depthwise separable ones
HOWARD_TABLE4: dict[str, tuple[float, int, float]] = {
    "Conv MobileNet (full 3x3 convolutions)": (71.7, 4866, 29.3),
    "MobileNet (depthwise separable)": (70.6, 569, 4.2),
}
# Table 2: share of the mult-adds and of the parameters of MobileNet (1.0, 224) by layer type, %
HOWARD_TABLE2: dict[str, tuple[float, float]] = {
    "1x1 conv": (94.86, 74.59),
    "depthwise 3x3": (3.06, 1.06),
    "full 3x3": (1.19, 0.02),
    "fully connected": (0.18, 24.33),
}
# Iandola et al., Table 2: model size (MB, 32-bit weights) and ImageNet top-1 / top-5 (%)
SQUEEZENET_TABLE2: dict[str, tuple[float, float, float]] = {
    "AlexNet (CaffeNet baseline)": (240, 57.2, 80.3),
    "SqueezeNet": (4.8, 57.5, 80.3),
    "SqueezeNet + Deep Compression (6-bit)": (0.47, 57.5, 80.3),
}
# Tan & Le, Table 2: variant -> (top-1 %, top-5 %, million parameters, billion FLOPs (mult-adds))
EFFICIENTNET_TABLE2: dict[str, tuple[float, float, float, float]] = {
    "b0": (77.1, 93.3, 5.3, 0.39),
    "b1": (79.1, 94.4, 7.8, 0.70),
    "b2": (80.1, 94.9, 9.2, 1.0),
    "b3": (81.6, 95.7, 12, 1.8),
    "b4": (82.9, 96.4, 19, 4.2),
    "b5": (83.6, 96.7, 30, 9.9),
    "b6": (84.0, 96.8, 43, 19),
    "b7": (84.3, 97.0, 66, 37),
}
# The papers' ImageNet top-1 (%) and million mult-adds ("FLOPs" in most of these papers); None where the paper
# gives none. torchvision's own figures (top-1 of its weights, mult-adds) come from its metadata.
PAPER_IMAGENET: dict[str, tuple[float | None, float | None, str]] = {
    "mobilenet_v1": (70.6, 569, "Howard et al. 2017, Table 6"),
    "mobilenet_v2": (72.0, 300, "Sandler et al. 2018, Table 4"),
    "mobilenet_v3_large": (75.2, 219, "Howard et al. 2019, Table 3"),
    "mobilenet_v3_small": (67.4, 56, "Howard et al. 2019, Table 3"),
    "squeezenet1_0": (57.5, None, "Iandola et al. 2016, Table 2"),
    "squeezenet1_1": (None, None, "the authors' v1.1 README: 2.4x less computation than 1.0, same accuracy"),
    "sqnxt23_1x": (59.05, 282, "Gholami et al. 2018, Table 2"),
    "shufflenet_v1_g3": (67.4, 140, "Zhang et al. 2017, Table 2 (32.6 % error)"),
    "shufflenet_v2_x1_0": (69.4, 146, "Ma et al. 2018, Table 8 (30.6 % error)"),
    "efficientnet_b0": (77.1, 390, "Tan & Le 2019, Table 2"),
    "alexnet": (57.2, None, "Iandola et al. 2016, Table 2 (CaffeNet)"),
    "resnet18": (None, 1800, "He et al. 2016, Table 1"),
    "resnet50": (None, 3800, "He et al. 2016, Table 1"),
}


# Sandler et al., Table 4: single-core latency (ms) on a Google Pixel 1 phone, TF-Lite, float
PIXEL1_MS: dict[str, float] = {"mobilenet_v1": 113, "mobilenet_v2": 75}

# ----------------------------------------------------------------------------- MobileNet v1


def separable_costs(in_channels: int = 512, out_channels: int = 512, size: int = 14, kernel: int = 3) -> dict:
    """A full k x k convolution against cnnlib's depthwise separable layer (both with BN and ReLU), counted.

    Returns ``{"full": {"params", "mult_adds"}, "separable": {...}, "ratio": separable / full mult-adds,
    "formula": 1/N + 1/k^2}`` (Howard et al., Eq. 5; N = output channels).
    """
    full = ConvNormAct(in_channels, out_channels, kernel)
    separable = DepthwiseSeparable(in_channels, out_channels)
    shape = (in_channels, size, size)
    out = {
        name: {"params": count_parameters(m), "mult_adds": count_mult_adds(m, shape)}
        for name, m in (("full", full), ("separable", separable))
    }
    out["ratio"] = out["separable"]["mult_adds"] / out["full"]["mult_adds"]
    out["formula"] = 1 / out_channels + 1 / kernel**2
    return out


@lru_cache(maxsize=None)
def mobilenet_v1_cost(width: float, resolution: int) -> tuple[int, int]:
    """(parameters, mult-adds) of cnnlib's MobileNet v1 with width multiplier ``width`` on ``resolution`` px."""
    model = build_on_meta("mobilenet_v1", width=width)
    return count_parameters(model), count_mult_adds(model, (3, resolution, resolution))


def multiplier_rows() -> list[dict[str, Any]]:
    """Howard et al.'s Tables 6 and 7 beside cnnlib's counts: one row per (alpha, resolution) of the tables.

    Keys: ``config`` ("1.0 MobileNet-224"), ``width``, ``resolution``, ``params`` and ``mult_adds`` (counted,
    millions), ``paper_params``, ``paper_mult_adds`` (millions), ``paper_top1`` (%), and the rule's
    prediction ``rule_mult_adds`` = 569 M x alpha^2 x rho^2 (the fully connected layer does not scale with rho).
    """
    configs = [(w, 224, HOWARD_TABLE6[w]) for w in HOWARD_TABLE6] + [
        (1.0, r, HOWARD_TABLE7[r]) for r in HOWARD_TABLE7 if r != 224
    ]
    base = mobilenet_v1_cost(1.0, 224)[1]
    rows = []
    for width, resolution, (top1, paper_macs, paper_params) in configs:
        params, macs = mobilenet_v1_cost(width, resolution)
        rows.append(
            {
                "config": f"{width:g} MobileNet-{resolution}",
                "width": width,
                "resolution": resolution,
                "params": params / 1e6,
                "paper_params": paper_params,
                "mult_adds": macs / 1e6,
                "rule_mult_adds": base * width**2 * (resolution / 224) ** 2 / 1e6,
                "paper_mult_adds": paper_macs,
                "paper_top1": top1,
            }
        )
    return rows


def conv_kind(module: nn.Module) -> str | None:
    """Howard et al.'s layer types: "1x1 conv", "depthwise 3x3" (any k x k with one filter per channel),
    "grouped 1x1", "full 3x3" (any other k x k), "fully connected"; ``None`` for layers without weights."""
    if isinstance(module, nn.Linear):
        return "fully connected"
    if not isinstance(module, nn.Conv2d):
        return None
    pointwise = module.kernel_size == (1, 1)
    if module.groups == 1:
        return "1x1 conv" if pointwise else "full 3x3"
    if module.groups == module.in_channels and not pointwise:
        return "depthwise 3x3"
    return "grouped 1x1" if pointwise else "grouped kxk"


def kind_shares(model: nn.Module, input_shape: tuple[int, int, int] = (3, 224, 224)) -> dict[str, dict[str, float]]:
    """Share (%) of the convolution and linear layers' mult-adds and parameters by :func:`conv_kind`
    (Howard et al.'s Table 2; batch norm is folded away there, so it is left out here)."""
    table = layer_table(model, input_shape)
    totals: dict[str, list[float]] = {}
    for row in table.rows:
        kind = conv_kind(model.get_submodule(row.name))
        if kind is not None:
            t = totals.setdefault(kind, [0.0, 0.0])
            t[0] += row.mult_adds
            t[1] += row.params
    macs = sum(v[0] for v in totals.values())
    params = sum(v[1] for v in totals.values())
    return {k: {"mult_adds": 100 * v[0] / macs, "params": 100 * v[1] / params} for k, v in totals.items()}


# The layer kinds of MobileNet v1 by their role (its only "full 3x3" is the stem, its only linear layer the classifier)
GAP_PARTS = {"depthwise 3x3": "depthwise", "full 3x3": "stem", "fully connected": "classifier", "1x1 conv": "1x1"}


def kind_mult_adds(model: nn.Module, input_shape: tuple[int, int, int]) -> dict[str, int]:
    """Mult-adds of one image by :func:`conv_kind` (weights only, no bias: as ``count_mult_adds``); works on the
    meta device."""
    totals: dict[str, int] = {}

    def hook(module: nn.Module, inputs: Any, out: torch.Tensor) -> None:
        per_image = out.numel() // out.shape[0]
        if isinstance(module, nn.Linear):
            macs = per_image * module.in_features
        else:
            macs = per_image * (module.in_channels // module.groups) * math.prod(module.kernel_size)
        kind = conv_kind(module)
        totals[kind] = totals.get(kind, 0) + macs

    handles = [m.register_forward_hook(hook) for m in model.modules() if conv_kind(m) is not None]
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
    return totals


def multiplier_gap(width: float, resolution: int = 224) -> dict[str, float]:
    """Where MobileNet v1's counted mult-adds exceed the alpha^2 rho^2 rule (millions), by layer role.

    For each kind of layer, its counted mult-adds at (``width``, ``resolution``) minus alpha^2 rho^2 times its
    mult-adds in 1.0 MobileNet-224: keys :data:`GAP_PARTS`'s values ("depthwise", "stem", "classifier", "1x1")
    and ``"total"`` (their sum, which is :func:`multiplier_rows`' ``mult_adds - rule_mult_adds``).
    """
    base = kind_mult_adds(build_on_meta("mobilenet_v1"), (3, 224, 224))
    counted = kind_mult_adds(build_on_meta("mobilenet_v1", width=width), (3, resolution, resolution))
    scale = width**2 * (resolution / 224) ** 2
    gap = {GAP_PARTS[k]: (counted.get(k, 0) - scale * base[k]) / 1e6 for k in base}
    gap["total"] = sum(gap.values())
    return gap


# ----------------------------------------------------------------------------- SqueezeNet


def fire_costs(in_channels: int = 128, squeeze: int = 16, expand: int = 64, size: int = 55) -> list[dict[str, Any]]:
    """SqueezeNet's strategies 1 and 2 on one layer of ``in_channels`` -> ``2 * expand`` channels (fire3 of
    Table 1 by default): a 3x3 convolution, half of its filters made 1x1, and the whole Fire module."""
    out = 2 * expand

    class HalfOneByOne(nn.Module):  # strategy 1 alone: half of the 3x3 filters replaced by 1x1
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(in_channels, expand, 1)
            self.b = nn.Conv2d(in_channels, expand, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([self.a(x), self.b(x)], 1)

    layers = {
        f"3x3 conv, {in_channels} -> {out}": nn.Conv2d(in_channels, out, 3, padding=1),
        "strategy 1: half the filters 1x1": HalfOneByOne(),
        f"strategies 1 + 2: Fire (s = {squeeze})": Fire(
            in_channels, squeeze_channels=squeeze, expand1x1_channels=expand, expand3x3_channels=expand
        ),
    }
    shape = (in_channels, size, size)
    rows = [
        {"layer": name, "params": count_parameters(m), "mult_adds": count_mult_adds(m, shape)}
        for name, m in layers.items()
    ]
    for row in rows:
        row["fraction"] = row["params"] / rows[0]["params"]
    return rows


def squeezenet_rows() -> list[dict[str, Any]]:
    """Parameters, float32 size (MB) and mult-adds of AlexNet and SqueezeNet, counted; ``vs_squeezenet``:
    how many times more parameters than SqueezeNet 1.0 (the paper's "50x")."""
    models = {
        "alexnet_paper": (3, 227, 227),  # the seed's one-tower table (Krizhevsky et al.)
        "alexnet": (3, 224, 224),  # torchvision's
        "squeezenet1_0": (3, 224, 224),
        "squeezenet1_1": (3, 224, 224),
        "sqnxt23_1x": (3, 224, 224),
    }
    rows = []
    for name, shape in models.items():
        model = build_on_meta(name)
        params = count_parameters(model)
        rows.append(
            {
                "model": name,
                "params": params,
                "megabytes": 4 * params / 1e6,
                "mult_adds": count_mult_adds(model, shape) / 1e6,
            }
        )
    reference = next(r["params"] for r in rows if r["model"] == "squeezenet1_0")
    for row in rows:
        row["vs_squeezenet"] = row["params"] / reference
    return rows


# ----------------------------------------------------------------------------- EfficientNet


def efficientnet_rows() -> list[dict[str, Any]]:
    """B0-B7: the rule (``compound_scaling(phi)`` with phi = 0..7), the released coefficients, and counts.

    Keys: ``variant``, ``phi``, ``rule_depth``, ``rule_width``, ``rule_resolution`` (224 gamma^phi),
    ``depth``, ``width``, ``resolution`` (released), ``params`` (counted), ``tv_params`` (torchvision),
    ``gmacs`` (counted at the variant's resolution), ``paper_gflops`` and ``paper_params`` (Table 2, millions),
    ``flops_ratio`` (counted mult-adds / B0's) and ``rule_ratio`` ((alpha beta^2 gamma^2)^phi).
    """
    rows = []
    b0 = None
    for phi, (name, v) in enumerate(EFFICIENTNET_VARIANTS.items()):
        model = build_on_meta(f"efficientnet_{name}")
        macs = count_mult_adds(model, (3, v.resolution, v.resolution))
        b0 = b0 or macs
        d, w, r = compound_scaling(phi)
        rows.append(
            {
                "variant": name.upper(),
                "phi": phi,
                "rule_depth": d,
                "rule_width": w,
                "rule_resolution": round(224 * r),
                "depth": v.depth,
                "width": v.width,
                "resolution": v.resolution,
                "params": count_parameters(model),
                "tv_params": published_figures(f"efficientnet_{name}")["params"],
                "paper_params": EFFICIENTNET_TABLE2[name][2],
                "gmacs": macs / 1e9,
                "paper_gflops": EFFICIENTNET_TABLE2[name][3],
                "flops_ratio": macs / b0,
                "rule_ratio": (ALPHA * BETA**2 * GAMMA**2) ** phi,
            }
        )
    return rows


def efficientnet_stage_rows(variants: tuple[str, ...] = ("b0", "b4", "b7")) -> list[dict[str, Any]]:
    """Table 1's stages (operator, layers, channels) for some variants, from ``Stage.scaled`` (as the builders)."""
    rows = []
    for i, stage in enumerate(EFFICIENTNET_B0, start=2):
        row: dict[str, Any] = {"stage": i, "operator": f"MBConv{stage.expand_ratio}, k{stage.kernel}x{stage.kernel}"}
        for name in variants:
            v = EFFICIENTNET_VARIANTS[name]
            s = stage.scaled(v.width, v.depth)
            row[name] = f"{s.layers} x {s.out_channels}"
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- latency

# The non-mobile models of the ``mobile_latency`` experiment, timed for reference
REFERENCE_MODELS = ("alexnet", "resnet18", "resnet50")


def latency_rows(
    models: Mapping[str, Mapping[str, Any]], imagenet: bool = False, reference: str | None = None
) -> list[dict[str, Any]]:
    """Rows of a ``mobile_latency`` result's ``imagenet`` or ``cifar`` part, fastest at batch 1 first.

    Adds ``gmacs_per_s`` (mult-adds per second at batch 64, billions) and ``ms_per_gmac`` (batch-1
    milliseconds per billion mult-adds): how well the processor runs each model's arithmetic. With
    ``imagenet=True`` also ``paper_top1`` (:data:`PAPER_IMAGENET`) and ``tv_top1`` (torchvision's weights;
    ``None`` where torchvision has none). With a ``reference`` model among ``models`` also ``rate_vs_ref``:
    the reference's mult-adds per second over the row's (above 1: the row runs its arithmetic more slowly).
    """
    rows = []
    for name, m in models.items():
        row = {
            "model": name,
            **m,
            "gmacs_per_s": m["mult_adds"] * 64 / (m["batch64_ms"] / 1000) / 1e9,
            "ms_per_gmac": m["batch1_ms"] / (m["mult_adds"] / 1e9),
        }
        if imagenet:
            row["paper_top1"] = PAPER_IMAGENET[name][0] if name in PAPER_IMAGENET else None
            try:
                row["tv_top1"] = published_figures(name)["top1"]
            except (KeyError, ValueError):
                row["tv_top1"] = None
        rows.append(row)
    if reference is not None:
        ref = next(r["gmacs_per_s"] for r in rows if r["model"] == reference)
        for row in rows:
            row["rate_vs_ref"] = ref / row["gmacs_per_s"]
    return sorted(rows, key=lambda r: r["batch1_ms"])


def below_reference(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Split the mobile models (all but :data:`REFERENCE_MODELS`) of :func:`latency_rows` (called with a
    ``reference``) into ``"below"`` (they run their arithmetic more slowly than the reference: ``rate_vs_ref``
    above 1) and ``"not_below"``."""
    mobile = [r for r in rows if r["model"] not in REFERENCE_MODELS]
    return {
        "below": [r["model"] for r in mobile if r["rate_vs_ref"] > 1],
        "not_below": [r["model"] for r in mobile if r["rate_vs_ref"] <= 1],
    }


def pair_rows(rows: Sequence[Mapping[str, Any]], pairs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """For each (model, reference) pair of :func:`latency_rows`' models: ``fewer_macs`` (the reference's
    mult-adds over the model's) and ``faster_b1``, ``faster_b64`` (the reference's time over the model's at
    batch 1 and 64; below 1: the model is slower)."""
    by = {r["model"]: r for r in rows}
    out = []
    for name, ref in pairs:
        a, b = by[name], by[ref]
        out.append(
            {
                "model": name,
                "reference": ref,
                "fewer_macs": b["mult_adds"] / a["mult_adds"],
                "faster_b1": b["batch1_ms"] / a["batch1_ms"],
                "faster_b64": b["batch64_ms"] / a["batch64_ms"],
            }
        )
    return out


def throughput_rows(layer_times: Mapping[str, Mapping[str, float]], batch_size: int = 1) -> list[dict[str, Any]]:
    """Per layer kind (from :func:`cnnlib.chapters.ch08_mobile.latency.time_by_kind` at ``batch_size``): share of
    the mult-adds, share of the time, their ratio ``time_per_macs`` (time share / mult-add share) and the
    mult-adds per second it achieves (billions; ``time_by_kind`` counts the mult-adds of one image and times the
    batch), largest time share first; the last two are ``None`` for a kind without mult-adds."""
    total_ms = sum(v["ms"] for v in layer_times.values())
    total_macs = sum(v["mult_adds"] for v in layer_times.values())
    rows = []
    for kind, v in layer_times.items():
        macs_share = 100 * v["mult_adds"] / total_macs
        time_share = 100 * v["ms"] / total_ms
        rows.append(
            {
                "kind": kind,
                "mult_add_share": macs_share,
                "time_share": time_share,
                "time_per_macs": time_share / macs_share if v["mult_adds"] else None,
                "ms": v["ms"],
                "gmacs_per_s": (
                    batch_size * v["mult_adds"] / (v["ms"] / 1000) / 1e9 if v["mult_adds"] and v["ms"] else None
                ),
            }
        )
    return sorted(rows, key=lambda r: -r["time_share"])


def guideline_summary(rows: Sequence[Mapping[str, Any]], scale: int = 2) -> list[dict[str, Any]]:
    """Per guideline, the variant that departs most from the first (on this CPU), at channels x ``scale``:
    its speed relative to the first variant here (``cpu``), on the paper's ARM phone (``arm``) and on its GPU
    (``gpu``); ``holds``: whether the guideline's direction holds here
    (:func:`~cnnlib.chapters.ch08_mobile.guidelines.direction_holds`); ``vs_arm``: whether the effect here is
    "larger" or "smaller" than on the phone (the distance of the relative speed from 1)."""
    out = []
    for g in dict.fromkeys(r["guideline"] for r in rows):
        sel = [r for r in rows if r["guideline"] == g and r["scale"] == scale]
        worst = max(sel[1:], key=lambda r: abs(r["relative"] - 1))
        arm = worst["arm"] / sel[0]["arm"]
        out.append(
            {
                "guideline": g,
                "variant": worst["variant"],
                "cpu": worst["relative"],
                "arm": arm,
                "gpu": worst["gpu"] / sel[0]["gpu"],
                "holds": direction_holds(g, worst["relative"]),
                "vs_arm": "larger" if abs(worst["relative"] - 1) > abs(arm - 1) else "smaller",
            }
        )
    return out


# ----------------------------------------------------------------------------- the zoo's logs


def zoo_comparison(logs: Mapping[str, Mapping[str, Any] | None], references: Sequence[str]) -> list[dict[str, Any]]:
    """The zoo's training logs (``zoo.read_log``; ``None`` for an untrained entry, left out) against reference
    entries among them: one row per other entry with ``model``, ``params``, ``test_acc`` (%, the stored
    weights on the full test set) and, for each reference r, ``gap_<r>`` (test accuracy minus r's, points)
    and ``fewer_<r>`` (r's parameters over the entry's)."""
    trained = {name: log for name, log in logs.items() if log is not None}
    missing = [r for r in references if r not in trained]
    if missing:
        raise KeyError(f"no log for the reference(s) {missing}: train them first (python -m cnnlib.zoo train NAME)")
    rows = []
    for name, log in trained.items():
        if name in references:
            continue
        row: dict[str, Any] = {"model": name, "params": log["parameters"], "test_acc": 100 * log["stored"]["test_acc"]}
        for ref in references:
            row[f"gap_{ref}"] = row["test_acc"] - 100 * trained[ref]["stored"]["test_acc"]
            row[f"fewer_{ref}"] = trained[ref]["parameters"] / log["parameters"]
        rows.append(row)
    return rows
