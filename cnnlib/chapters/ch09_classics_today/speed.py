"""Why plain VGG-style networks run fast: compute density per kernel size, RepVGG fused against multi-branch, and
the activation memory a skip connection costs. Every figure is measured on the machine that runs it."""

from __future__ import annotations

import copy
from typing import Any, Sequence

import torch
import torch.nn as nn

from ...analysis.memory import activation_memory
from ...analysis.summary import count_mult_adds, count_parameters, measure_latency, median_seconds
from ...models import get_model
from ...models.repvgg import reparameterized
from ...train import cpu_has_bf16

__all__ = [
    "DENSITY_SHAPE",
    "PAPER_TABLE_1",
    "PAPER_TABLE_4",
    "bn_folded",
    "calibrate_batch_norms",
    "conv_implementation",
    "cpu_comparison",
    "fusion_gains",
    "kernel_density",
    "paper_table4_rows",
    "plain_stack",
    "repvgg_speed",
    "residual_stack",
    "stack_memory",
]

# Ding et al. 2021, Table 1 (1080Ti, batch 32, 2048 -> 2048 channels, 56 x 56, stride 1): kernel -> (theoretical
# "FLOPs" in billions, time in ms, "TFLOPS"). The FLOPs column counts multiply-adds (2048² · 56² · 32 = 420.9 G for
# the 1x1) and the TFLOPS column two operations per multiply-add (2 · 420.9 G / 84.5 ms = 9.96 T).
PAPER_TABLE_1: dict[int, tuple[float, float, float]] = {
    1: (420.9, 84.5, 9.96),
    3: (3788.1, 198.8, 38.10),
    5: (10522.6, 2092.5, 10.57),
    7: (20624.4, 4394.3, 9.38),
}
# The shape measured here: 1/8 of the paper's channels and batch 4 instead of 32, so that the 7 x 7 convolution
# (40 G multiply-adds) takes about a second in float32 on 2 cores.
DENSITY_SHAPE: dict[str, int] = {"channels": 256, "size": 56, "batch": 4}

# Ding et al. 2021: the RepVGG-versus-baselines table as the seed lecture prints it (ImageNet top-1; speed: images/s
# on a 1080Ti, batch 128, fp32): model -> (top-1 %, speed, parameters M, theoretical FLOPs G, Wino MULs G or
# None). The FLOPs column counts multiply-adds. A subset of the rows; the seed's caption calls it Table 5, the
# 120-epoch comparison of the paper is its Table 4: check the paper before quoting the training budget.
PAPER_TABLE_4: dict[str, tuple[float, int, float, float, float | None]] = {
    "RepVGG-A0": (72.41, 3256, 8.30, 1.4, 0.7),
    "ResNet-18": (71.16, 2442, 11.68, 1.8, 1.0),
    "RepVGG-A1": (74.46, 2339, 12.78, 2.4, 1.3),
    "RepVGG-B0": (75.14, 1817, 14.33, 3.1, 1.6),
    "ResNet-34": (74.17, 1419, 21.78, 3.7, 1.8),
    "RepVGG-A2": (76.48, 1322, 25.49, 5.1, 2.7),
    "ResNet-50": (76.31, 719, 25.53, 3.9, 2.8),
    "RepVGG-B1": (78.37, 685, 51.82, 11.8, 5.9),
    "ResNet-101": (77.21, 430, 44.49, 7.6, 5.5),
    "VGG-16": (72.21, 415, 138.35, 15.5, 6.9),
    "EfficientNet-B0": (75.11, 829, 5.26, 0.4, None),
}


def paper_table4_rows() -> list[dict[str, Any]]:
    """:data:`PAPER_TABLE_4` as rows, with the arithmetic rate each model reaches: images/s x G multiply-adds per
    image = G multiply-adds per second on the paper's GPU (the "FLOPs are not speed" column)."""
    return [{"model": m, "top1": v[0], "speed": v[1], "params": v[2], "flops": v[3], "wino": v[4],
             "gmacs_per_s": v[1] * v[3]} for m, v in PAPER_TABLE_4.items()]  # fmt: skip


_GENERIC_CONV_OPS = {"aten::conv2d", "aten::convolution", "aten::_convolution"}


def conv_implementation(conv: nn.Module, x: torch.Tensor) -> str:
    """The ATen kernel(s) PyTorch dispatches one call of ``conv(x)`` to, from the profiler: e.g.
    ``aten::mkldnn_convolution`` (oneDNN) or ``aten::_slow_conv2d_forward`` (im2col + matrix product). None of
    PyTorch's CPU paths uses Winograd's algorithm."""
    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU]) as prof:
        conv(x)
    names = {e.key for e in prof.key_averages() if "conv" in e.key.lower()} - _GENERIC_CONV_OPS
    return ", ".join(sorted(n.removeprefix("aten::") for n in names)) or "unknown"


