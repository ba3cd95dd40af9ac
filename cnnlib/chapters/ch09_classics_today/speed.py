"""Why plain VGG-style networks run fast: compute density per kernel size, RepVGG fused against multi-branch, and
the activation memory a skip connection costs. Every figure is measured on the machine that runs it."""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn

from ...analysis.memory import activation_memory
from ...analysis.summary import count_mult_adds, count_parameters, measure_latency, median_seconds
from ...models import get_model
from ...models.repvgg import reparameterized

__all__ = [
    "DENSITY_SHAPE",
    "PAPER_TABLE_1",
    "PAPER_TABLE_4",
    "calibrate_batch_norms",
    "cpu_comparison",
    "kernel_density",
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

# Ding et al. 2021, Table 4 (ImageNet, 120 epochs, simple augmentation; speed: images/s on a 1080Ti, batch 128,
# fp32): model -> (top-1 %, speed, parameters M, theoretical FLOPs G, Wino MULs G)
PAPER_TABLE_4: dict[str, tuple[float, int, float, float, float]] = {
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
}


def kernel_density(
    channels: int, size: int, batch: int, repeats: int = 10, kernels: Sequence[int] = (1, 3, 5, 7)
) -> list[dict[str, Any]]:
    """One k x k convolution (stride 1, "same" padding, ``channels`` -> ``channels``) per kernel size and
    precision: G multiply-adds, median time, achieved GFLOP/s (two operations per multiply-add, the paper's unit),
    and the rate relative to the 1 x 1's; beside them the paper's TFLOPS and its rate relative to its 1 x 1.

    bfloat16 runs the layer and its input in bfloat16 (not autocast: no conversions timed); it is measured only
    where the CPU has bfloat16 instructions (``torch.backends.mkldnn``'s check), else its rows say so.
    """
    rows: list[dict[str, Any]] = []
    bf16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    for dtype in (torch.float32, torch.bfloat16):
        base = None
        for k in kernels:
            macs = batch * channels * channels * k * k * size * size
            row: dict[str, Any] = {"kernel": k, "precision": str(dtype).removeprefix("torch."), "gmacs": macs / 1e9}
            if dtype == torch.bfloat16 and not bf16:
                rows.append({**row, "ms": None, "gflops": None, "relative": None})
                continue
            torch.manual_seed(0)
            conv = nn.Conv2d(channels, channels, k, padding=k // 2, bias=False).to(dtype).eval()
            x = torch.randn(batch, channels, size, size, dtype=dtype)
            with torch.inference_mode():
                seconds = median_seconds(lambda: conv(x), warmup=2, repeats=repeats)
            rate = 2 * macs / seconds / 1e9
            base = base or rate
            paper = PAPER_TABLE_1.get(k)
            rows.append({**row, "ms": 1e3 * seconds, "gflops": rate, "relative": rate / base,
                         "paper_tflops": paper[2] if paper else None,
                         "paper_relative": paper[2] / PAPER_TABLE_1[1][2] if paper else None})  # fmt: skip
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


def repvgg_speed(
    models: Sequence[tuple[str, int]] = (("repvgg_a0", 224), ("repvgg_a0_cifar", 32)),
    batches: Sequence[int] = (1, 64),
    repeats: int = 5,
) -> list[dict[str, Any]]:
    """For each (model name, image size): the multi-branch (train-time) form and the fused form, in eval mode and
    float32, at each batch size: median latency, images per second, peak activation memory (MB), and the
    parameters, multiply-adds and the largest output difference between the forms."""
    rows = []
    for name, size in models:
        torch.manual_seed(0)
        multi = calibrate_batch_norms(get_model(name), size)
        fused = reparameterized(multi).eval()
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
        with torch.inference_mode():
            difference = (multi(x) - fused(x)).abs().max().item()
        for batch in batches:
            x = torch.randn(batch, 3, size, size)
            for form, model in (("multi-branch", multi), ("fused", fused)):
                with torch.inference_mode():
                    seconds = median_seconds(lambda m=model: m(x), warmup=2, repeats=repeats * (2 if batch == 1 else 1))
                memory = activation_memory(model, (batch, 3, size, size))
                rows.append({"model": name, "size": size, "batch": batch, "form": form,
                             "params": count_parameters(model), "mult_adds": count_mult_adds(model, (3, size, size)),
                             "ms": 1e3 * seconds, "img_per_s": batch / seconds,
                             "peak_mb": memory.peak_bytes / 2**20, "max_difference": difference})  # fmt: skip
    return rows


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
    """Paper Table 4's comparison on this CPU with the zoo's CIFAR-10 checkpoints: for each entry (a RepVGG entry
    twice, multi-branch and fused), test accuracy from its log, parameters, multiply-adds and the latency measured
    now (float32, eval mode) at each batch size, in ms and images per second."""
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
            rows.append(row)
    return rows
