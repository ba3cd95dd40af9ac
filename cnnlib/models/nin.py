"""Network in Network (Lin, Chen, Yan 2013): mlpconv blocks and global average pooling.

Network In Network, ICLR 2014. https://arxiv.org/abs/1312.4400

An mlpconv block is a k x k convolution followed by a small multilayer perceptron
applied at every pixel, i.e. 1x1 convolutions (the "cccp" layers of the reference
Caffe models), each followed by a ReLU. The last 1x1 convolution outputs one map
per class; global average pooling turns each map into a logit, so there is no fully
connected layer at all (Sec. 3.2). That last 1x1 convolution is the model's
``classifier``; it keeps the reference models' ReLU before the pooling.

The tables follow the authors' reference models (Caffe Model Zoo, Min Lin's gists
``e56253735ef32c3c296d`` "NIN CIFAR10" and ``d802a5849de39225bcc6`` "NIN ImageNet"):

    NIN_CIFAR (3 x 32 x 32)       conv      1x1 convs    after the block        map
    block 1                       5x5 192   160, 96      max 3x3/2, dropout     16
    block 2                       5x5 192   192, 192     avg 3x3/2, dropout     8
    block 3                       3x3 192   192, classes global average pool    1
    966,986 parameters for 10 classes (osmr/imgclsmob's nin_cifar10 lists the same; "about 0.97 M")

    NIN_IMAGENET (3 x 224 x 224)  conv          1x1 convs      after the block        map
    block 1                       11x11/4 96    96, 96         max 3x3/2              27
    block 2                       5x5 256       256, 256       max 3x3/2              13
    block 3                       3x3 384       384, 384       max 3x3/2, dropout     6
    block 4                       3x3 1024      1024, classes  global average pool    1
    7,595,176 parameters for 1000 classes (computed from the table; no published total found)

Pools round up (Caffe's rounding), which gives the reference models' map sizes
(32 -> 16 -> 8; 54 -> 27 -> 13 -> 6). The paper's text says max pooling after every
block of the CIFAR net; its reference model averages after the second, as here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn
from torch import Tensor

from ._checks import Window, check_input, min_input_size
from .blocks import ConvNormAct, init_conv_bn_linear
from .registry import register_model

__all__ = ["MLPConv", "MLPConvBlock", "NIN_CIFAR", "NIN_IMAGENET", "NiN", "nin_cifar", "nin_imagenet"]


@dataclass(frozen=True)
class MLPConv:
    """One mlpconv block: a k x k convolution, then 1x1 convolutions, each with a ReLU."""

    kernel_size: int
    stride: int
    padding: int
    channels: tuple[int, ...]  # the k x k conv's output, then each 1x1 conv's output
    pool: str | None = None  # "max" or "avg" 3x3 stride-2 pooling after the block
    dropout: float = 0.0  # dropout after the pooling


# The last block's final 1x1 convolution (to num_classes) is the classifier, not listed here.
NIN_CIFAR = [
    # 32 x 32 -> 16 x 16
    MLPConv(kernel_size=5, stride=1, padding=2, channels=(192, 160, 96), pool="max", dropout=0.5),
    # 16 x 16 -> 8 x 8
    MLPConv(kernel_size=5, stride=1, padding=2, channels=(192, 192, 192), pool="avg", dropout=0.5),
    # 8 x 8, then the classifier: a 1x1 convolution 192 -> one map per class
    MLPConv(kernel_size=3, stride=1, padding=1, channels=(192, 192)),
]

NIN_IMAGENET = [
    MLPConv(kernel_size=11, stride=4, padding=0, channels=(96, 96, 96), pool="max"),  # 224 -> 54 -> 27
    MLPConv(kernel_size=5, stride=1, padding=2, channels=(256, 256, 256), pool="max"),  # 27 -> 13
    MLPConv(kernel_size=3, stride=1, padding=1, channels=(384, 384, 384), pool="max", dropout=0.5),  # 13 -> 6
    MLPConv(kernel_size=3, stride=1, padding=1, channels=(1024, 1024)),  # 6, then classifier 1024 -> classes
]


class MLPConvBlock(nn.Sequential):
    """k x k conv + ReLU, then a 1x1 conv + ReLU per further entry of ``channels``."""

    def __init__(self, in_channels: int, cfg: MLPConv) -> None:
        layers = [ConvNormAct(in_channels, cfg.channels[0], cfg.kernel_size, cfg.stride, cfg.padding, norm_layer=None)]
        layers += [ConvNormAct(c_in, c_out, 1, norm_layer=None) for c_in, c_out in zip(cfg.channels, cfg.channels[1:])]
        super().__init__(*layers)


class NiN(nn.Module):
    """Network in Network built from a table of :class:`MLPConv` blocks.

    Args:
        blocks: ``NIN_CIFAR`` or ``NIN_IMAGENET``.
        num_classes: maps of the classifier (the last 1x1 convolution).
        in_channels: image channels.
    """

    def __init__(self, blocks: Sequence[MLPConv], num_classes: int, in_channels: int = 3, name: str = "NiN") -> None:
        super().__init__()
        self.in_channels, self.name = in_channels, name
        layers: list[nn.Module] = []
        channels = in_channels
        for cfg in blocks:
            layers.append(MLPConvBlock(channels, cfg))
            channels = cfg.channels[-1]
            if cfg.pool == "max":
                layers.append(nn.MaxPool2d(3, stride=2, ceil_mode=True))
            elif cfg.pool == "avg":
                layers.append(nn.AvgPool2d(3, stride=2, ceil_mode=True))
            if cfg.dropout:
                layers.append(nn.Dropout(cfg.dropout))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Conv2d(channels, num_classes, kernel_size=1)  # one map per class
        self.relu = nn.ReLU(inplace=True)  # the reference models keep a ReLU here
        self.avgpool = nn.AdaptiveAvgPool2d(1)  # global average pooling (Sec. 3.2)
        self.min_size = min_input_size(_windows(blocks))
        init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model=self.name, in_channels=self.in_channels, min_size=self.min_size)
        # CIFAR: N x 3 x 32 x 32 -> block 1 N x 96 x 32 x 32 -> pool N x 96 x 16 x 16
        # -> block 2 N x 192 x 16 x 16 -> pool N x 192 x 8 x 8 -> block 3 N x 192 x 8 x 8
        # ImageNet: N x 3 x 224 x 224 -> N x 96 x 27 x 27 -> N x 256 x 13 x 13 -> N x 384 x 6 x 6 -> N x 1024 x 6 x 6
        return self.features(x)

    def class_maps(self, x: Tensor) -> Tensor:
        """The per-class confidence maps before global average pooling: N x num_classes x H x W."""
        return self.relu(self.classifier(x))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """The last maps -> logits: the class maps, globally averaged.

        ``pre_logits=True`` returns the globally averaged last maps, N x 192 (CIFAR) or N x 1024 (ImageNet):
        the vector a linear classifier in place of the 1x1 ``classifier`` convolution would receive (the
        convolution itself sees the maps before pooling; a 1x1 convolution and the average commute,
        up to the ReLU between them).
        """
        if pre_logits:
            return torch.flatten(self.avgpool(x), 1)  # N x C
        x = self.class_maps(x)  # N x num_classes x 8 x 8 (CIFAR) or 6 x 6 (ImageNet)
        return torch.flatten(self.avgpool(x), 1)  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def _windows(blocks: Sequence[MLPConv]) -> list[Window]:
    """Each block's k x k convolution, then its 3x3 stride-2 pool (ceil mode), as
    (kernel, stride, padding, ceil_mode)."""
    windows: list[Window] = []
    for cfg in blocks:
        windows.append((cfg.kernel_size, cfg.stride, cfg.padding, False))
        if cfg.pool:
            windows.append((3, 2, 0, True))
    return windows


def init_weights(model: nn.Module) -> None:
    """He-normal convolutions with zero biases.

    Deviation: the reference Caffe models draw weights from Gaussians with hand-set standard
    deviations per layer (0.05 on CIFAR); He init (https://arxiv.org/abs/1502.01852) needs no tuning.
    """
    init_conv_bn_linear(model, linear=None)


def _nin(blocks: Sequence[MLPConv], num_classes: int, in_channels: int, name: str, **kwargs) -> NiN:
    return NiN(blocks, num_classes, in_channels=in_channels, name=name, **kwargs)


_META = dict(
    family="nin",
    first_conv="features.0.0.0",
    classifier="classifier",
    gradcam_layer="features",
    paper="Lin, Chen, Yan 2013, https://arxiv.org/abs/1312.4400",
)


@register_model(**_META, scale="imagenet", input_size=(3, 224, 224), num_classes=1000, test_size=(3, 64, 64))
def nin_imagenet(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> NiN:
    """NiN for ImageNet, the authors' reference Caffe model: 7,595,176 parameters for 1000 classes.

    Other keyword arguments go to :class:`NiN`.
    """
    return _nin(NIN_IMAGENET, num_classes, in_channels, "nin_imagenet", **kwargs)


@register_model(**_META, scale="cifar", input_size=(3, 32, 32), num_classes=10)
def nin_cifar(num_classes: int = 10, in_channels: int = 3, **kwargs) -> NiN:
    """NiN for CIFAR-10, three mlpconv blocks (paper Sec. 4.2; reference Caffe model): 966,986 parameters.

    Other keyword arguments go to :class:`NiN`.
    """
    return _nin(NIN_CIFAR, num_classes, in_channels, "nin_cifar", **kwargs)
