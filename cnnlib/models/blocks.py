"""Blocks shared by several families: defined once, passed layers as classes.

``ConvNormAct`` and ``SqueezeExcitation`` keep torchvision's module layout
(``0`` conv, ``1`` norm, ``2`` activation; ``fc1``/``fc2``), so torchvision's
``state_dict`` keys carry over unchanged wherever torchvision uses the same block.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch import Tensor

__all__ = ["ConvNormAct", "SqueezeExcitation", "make_divisible"]


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` without losing more than 10 %.

    From the TensorFlow MobileNet reference code, as torchvision's ``_make_divisible``.
    """
    min_value = min_value or divisor
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


class ConvNormAct(nn.Sequential):
    """Convolution -> normalisation -> activation, with "same" padding computed from the kernel.

    ``norm_layer=None`` or ``activation=None`` leave that part out (the conv then gets a bias
    unless ``bias`` says otherwise).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | None = None,
        groups: int = 1,
        dilation: int = 1,
        norm_layer: type[nn.Module] | None = nn.BatchNorm2d,
        activation: type[nn.Module] | None = nn.ReLU,
        inplace: bool | None = True,
        bias: bool | None = None,
    ) -> None:
        if padding is None:
            if isinstance(kernel_size, int):
                padding = (kernel_size - 1) // 2 * dilation
            else:
                padding = tuple((k - 1) // 2 * dilation for k in kernel_size)
        if bias is None:
            bias = norm_layer is None
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation=dilation, groups=groups, bias=bias)
        ]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if activation is not None:
            layers.append(activation(inplace=inplace) if inplace is not None else activation())
        super().__init__(*layers)
        self.out_channels = out_channels


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018, https://arxiv.org/abs/1709.01507), Eq. 2-4.

    ``s = scale_activation(fc2(activation(fc1(avgpool(x)))))``, output ``x * s`` per channel;
    the two fully connected layers are 1x1 convolutions on the pooled 1x1 map.
    """

    def __init__(
        self,
        channels: int,
        squeeze_channels: int,
        activation: type[nn.Module] = nn.ReLU,
        scale_activation: type[nn.Module] = nn.Sigmoid,
    ) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def scale(self, x: Tensor) -> Tensor:
        """The per-channel weights s, N x C x 1 x 1 (what chapter 07 visualises)."""
        s = self.avgpool(x)  # squeeze: N x C x 1 x 1
        s = self.activation(self.fc1(s))  # N x C/r x 1 x 1
        return self.scale_activation(self.fc2(s))  # excitation: N x C x 1 x 1

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale(x)
