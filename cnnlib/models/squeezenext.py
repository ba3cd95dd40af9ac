"""SqueezeNext (Gholami, Kwon, Wu, Tai, Yue, Jin, Zhao, Keutzer 2018).

SqueezeNext: Hardware-Aware Neural Network Design, CVPR Workshops 2018.
https://arxiv.org/abs/1803.10615

SqueezeNet's successor, with three changes (Sec. 3): a two-stage squeeze
(two 1x1 convolutions halving the channels twice), the 3x3 convolution split
into a 3x1 and a 1x3 convolution (a separable, low-rank filter: 6 instead of 9
weights per channel pair), and a residual connection around the block, so the
network can be deep. Every convolution is followed by BN and ReLU; the final
ReLU comes after the addition.

The block (Fig. 2 of the paper) for an input of C channels and output of C_out:

    1x1 conv, C/2 -> 1x1 conv, C/4 -> 3x1 conv, C/2 -> 1x3 conv, C/2 -> 1x1 conv, C_out  (+ shortcut)

with the reduction of the reference implementation (osmr/imgclsmob, ``SqnxtUnit``):
the first block of a stage that halves the resolution uses C -> C -> C/2 -> C -> C
(stride 2 in the first 1x1 conv); a block that narrows the network (C > C_out)
uses C/4, C/8, C/4, C/4; the shortcut is a 1x1 conv + BN + ReLU wherever the shape
changes, identity otherwise.

1.0-SqNxt-23 (Table 2 / Fig. 4 of the paper; 224 x 224 input):

    stage   output     block channels   blocks   first stride
    conv1   55x55      7x7/2 conv, 64, then 3x3/2 max pool
    1       55x55      32               6        1
    2       28x28      64               6        2
    3       14x14      128              8        2
    4       7x7        256              1        2
    conv    7x7        1x1, 128
    pool    1x1        global average pool, 1000-way linear

    parameters: 724,056 (osmr/imgclsmob ``sqnxt23_w1``, pytorchcv; paper Table 2: 0.72 M)

Details from the reference implementation, each shaping the count: convolutions
carry a bias although BN follows (as the Caffe original), conv1 has padding 1,
and the reference applies the 1x3 convolution before the 3x1 (the paper's
figure, which we follow, has 3x1 first; the parameter count is the same).

``sqnxt23_1x_cifar`` is our adaptation for 3 x 32 x 32 images (the paper has no
CIFAR design): conv1 is a 3x3 stride-1 convolution without the max pool, so the
stages run on 32x32, 16x16, 8x8 and 4x4 maps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch import Tensor

from ._checks import check_input
from .blocks import ConvNormAct, init_conv_bn_linear, scale_channels
from .registry import register_model

__all__ = ["SqueezeNextBlock", "SqueezeNext", "SqueezeNextStage", "sqnxt23_1x", "sqnxt23_1x_cifar"]


@dataclass(frozen=True)
class SqueezeNextStage:
    channels: int  # output channels of every block in the stage
    blocks: int
    stride: int  # of the first block


# 1.0-SqNxt-23: 6 + 6 + 8 + 1 = 21 blocks of 5 convolutions, plus conv1, the last conv and the classifier
SQNXT23_STAGES: tuple[SqueezeNextStage, ...] = (
    SqueezeNextStage(channels=32, blocks=6, stride=1),
    SqueezeNextStage(channels=64, blocks=6, stride=2),
    SqueezeNextStage(channels=128, blocks=8, stride=2),
    SqueezeNextStage(channels=256, blocks=1, stride=2),
)
SQNXT_STEM_CHANNELS = 64
SQNXT_HEAD_CHANNELS = 128


def _conv_bn_relu(
    in_channels: int, out_channels: int, kernel_size: int | tuple[int, int] = 1, stride: int = 1
) -> ConvNormAct:
    # bias before BN: redundant, but the reference implementation has it (and its parameter count counts it)
    return ConvNormAct(in_channels, out_channels, kernel_size, stride=stride, bias=True)


class SqueezeNextBlock(nn.Module):
    """Two 1x1 squeezes, 3x1 and 1x3 convolutions, a 1x1 expansion, and a residual connection."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        if stride > 1:
            reduction = 1  # downsampling block: no squeeze in the first 1x1
        elif in_channels > out_channels:
            reduction = 4  # narrowing block
        else:
            reduction = 2
        squeeze1, squeeze2 = in_channels // reduction, in_channels // (2 * reduction)
        self.conv1 = _conv_bn_relu(in_channels, squeeze1, stride=stride)  # 1x1 squeeze (C/2)
        self.conv2 = _conv_bn_relu(squeeze1, squeeze2)  # 1x1 squeeze (C/4)
        self.conv3 = _conv_bn_relu(squeeze2, squeeze1, kernel_size=(3, 1))  # 3x1 (C/2)
        self.conv4 = _conv_bn_relu(squeeze1, squeeze1, kernel_size=(1, 3))  # 1x3 (C/2)
        self.conv5 = _conv_bn_relu(squeeze1, out_channels)  # 1x1 expand (C_out)
        if stride > 1 or in_channels != out_channels:
            self.shortcut: nn.Module = _conv_bn_relu(in_channels, out_channels, stride=stride)
        else:
            self.shortcut = nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(self.conv1(x))  # N x C/4 x H/s x W/s
        out = self.conv4(self.conv3(out))  # N x C/2 x H/s x W/s
        out = self.conv5(out)  # N x C_out x H/s x W/s
        return self.relu(out + self.shortcut(x))