def kernel_density(
    channels: int, size: int, batch: int, repeats: int = 10, kernels: Sequence[int] = (1, 3, 5, 7)
) -> list[dict[str, Any]]:
    """One k x k convolution (stride 1, "same" padding, ``channels`` -> ``channels``) per kernel size and
    precision: G multiply-adds, median time, achieved GFLOP/s (two operations per multiply-add, the paper's unit),
    the rate relative to the 1 x 1's, and the ATen kernel that ran (:func:`conv_implementation`); beside them the
    paper's TFLOPS and its rate relative to its 1 x 1 (float32 on the GPU, the same for both precisions' rows).

    bfloat16 runs the layer and its input in bfloat16 (not autocast: no conversions timed); it is measured only
    where the CPU has bfloat16 instructions (:func:`cnnlib.train.cpu_has_bf16`), else its rows say so.
    """
    rows: list[dict[str, Any]] = []
    bf16 = cpu_has_bf16()
    for dtype in (torch.float32, torch.bfloat16):
        base = None
        for k in kernels:
            macs = batch * channels * channels * k * k * size * size
            paper = PAPER_TABLE_1.get(k)
            row: dict[str, Any] = {"kernel": k, "precision": str(dtype).removeprefix("torch."), "gmacs": macs / 1e9,
                                   "paper_tflops": paper[2] if paper else None,
                                   "paper_relative": paper[2] / PAPER_TABLE_1[1][2] if paper else None}  # fmt: skip
            if dtype == torch.bfloat16 and not bf16:
                rows.append({**row, "ms": None, "gflops": None, "relative": None, "implementation": "not run"})
                continue
            torch.manual_seed(0)
            conv = nn.Conv2d(channels, channels, k, padding=k // 2, bias=False).to(dtype).eval()
            x = torch.randn(batch, channels, size, size, dtype=dtype)
            with torch.inference_mode():
                seconds = median_seconds(lambda: conv(x), warmup=2, repeats=repeats)
            rate = 2 * macs / seconds / 1e9
            base = base or rate
            rows.append({**row, "ms": 1e3 * seconds, "gflops": rate, "relative": rate / base,
                         "implementation": conv_implementation(conv, x)})  # fmt: skip
    return rows


def calibrate_batch_norms(model: nn.Module, size: int, batch: int = 8, seed: int = 0) -> nn.Module:
    """Give a freshly built model's BNs running statistics from one training-mode pass on random images, so its
    eval-mode outputs stay of ordinary size (fresh BNs, mean 0 and variance 1, let RepVGG's summed branches grow
    layer after layer). Returns the model, in eval mode."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # cumulative average: one pass sets the statistics
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.train()(torch.randn(batch, 3, size, size, generator=generator))
    return model.eval()


def bn_folded(model: nn.Module) -> nn.Module:
    """A copy of a multi-branch RepVGG model with every conv + BN pair folded into one convolution with bias
    (``torch.nn.utils.fusion.fuse_conv_bn_eval``, what deployment tools do for any network) but the branches kept:
    ``conv3x3(x) + conv1x1(x) + BN(x)``. Between the multi-branch and the fused forms, it separates what BN
    folding buys from what merging the branches buys."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    from ...models.repvgg import RepVGGBlock

    folded = copy.deepcopy(model).eval()
    for block in folded.modules():
        if isinstance(block, RepVGGBlock) and not block.is_fused:
            for branch in (block.conv3x3, block.conv1x1):
                branch[0] = fuse_conv_bn_eval(branch[0], branch[1])
                branch[1] = nn.Identity()
    return folded


def repvgg_speed(
    models: Sequence[tuple[str, int, dict[str, Any]]] = (
        ("repvgg_a0", 224, {}),
        ("repvgg_a0_cifar", 32, {"width": 0.5}),
    ),
    batches: Sequence[int] = (1, 64),
    repeats: int = 5,
) -> list[dict[str, Any]]:
    """For each (model name, image size, model keyword arguments): three forms of the same function, in eval mode and
    float32, at each batch size: multi-branch (as trained), BN folded (:func:`bn_folded`) and fused (one 3x3
    convolution per block). Rows: median latency, images per second, peak activation memory (MB), parameters,
    multiply-adds, and the largest output difference from the multi-branch form. ``model`` names the kwargs too
    (``repvgg_a0_cifar width=0.5`` is the zoo's entry)."""
    rows = []
    for name, size, kwargs in models:
        label = " ".join([name, *(f"{k}={v}" for k, v in kwargs.items())])
        torch.manual_seed(0)
        multi = calibrate_batch_norms(get_model(name, **kwargs), size)
        forms = (("multi-branch", multi), ("BN folded", bn_folded(multi)), ("fused", reparameterized(multi).eval()))
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
        with torch.inference_mode():
            reference = multi(x)
            differences = {form: (model(x) - reference).abs().max().item() for form, model in forms}
        for batch in batches:
            x = torch.randn(batch, 3, size, size)
            for form, model in forms:
                with torch.inference_mode():
                    seconds = median_seconds(lambda m=model: m(x), warmup=2, repeats=repeats * (2 if batch == 1 else 1))
                memory = activation_memory(model, (batch, 3, size, size))
                rows.append({"model": label, "size": size, "batch": batch, "form": form,
                             "params": count_parameters(model), "mult_adds": count_mult_adds(model, (3, size, size)),
                             "ms": 1e3 * seconds, "img_per_s": batch / seconds,
                             "peak_mb": memory.peak_bytes / 2**20, "max_difference": differences[form]})  # fmt: skip
    return rows


def fusion_gains(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """From :func:`repvgg_speed`'s rows, one row per (model, batch): how much faster the BN-folded and the fused
    forms run than the multi-branch one, the share of its multiply-adds the fused form keeps, and the share of its
    peak activation memory each form needs."""
    out = []
    for model, batch in dict.fromkeys((r["model"], r["batch"]) for r in rows):
        by = {r["form"]: r for r in rows if r["model"] == model and r["batch"] == batch}
        multi, folded, fused = by["multi-branch"], by["BN folded"], by["fused"]
        out.append({"model": model, "batch": batch,
                    "speedup_folded": multi["ms"] / folded["ms"], "speedup_fused": multi["ms"] / fused["ms"],
                    "mult_adds_kept": fused["mult_adds"] / multi["mult_adds"],
                    "memory_folded": folded["peak_mb"] / multi["peak_mb"],
                    "memory_fused": fused["peak_mb"] / multi["peak_mb"]})  # fmt: skip
    return out


class _Residual(nn.Module):
    """``ReLU(x + conv(ReLU(conv(x))))``: a basic block with its BNs folded into the convolutions (deploy form)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.relu(self.conv1(x)))  # x stays alive meanwhile: the shortcut still needs it
        out += x  # in place, as torchvision's BasicBlock: the sum needs no map of its own
        return self.relu(out)


def plain_stack(channels: int, convs: int) -> nn.Sequential:
    """``convs`` 3 x 3 convolutions with ReLU, no shortcut (a fused RepVGG stage)."""
    return nn.Sequential(*[nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True))
                           for _ in range(convs)])  # fmt: skip


def residual_stack(channels: int, convs: int) -> nn.Sequential:
    """The same ``convs`` convolutions as residual blocks of two (a ResNet stage in deploy form)."""
    if convs % 2:
        raise ValueError(f"a residual block holds two convolutions; {convs} is odd")
    return nn.Sequential(*[_Residual(channels) for _ in range(convs // 2)])


def stack_memory(channels: int = 64, size: int = 56, convs: int = 8, batch: int = 1) -> list[dict[str, Any]]:
    """Peak activation memory of :func:`plain_stack` and :func:`residual_stack` (same convolutions, same
    multiply-adds), in bytes and in feature maps (one map = ``batch x channels x size x size`` floats; the
    input is one of them)."""
    rows = []
    one_map = batch * channels * size * size * 4
    for kind, build in (("plain", plain_stack), ("residual", residual_stack)):
        torch.manual_seed(0)
        model = build(channels, convs)
        memory = activation_memory(model, (batch, channels, size, size))
        rows.append({"stack": kind, "convs": convs, "params": count_parameters(model),
                     "peak_mb": memory.peak_bytes / 2**20, "maps": memory.peak_bytes / one_map})  # fmt: skip
    return rows


def cpu_comparison(
    names: Sequence[str] = ("repvgg_a0", "resnet20", "resnet56", "vgg11_bn_cifar"),
    batches: Sequence[int] = (1, 64),
    repeats: int = 10,
) -> list[dict[str, Any]]:
    """The paper's RepVGG-vs-ResNet comparison redone on this CPU with the zoo's CIFAR-10 checkpoints: for each
    entry (a RepVGG entry twice, multi-branch and fused), test accuracy from its log, parameters, multiply-adds and
    the latency measured now (float32, eval mode) at each batch size, in ms, images per second and G multiply-adds
    per second."""
    from ... import zoo

    rows = []
    for name in names:
        forms = [("multi-branch", False), ("fused", True)] if "repvgg" in zoo.entry(name).model else [("", False)]
        for form, fused in forms:
            model, log = zoo.load(name, fused=fused)
            row: dict[str, Any] = {
                "entry": name + (f" ({form})" if form else ""),
                "test_acc": 100 * log["stored"]["test_acc"],
                "params": count_parameters(model),
                "mult_adds": count_mult_adds(model, (3, 32, 32)),
            }
            for batch in batches:
                ms = measure_latency(model, (3, 32, 32), batch_size=batch, repeats=repeats)
                row[f"ms_{batch}"], row[f"img_per_s_{batch}"] = ms, 1000 * batch / ms
                row[f"gmacs_per_s_{batch}"] = row["mult_adds"] * row[f"img_per_s_{batch}"] / 1e9
            rows.append(row)
    return rows
