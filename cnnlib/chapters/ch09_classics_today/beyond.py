"""The course's techniques in one table, and residual networks beyond images: a WaveNet-style stack in 1-D.

WaveNet (van den Oord et al. 2016) generates audio with a stack of *causal, dilated* 1-D convolutions: layer i
looks ``2**i`` samples back, so ``L`` layers of kernel 2 see ``2**L`` samples, and every layer is a residual
block (gated activation ``tanh(W_f * x) * sigmoid(W_g * x)``, a 1x1 convolution, added to its input) whose 1x1
"skip" outputs are summed into the head. :func:`delay_experiment` shows what the exponential receptive field
buys: the task "output the input of ``delay`` steps ago" is learnt when the stack sees that far back, and not
when it does not.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["TECHNIQUES", "BEYOND_IMAGES", "DilatedResidualStack1d", "delay_batch", "delay_experiment"]

# (technique, what it buys, where the course demonstrated it)
TECHNIQUES: list[tuple[str, str, str]] = [
    ("cascades of small kernels", "a large receptive field with fewer parameters (two 3×3 = one 5×5)", "03 VGG"),
    ("factorised convolutions", "n×1 then 1×n; depthwise then pointwise (separable)", "04 GoogLeNet, 07, 08"),
    ("1×1 convolutions", "mix channels cheaply; change the width", "04 GoogLeNet (NiN)"),
    ("bottlenecks", "reduce the width before the expensive 3×3, restore it after", "04, 05 ResNet"),
    ("batch normalisation", "normalised activations: higher learning rates, deep nets start training", "05 ResNet"),
    ("global average pooling", "a head without dense layers: fewer parameters, any input size", "03 VGG, 04"),
    ("skip connections", "identity paths: deep nets train (gradients, ensembles of paths)", "05 ResNet, 06"),
    ("grouped convolutions", "cardinality: parallel paths at the same cost", "07 ResNeXt, 08 ShuffleNet"),
    ("attention over channels", "re-weight channels from global context", "07 SENet, 08 MobileNetV3"),
    ("dense connections", "concatenate, reuse every earlier feature map", "07 DenseNet"),
    ("width / depth / resolution scaling", "compound scaling of one base net", "08 EfficientNet"),
    ("structural re-parameterisation", "train with branches, deploy as a plain stack", "09 RepVGG"),
    ("modern training recipes", "the same architecture, +4 points on ImageNet", "09 ResNet strikes back"),
]

# Residual networks outside image classification, named in the seed lecture
BEYOND_IMAGES: list[tuple[str, str, str]] = [
    ("VoxResNet", "volumetric brain segmentation from 3-D MRI: residual blocks of 3-D convolutions",
     "Chen et al. 2016, arXiv:1608.05895"),
    ("ST-ResNet", "city-wide crowd-flow prediction: residual units over time-stacked flow maps",
     "Zhang, Zheng & Qi 2017, AAAI"),
    ("WaveNet", "raw-audio generation: causal dilated 1-D convolutions in residual blocks with skips",
     "van den Oord et al. 2016, arXiv:1609.03499"),
]  # fmt: skip


class _Block(nn.Module):
    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.dilation = dilation
        self.filter = nn.Conv1d(channels, channels, 2, dilation=dilation)
        self.gate = nn.Conv1d(channels, channels, 2, dilation=dilation)
        self.residual = nn.Conv1d(channels, channels, 1)
        self.skip = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        past = F.pad(x, (self.dilation, 0))  # causal: output t sees inputs t and t - dilation only
        h = torch.tanh(self.filter(past)) * torch.sigmoid(self.gate(past))
        return x + self.residual(h), self.skip(h)


class DilatedResidualStack1d(nn.Module):
    """WaveNet's stack at toy size: ``layers`` gated residual blocks with dilations 1, 2, 4, ..., summed skips,
    then ReLU-1x1-ReLU-1x1 to one output per time step. Input and output: ``N x 1 x T``. Causal.
    ``dilated=False`` gives every layer dilation 1 (the control: same layers and parameters, a receptive field
    that grows by one sample per layer)."""

    def __init__(self, layers: int, channels: int = 16, dilated: bool = True) -> None:
        super().__init__()
        self.inp = nn.Conv1d(1, channels, 1)
        self.blocks = nn.ModuleList(_Block(channels, 2**i if dilated else 1) for i in range(layers))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv1d(channels, channels, 1), nn.ReLU(), nn.Conv1d(channels, 1, 1))

    @property
    def receptive_field(self) -> int:
        """Samples each output sees: 1 + sum of the dilations (kernel 2) = 2**layers."""
        return 1 + sum(b.dilation for b in self.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[1] != 1:
            raise ValueError(f"expected N x 1 x T sequences, got shape {tuple(x.shape)}")
        h, skips = self.inp(x), 0
        for block in self.blocks:
            h, s = block(h)
            skips = skips + s
        return self.head(skips)


def delay_batch(batch: int, length: int, delay: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random sequences and their copies delayed by ``delay`` steps (zeros before the start)."""
    x = torch.randn(batch, 1, length, generator=generator)
    return x, F.pad(x, (delay, 0))[..., :length]


def delay_experiment(
    stacks: tuple[tuple[int, bool], ...] = ((4, True), (6, False), (6, True)),
    delay: int = 24,
    steps: int = 100,
    length: int = 128,
    batch: int = 8,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Train one stack per (layers, dilated) on the delay task (Adam, ``steps`` batches of ``batch`` sequences of
    ``length`` samples) and report its receptive field and its final loss on fresh sequences, over the positions
    ``t >= delay`` (mean squared error; predicting 0 scores 1.0, the variance of the input)."""
    rows = []
    for layers, dilated in stacks:
        torch.manual_seed(seed)
        model = DilatedResidualStack1d(layers, dilated=dilated)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            x, y = delay_batch(batch, length, delay, gen)
            loss = F.mse_loss(model(x)[..., delay:], y[..., delay:])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            x, y = delay_batch(64, length, delay, torch.Generator().manual_seed(seed + 1000))
            test = F.mse_loss(model(x)[..., delay:], y[..., delay:]).item()
        field = model.receptive_field
        rows.append({"layers": layers, "dilated": dilated, "receptive_field": field, "sees_the_delay": field > delay,
                     "params": sum(p.numel() for p in model.parameters()), "test_mse": test})  # fmt: skip
    return rows
