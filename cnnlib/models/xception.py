"""Xception (Chollet 2017): Inception taken to the extreme, with depthwise separable convolutions.

Xception: Deep Learning with Depthwise Separable Convolutions, CVPR 2017.
https://arxiv.org/abs/1610.02357

A depthwise separable convolution splits a k x k convolution into a depthwise
k x k convolution (one filter per input channel: spatial correlations) and a
pointwise 1x1 convolution (cross-channel correlations). From C_in to C_out
channels on an H x W map (stride 1):

    standard k x k:   params C_in*C_out*k*k,        multiply-adds H*W*C_in*C_out*k*k
    separable:        params C_in*k*k + C_in*C_out, multiply-adds H*W*(C_in*k*k + C_in*C_out)
    ratio separable / standard = 1/C_out + 1/k^2   (about 1/9 for 3x3 and wide layers)

Fig. 5 of the paper, for a 299 x 299 input (every conv and separable conv is
followed by batch normalization; residual blocks add a 1x1 stride-2 conv + BN
shortcut where the shape changes):

    flow     block                                                        output
    entry    conv 3x3/2, 32 - ReLU - conv 3x3, 64 - ReLU                  147x147x64
             [SepConv 128 - ReLU - SepConv 128 - maxpool 3x3/2] + 1x1/2   74x74x128
             [ReLU - SepConv 256 - ReLU - SepConv 256 - maxpool] + 1x1/2  37x37x256
             [ReLU - SepConv 728 - ReLU - SepConv 728 - maxpool] + 1x1/2  19x19x728
    middle   [ReLU - SepConv 728] x 3 + identity, repeated 8 times        19x19x728
    exit     [ReLU - SepConv 728 - ReLU - SepConv 1024 - maxpool] + 1x1/2 10x10x1024
             SepConv 1536 - ReLU - SepConv 2048 - ReLU                    10x10x2048
             global average pooling - (optional FC) - logistic regression 1000

Parameters: 22,855,952 (Keras ``Xception`` trainable parameters and timm's
``legacy_xception``; the paper's Table 3 says 22,855,952 too, "22.8 M").

``xception_cifar`` is our adaptation for 3 x 32 x 32 images (no CIFAR design in
the paper): a stride-1 stem with padding, two entry blocks (128, 256), a middle
flow of 4 blocks of 256 channels, an exit block to 512 and separable convs to
768 and 1024 channels; three halvings take 32x32 to 4x4. Same blocks, about a
tenth of the parameters, so it trains on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn
from torch import Tensor

from ._checks import check_input
from .blocks import ConvNormAct, init_conv_bn_linear, same_padding
from .registry import register_model

__all__ = [
    "SeparableConv2d",
    "XceptionBlock",
    "XceptionBlockSpec",
    "XceptionConfig",
    "scaled",
    "Xception",
    "xception",
    "xception_cifar",
]


@dataclass(frozen=True)
class XceptionBlockSpec:
    """One residual block: ``reps`` x (ReLU - SepConv - BN), then max pool if ``stride`` > 1."""

    in_channels: int
    out_channels: int
    reps: int  # separable convolutions in the block
    stride: int = 1  # 2: 3x3 max pool at the end and a 1x1/2 conv on the shortcut
    start_with_relu: bool = True  # False only for the first block, which follows a ReLU already
    grow_first: bool = True  # the first SepConv changes the width (entry/middle); False: the last does (exit)


@dataclass(frozen=True)
class XceptionConfig:
    stem_channels: tuple[int, int]  # the two plain 3x3 convs
    stem_stride: int  # stride of the first conv
    stem_padding: int  # 0 ("valid", Keras) on ImageNet; 1 on CIFAR to keep 32x32
    entry_flow: tuple[XceptionBlockSpec, ...]
    middle_flow: tuple[XceptionBlockSpec, ...]
    exit_flow: tuple[XceptionBlockSpec, ...]  # followed by the two separable convs below
    exit_channels: tuple[int, int]  # the two separable convs after the last block
    min_size: int  # smallest input side that leaves every layer a non-empty map


def _middle_flow(channels: int, repeats: int) -> tuple[XceptionBlockSpec, ...]:
    return tuple(XceptionBlockSpec(in_channels=channels, out_channels=channels, reps=3) for _ in range(repeats))


# Fig. 5 of the paper.
XCEPTION = XceptionConfig(
    stem_channels=(32, 64),
    stem_stride=2,
    stem_padding=0,
    entry_flow=(
        XceptionBlockSpec(in_channels=64, out_channels=128, reps=2, stride=2, start_with_relu=False),
        XceptionBlockSpec(in_channels=128, out_channels=256, reps=2, stride=2),
        XceptionBlockSpec(in_channels=256, out_channels=728, reps=2, stride=2),
    ),
    middle_flow=_middle_flow(728, repeats=8),
    exit_flow=(XceptionBlockSpec(in_channels=728, out_channels=1024, reps=2, stride=2, grow_first=False),),
    exit_channels=(1536, 2048),
    min_size=7,  # 7 -> conv 3x3/2 -> 3 -> conv 3x3 -> 1; the padded max pools keep 1x1
)

# Our CIFAR adaptation (see the module docstring).
XCEPTION_CIFAR = XceptionConfig(
    stem_channels=(32, 64),
    stem_stride=1,
    stem_padding=1,
    entry_flow=(
        XceptionBlockSpec(in_channels=64, out_channels=128, reps=2, stride=2, start_with_relu=False),
        XceptionBlockSpec(in_channels=128, out_channels=256, reps=2, stride=2),
    ),
    middle_flow=_middle_flow(256, repeats=4),
    exit_flow=(XceptionBlockSpec(in_channels=256, out_channels=512, reps=2, stride=2, grow_first=False),),
    exit_channels=(768, 1024),
    min_size=1,
)


def scaled(config: XceptionConfig, width: float) -> XceptionConfig:
    """``config`` with every channel count multiplied by ``width`` (rounded, at least 8); the depth unchanged."""
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}.")

    def w(c: int) -> int:
        return max(8, round(c * width))

    def block(b: XceptionBlockSpec) -> XceptionBlockSpec:
        return replace(b, in_channels=w(b.in_channels), out_channels=w(b.out_channels))

    return replace(
        config,
        stem_channels=(w(config.stem_channels[0]), w(config.stem_channels[1])),
        entry_flow=tuple(map(block, config.entry_flow)),
        middle_flow=tuple(map(block, config.middle_flow)),
        exit_flow=tuple(map(block, config.exit_flow)),
        exit_channels=(w(config.exit_channels[0]), w(config.exit_channels[1])),
    )


class SeparableConv2d(nn.Module):
    """Depthwise k x k convolution (``groups=in_channels``) followed by a pointwise 1x1 convolution.

    Depth multiplier 1 and no non-linearity in between, as in the paper (Sec. 4.7 found
    that an intermediate ReLU hurts). No bias: a BN always follows.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, bias: bool = False
    ) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(
            in_channels, in_channels, kernel_size, stride, same_padding(kernel_size), groups=in_channels, bias=bias
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.depthwise(x)  # N x C_in x H x W: one k x k filter per channel
        return self.pointwise(x)  # N x C_out x H x W: mixes channels


class XceptionBlock(nn.Module):
    """Residual block of separable convolutions: ``out = body(x) + shortcut(x)``."""

    def __init__(self, spec: XceptionBlockSpec) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = spec.in_channels
        for i in range(spec.reps):
            widen = i == 0 if spec.grow_first else i == spec.reps - 1
            out = spec.out_channels if widen else c
            if i > 0 or spec.start_with_relu:
                # not in place: the first ReLU's input is also the shortcut's input
                layers.append(nn.ReLU(inplace=i > 0))
            layers += [SeparableConv2d(c, out), nn.BatchNorm2d(out)]
            c = out
        if spec.stride > 1:
            layers.append(nn.MaxPool2d(kernel_size=3, stride=spec.stride, padding=1))
        self.body = nn.Sequential(*layers)
        if spec.stride > 1 or spec.in_channels != spec.out_channels:
            self.shortcut: nn.Module = ConvNormAct(
                spec.in_channels, spec.out_channels, 1, stride=spec.stride, activation=None
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + self.shortcut(x)  # N x C_out x H/stride x W/stride


class Xception(nn.Module):
    """Entry flow, middle flow, exit flow, global average pooling, a linear classifier.

    Args:
        config: the architecture table (``XCEPTION`` or ``XCEPTION_CIFAR``).
        num_classes: size of the output layer.
        in_channels: image channels.
        dropout: before the classifier (the paper trained with 0.5 on ImageNet; Keras' model has none).
    """

    def __init__(
        self, config: XceptionConfig, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.min_size = config.min_size
        c1, c2 = config.stem_channels
        self.stem = nn.Sequential(
            ConvNormAct(in_channels, c1, 3, stride=config.stem_stride, padding=config.stem_padding),
            ConvNormAct(c1, c2, 3, padding=config.stem_padding),
        )
        self.entry_flow = nn.Sequential(*map(XceptionBlock, config.entry_flow))
        self.middle_flow = nn.Sequential(*map(XceptionBlock, config.middle_flow))
        c = config.exit_flow[-1].out_channels
        e1, e2 = config.exit_channels
        self.exit_flow = nn.Sequential(
            *map(XceptionBlock, config.exit_flow),
            SeparableConv2d(c, e1),
            nn.BatchNorm2d(e1),
            nn.ReLU(inplace=True),
            SeparableConv2d(e1, e2),
            nn.BatchNorm2d(e2),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(e2, num_classes)
        self.num_features = e2
        init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model=type(self).__name__, in_channels=self.in_channels, min_size=self.min_size)
        # ImageNet, N x 3 x 299 x 299 (CIFAR adaptation, N x 3 x 32 x 32):
        x = self.stem(x)  # N x 64 x 147 x 147 (N x 64 x 32 x 32)
        x = self.entry_flow(x)  # N x 728 x 19 x 19 (N x 256 x 8 x 8)
        x = self.middle_flow(x)  # N x 728 x 19 x 19 (N x 256 x 8 x 8)
        return self.exit_flow(x)  # N x 2048 x 10 x 10 (N x 1024 x 4 x 4)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """The last maps -> logits; ``pre_logits=True``: the globally averaged maps, N x 2048, before dropout
        and ``fc``."""
        x = torch.flatten(self.pool(x), 1)  # N x 2048
        if pre_logits:
            return x
        return self.fc(self.dropout(x))  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def init_weights(model: nn.Module) -> None:
    """He normal (fan-out) convolutions and BN 1/0, as timm's port; the paper does not say (Keras: Glorot uniform)."""
    init_conv_bn_linear(model, zero_conv_bias=False, linear=None)


def _xception(config: XceptionConfig, num_classes: int, in_channels: int, dropout: float, **kwargs) -> Xception:
    return Xception(config, num_classes=num_classes, in_channels=in_channels, dropout=dropout, **kwargs)


_PAPER = "Chollet 2017, https://arxiv.org/abs/1610.02357"


@register_model(
    family="xception",
    scale="imagenet",
    input_size=(3, 299, 299),
    num_classes=1000,
    first_conv="stem.0.0",
    classifier="fc",
    gradcam_layer="exit_flow",
    paper=_PAPER,
    test_size=(3, 32, 32),
)
def xception(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.0, **kwargs) -> Xception:
    """Xception for 299 x 299 ImageNet images: 22,855,952 parameters (Keras / timm ``legacy_xception``).

    Other keyword arguments go to :class:`Xception`.
    """
    return _xception(XCEPTION, num_classes, in_channels, dropout, **kwargs)


@register_model(
    family="xception",
    scale="cifar",
    input_size=(3, 32, 32),
    first_conv="stem.0.0",
    classifier="fc",
    gradcam_layer="exit_flow",
    paper=_PAPER,
)
def xception_cifar(
    num_classes: int = 10, in_channels: int = 3, dropout: float = 0.0, width: float = 1.0, **kwargs
) -> Xception:
    """Our Xception-style network for 32 x 32 images (an adaptation; see the module docstring).

    ``width`` multiplies every channel count (the zoo trains width 0.5: 2,550,890 parameters at
    width 1 take about 4 minutes per CIFAR-10 epoch on 2 CPU cores). Other keyword arguments go
    to :class:`Xception`.
    """
    return _xception(scaled(XCEPTION_CIFAR, width), num_classes, in_channels, dropout, **kwargs)
