"""Residual networks for CIFAR-10 and their plain twins (He, Zhang, Ren, Sun 2015).

Deep Residual Learning for Image Recognition, CVPR 2016. https://arxiv.org/abs/1512.03385

Section 4.2 of the paper, the CIFAR-10 design: a 3x3 stem with 16 filters, then
three stages of n basic blocks on 32x32, 16x16 and 8x8 maps with 16, 32 and 64
filters, global average pooling and a 10-way linear layer: 6n + 2 weighted layers.

    # stage: output size, channels, blocks, first stride
    STAGES = [(32, 16, n, 1), (16, 32, n, 2), (8, 64, n, 2)]

    n   depth   parameters (option A)
    3   20      269,722       (paper: 0.27 M, test error 8.75 %)
    9   56      853,018       (paper: 0.85 M, test error 6.97 %)

Shortcuts use "option A": identity, and where the shape changes, stride-2
subsampling plus zero-padded channels, so shortcuts add no parameters. A
"plain" network is the same stack without any shortcut (the paper's Fig. 6).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_input
from .registry import register_model

__all__ = ["BasicBlock", "CifarResNet", "resnet20", "resnet56", "plain20", "plain56"]

# (channels, first stride) of the three stages; each stage has n blocks.
CIFAR_STAGES: list[tuple[int, int]] = [(16, 1), (32, 2), (64, 2)]


class ShortcutA(nn.Module):
    """Option-A shortcut: subsample by ``stride`` and zero-pad the new channels."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.extra = out_channels - in_channels

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        # pad (W_left, W_right, H_top, H_bottom, C_front, C_back) with zeros
        return F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers; ``out = relu(F(x) + shortcut(x))`` or, plain, ``relu(F(x))``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, residual: bool = True) -> None:
        super().__init__()
        self.residual = residual
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        needs_projection = stride != 1 or in_channels != out_channels
        self.shortcut = ShortcutA(in_channels, out_channels, stride) if needs_projection else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + self.shortcut(x)
        return self.relu(out)


class CifarResNet(nn.Module):
    """The 6n+2-layer CIFAR network of He et al., with (``residual=True``) or without shortcuts."""

    def __init__(self, blocks_per_stage: int, num_classes: int = 10, residual: bool = True, in_channels: int = 3) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True)
        )
        stages = []
        channels = 16
        for out_channels, stride in CIFAR_STAGES:
            blocks = []
            for i in range(blocks_per_stage):
                blocks.append(BasicBlock(channels, out_channels, stride if i == 0 else 1, residual=residual))
                channels = out_channels
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model=type(self).__name__, in_channels=self.in_channels, min_size=4)
        x = self.stem(x)  # N x 16 x 32 x 32
        x = self.layer1(x)  # N x 16 x 32 x 32
        x = self.layer2(x)  # N x 32 x 16 x 16
        return self.layer3(x)  # N x 64 x 8 x 8

    def forward_head(self, x: Tensor) -> Tensor:
        return self.fc(torch.flatten(self.pool(x), 1))  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def init_weights(model: nn.Module) -> None:
    """He (Kaiming) normal init for convolutions, as the paper (He et al. 2015, Sec. 3.4, citing [13])."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


_PAPER = "He et al. 2015, https://arxiv.org/abs/1512.03385"
_CIFAR_META = dict(
    family="resnet",
    scale="cifar",
    input_size=(3, 32, 32),
    first_conv="stem.0",
    classifier="fc",
    gradcam_layer="layer3",
    paper=_PAPER,
)


@register_model(**_CIFAR_META)
def resnet20(num_classes: int = 10) -> CifarResNet:
    """ResNet-20 for CIFAR (n=3), option-A shortcuts: 269,722 parameters."""
    return CifarResNet(3, num_classes=num_classes)


@register_model(**_CIFAR_META)
def resnet56(num_classes: int = 10) -> CifarResNet:
    """ResNet-56 for CIFAR (n=9), option-A shortcuts: 853,018 parameters."""
    return CifarResNet(9, num_classes=num_classes)


@register_model(**{**_CIFAR_META, "family": "plain"})
def plain20(num_classes: int = 10) -> CifarResNet:
    """ResNet-20 without shortcuts (the paper's plain-20)."""
    return CifarResNet(3, num_classes=num_classes, residual=False)


@register_model(**{**_CIFAR_META, "family": "plain"})
def plain56(num_classes: int = 10) -> CifarResNet:
    """ResNet-56 without shortcuts (the paper's plain-56)."""
    return CifarResNet(9, num_classes=num_classes, residual=False)