class SqueezeNext(nn.Module):
    """conv1 (+ max pool), four stages of SqueezeNext blocks, a 1x1 conv, global average pool, linear.

    Args:
        stages: channels, blocks and first stride of each stage (``SQNXT23_STAGES``).
        num_classes: size of the output layer.
        in_channels: image channels.
        width: multiplies every channel count (the paper's 1.0, 1.5, 2.0-SqNxt), truncated as the
            reference code: ``scale_channels(c, width, divisor=None)``.
        imagenet_stem: 7x7/2 conv + 3x3/2 max pool (True) or a 3x3 stride-1 conv (CIFAR).
    """

    def __init__(
        self,
        stages: tuple[SqueezeNextStage, ...] = SQNXT23_STAGES,
        num_classes: int = 1000,
        in_channels: int = 3,
        width: float = 1.0,
        imagenet_stem: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        c = scale_channels(SQNXT_STEM_CHANNELS, width, divisor=None)
        if imagenet_stem:
            self.stem = nn.Sequential(
                ConvNormAct(in_channels, c, 7, stride=2, padding=1, bias=True),  # padding 1: the reference's
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            )
            self.min_size = 7  # 7 -> conv 7x7/2 (padding 1) -> 2 -> max pool (ceil mode) -> 1
        else:
            self.stem = nn.Sequential(ConvNormAct(in_channels, c, 3, bias=True))
            self.min_size = 1
        layers = []
        for stage in stages:
            blocks = []
            for i in range(stage.blocks):
                out = scale_channels(stage.channels, width, divisor=None)
                blocks.append(SqueezeNextBlock(c, out, stride=stage.stride if i == 0 else 1))
                c = out
            layers.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*layers)
        head = scale_channels(SQNXT_HEAD_CHANNELS, width, divisor=None)
        self.head_conv = _conv_bn_relu(c, head)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(head, num_classes)
        self.num_features = head
        init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model=type(self).__name__, in_channels=self.in_channels, min_size=self.min_size)
        # ImageNet, N x 3 x 224 x 224 (CIFAR adaptation, N x 3 x 32 x 32):
        x = self.stem(x)  # N x 64 x 55 x 55 (N x 64 x 32 x 32)
        x = self.stages(x)  # stage1 N x 32 x 55 x 55, ..., stage4 N x 256 x 7 x 7 (N x 256 x 4 x 4)
        return self.head_conv(x)  # N x 128 x 7 x 7 (N x 128 x 4 x 4)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """The last maps -> logits; ``pre_logits=True``: the globally averaged maps, N x 128, that ``fc`` receives."""
        x = torch.flatten(self.pool(x), 1)  # N x 128
        return x if pre_logits else self.fc(x)  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def init_weights(model: nn.Module) -> None:
    """He uniform convolutions with zero bias, BN 1/0: the reference implementation (osmr/imgclsmob)."""
    init_conv_bn_linear(model, conv="kaiming_uniform", conv_mode="fan_in", linear=None)


def _squeezenext(num_classes: int, in_channels: int, width: float, imagenet_stem: bool, **kwargs) -> SqueezeNext:
    return SqueezeNext(
        SQNXT23_STAGES,
        num_classes=num_classes,
        in_channels=in_channels,
        width=width,
        imagenet_stem=imagenet_stem,
        **kwargs,
    )


_PAPER = "Gholami et al. 2018, https://arxiv.org/abs/1803.10615"


@register_model(
    family="squeezenext",
    scale="imagenet",
    input_size=(3, 224, 224),
    num_classes=1000,
    first_conv="stem.0.0",
    classifier="fc",
    gradcam_layer="head_conv",
    paper=_PAPER,
    test_size=(3, 64, 64),
)
def sqnxt23_1x(num_classes: int = 1000, in_channels: int = 3, width: float = 1.0, **kwargs) -> SqueezeNext:
    """1.0-SqNxt-23 for ImageNet: 724,056 parameters (osmr/imgclsmob ``sqnxt23_w1``; paper 0.72 M).

    Other keyword arguments go to :class:`SqueezeNext`.
    """
    return _squeezenext(num_classes, in_channels, width, imagenet_stem=True, **kwargs)


@register_model(
    family="squeezenext",
    scale="cifar",
    input_size=(3, 32, 32),
    first_conv="stem.0.0",
    classifier="fc",
    gradcam_layer="head_conv",
    paper=_PAPER,
)
def sqnxt23_1x_cifar(num_classes: int = 10, in_channels: int = 3, width: float = 1.0, **kwargs) -> SqueezeNext:
    """Our 1.0-SqNxt-23 for 32 x 32 images (3x3 stride-1 conv1, no max pool; see the module docstring).

    Other keyword arguments go to :class:`SqueezeNext`.
    """
    return _squeezenext(num_classes, in_channels, width, imagenet_stem=False, **kwargs)
