"""DenseNet (Huang, Liu, van der Maaten, Weinberger 2017).

Densely Connected Convolutional Networks, CVPR 2017. https://arxiv.org/abs/1608.06993

Inside a dense block, layer i sees the concatenation of the block input and of
every earlier layer's output, x_i = H_i([x_0, x_1, ..., x_{i-1}]), and adds k
new channels (the growth rate). H_i is BN-ReLU-conv ("pre-activation"); in the
"B" (bottleneck) version, BN-ReLU-conv1x1 (4k channels) - BN-ReLU-conv3x3 (k).
Between blocks a transition layer, BN-ReLU-conv1x1-avgpool 2x2, halves the
resolution and, in the "C" (compression) version, keeps a fraction theta of the
channels. DenseNet-BC = both.

Table 1 of the paper (ImageNet, k = 32, theta = 0.5, 224 x 224 input):

    layers            output     DenseNet-121   DenseNet-169   DenseNet-201
    convolution       112x112    7x7 conv, 64 channels, stride 2
    pooling           56x56      3x3 max pool, stride 2
    dense block 1     56x56      [1x1, 3x3] x 6  x 6            x 6
    transition 1      28x28      1x1 conv, 2x2 average pool, stride 2
    dense block 2     28x28      x 12            x 12           x 12
    transition 2      14x14      1x1 conv, 2x2 average pool, stride 2
    dense block 3     14x14      x 24            x 32           x 48
    transition 3      7x7        1x1 conv, 2x2 average pool, stride 2
    dense block 4     7x7        x 16            x 32           x 32
    classification    1x1        global average pool, 1000-way linear, softmax

    parameters                   7,978,856      14,149,480     20,013,928   (torchvision, 1000 classes)

DenseNet-BC for CIFAR (Sec. 3, "Implementation details"): a 3x3 convolution
with 2k channels on the 32 x 32 image, three dense blocks on 32x32, 16x16 and
8x8 maps with the same number of bottleneck layers each, n = (L - 4) / 6,
transitions with theta = 0.5, global average pooling and a linear layer.
DenseNet-BC (L = 100, k = 12): 16 layers per block, 769,162 parameters for 10
classes (paper: 0.8 M; C10+ error 4.51 %).

Module names (``features.denseblock1.denselayer1.norm1`` ...) are torchvision's,
so torchvision's ``state_dict`` loads unchanged.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_input
from .blocks import init_conv_bn_linear
from .registry import register_model
from .torchvision_compat import register_torchvision_equivalent

__all__ = [
    "DenseLayer",
    "DenseBlock",
    "Transition",
    "DenseNet",
    "DenseNetConfig",
    "densenet121",
    "densenet169",
    "densenet201",
    "densenet_bc100",
]


@dataclass(frozen=True)
class DenseNetConfig:
    growth_rate: int  # k: channels each dense layer adds
    block_layers: tuple[int, ...]  # dense layers per block
    stem_channels: int  # output channels of the first convolution
    bn_size: int = 4  # bottleneck width, in multiples of k (the "B" of DenseNet-BC)
    compression: float = 0.5  # theta: fraction of channels a transition keeps (the "C")
    imagenet_stem: bool = True  # 7x7/2 conv + BN-ReLU + 3x3/2 max pool; False: one 3x3 conv (CIFAR)


# Table 1 (ImageNet) and Sec. 3 (CIFAR, L = 100: n = (100 - 4) / 6 = 16 layers per block).
DENSENET_CONFIGS: dict[str, DenseNetConfig] = {
    "densenet121": DenseNetConfig(growth_rate=32, block_layers=(6, 12, 24, 16), stem_channels=64),
    "densenet169": DenseNetConfig(growth_rate=32, block_layers=(6, 12, 32, 32), stem_channels=64),
    "densenet201": DenseNetConfig(growth_rate=32, block_layers=(6, 12, 48, 32), stem_channels=64),
    "densenet_bc100": DenseNetConfig(growth_rate=12, block_layers=(16, 16, 16), stem_channels=24, imagenet_stem=False),
}


class DenseLayer(nn.Module):
    """Bottleneck layer H_i: BN-ReLU-conv1x1 (bn_size * k) - BN-ReLU-conv3x3 (k), on the concatenated inputs."""

    def __init__(self, in_channels: int, *, growth_rate: int, bn_size: int = 4, drop_rate: float = 0.0) -> None:
        super().__init__()
        bottleneck = bn_size * growth_rate
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, bottleneck, kernel_size=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bottleneck)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bottleneck, growth_rate, kernel_size=3, padding=1, bias=False)
        self.drop_rate = drop_rate  # the paper adds dropout 0.2 only for C10/C100 without augmentation

    def forward(self, features: list[Tensor]) -> Tensor:
        x = torch.cat(features, 1)  # N x (C_0 + i*k) x H x W: every earlier output
        x = self.conv1(self.relu1(self.norm1(x)))  # N x 4k x H x W
        x = self.conv2(self.relu2(self.norm2(x)))  # N x k x H x W
        return F.dropout(x, p=self.drop_rate, training=self.training) if self.drop_rate > 0 else x


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers; the output concatenates the input and all new features."""

    def __init__(
        self, in_channels: int, *, num_layers: int, growth_rate: int, bn_size: int = 4, drop_rate: float = 0.0
    ) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = DenseLayer(
                in_channels + i * growth_rate, growth_rate=growth_rate, bn_size=bn_size, drop_rate=drop_rate
            )
            self.add_module(f"denselayer{i + 1}", layer)
        self.out_channels = in_channels + num_layers * growth_rate

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)  # N x (C_0 + num_layers*k) x H x W


class Transition(nn.Sequential):
    """BN-ReLU-conv1x1 to ``out_channels`` - 2x2 average pool, stride 2."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)


class DenseNet(nn.Module):
    """DenseNet-BC: a stem, dense blocks separated by compressing transitions, BN, global pool, linear.

    Args:
        config: growth rate, layers per block, stem (see ``DENSENET_CONFIGS``).
        num_classes: size of the output layer.
        in_channels: image channels.
        drop_rate: dropout after each dense layer (paper: 0.2 on CIFAR without augmentation, else 0).
    """

    def __init__(
        self, config: DenseNetConfig, num_classes: int = 1000, in_channels: int = 3, drop_rate: float = 0.0
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        c = config.stem_channels
        if config.imagenet_stem:
            stem = [
                ("conv0", nn.Conv2d(in_channels, c, kernel_size=7, stride=2, padding=3, bias=False)),
                ("norm0", nn.BatchNorm2d(c)),
                ("relu0", nn.ReLU(inplace=True)),
                ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
            ]
            # smallest side that leaves the last transition a 2x2 map: 29 (torchvision's min_size)
            self.min_size = 29
        else:
            stem = [("conv0", nn.Conv2d(in_channels, c, kernel_size=3, padding=1, bias=False))]
            self.min_size = 2 ** (len(config.block_layers) - 1)  # one halving per transition
        self.features = nn.Sequential(OrderedDict(stem))
        for i, num_layers in enumerate(config.block_layers, start=1):
            block = DenseBlock(
                c, num_layers=num_layers, growth_rate=config.growth_rate, bn_size=config.bn_size, drop_rate=drop_rate
            )
            self.features.add_module(f"denseblock{i}", block)
            c = block.out_channels
            if i < len(config.block_layers):
                out = math.floor(config.compression * c)
                self.features.add_module(f"transition{i}", Transition(c, out))
                c = out
        # torchvision names the final BN "norm5" whatever the number of blocks
        self.features.add_module("norm5", nn.BatchNorm2d(c))
        self.num_features = c
        self.classifier = nn.Linear(c, num_classes)
        init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model=type(self).__name__, in_channels=self.in_channels, min_size=self.min_size)
        # DenseNet-121 on N x 3 x 224 x 224: stem N x 64 x 56 x 56
        # -> block1 N x 256 x 56 x 56 -> transition1 N x 128 x 28 x 28
        # -> block2 N x 512 x 28 x 28 -> transition2 N x 256 x 14 x 14
        # -> block3 N x 1024 x 14 x 14 -> transition3 N x 512 x 7 x 7
        # -> block4 N x 1024 x 7 x 7 -> norm5 N x 1024 x 7 x 7
        # DenseNet-BC-100 on N x 3 x 32 x 32: conv0 N x 24 x 32 x 32 -> block1 N x 216 x 32 x 32
        # -> N x 108 x 16 x 16 -> block2 N x 300 x 16 x 16 -> N x 150 x 8 x 8 -> block3 N x 342 x 8 x 8
        return self.features(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """norm5's maps -> ReLU -> global average pool -> logits.

        ``pre_logits=True`` returns the pooled N x C vector the classifier receives, *after* the final
        ReLU: ``forward_features`` ends with norm5, a BN without its ReLU (torchvision's layout), so
        pooling those maps directly would give another vector than the one the classifier was trained on.
        """
        x = F.relu(x)  # the ReLU after norm5 (functional, as in torchvision, so the keys match)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)  # N x C
        if pre_logits:
            return x
        return self.classifier(x)  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def init_weights(model: nn.Module) -> None:
    """He normal (fan-in) convolutions, BN weight 1 / bias 0, linear bias 0: the authors' Torch code, as torchvision."""
    init_conv_bn_linear(model, conv_mode="fan_in", zero_conv_bias=False, linear=None, zero_linear_bias=True)


def _densenet(name: str, num_classes: int, in_channels: int, drop_rate: float, **kwargs) -> DenseNet:
    config = DENSENET_CONFIGS[name]
    return DenseNet(config, num_classes=num_classes, in_channels=in_channels, drop_rate=drop_rate, **kwargs)


_PAPER = "Huang et al. 2017, https://arxiv.org/abs/1608.06993"
# Every builder passes its other keyword arguments to :class:`DenseNet`.
_IMAGENET_META = dict(
    family="densenet",
    scale="imagenet",
    input_size=(3, 224, 224),
    num_classes=1000,
    first_conv="features.conv0",
    classifier="classifier",
    gradcam_layer="features.norm5",
    paper=_PAPER,
    test_size=(3, 32, 32),
)


@register_model(**_IMAGENET_META)
def densenet121(num_classes: int = 1000, in_channels: int = 3, drop_rate: float = 0.0, **kwargs) -> DenseNet:
    """DenseNet-121 (k = 32, blocks 6-12-24-16): 7,978,856 parameters, torchvision's densenet121."""
    return _densenet("densenet121", num_classes, in_channels, drop_rate, **kwargs)


@register_model(**_IMAGENET_META)
def densenet169(num_classes: int = 1000, in_channels: int = 3, drop_rate: float = 0.0, **kwargs) -> DenseNet:
    """DenseNet-169 (k = 32, blocks 6-12-32-32): 14,149,480 parameters, torchvision's densenet169."""
    return _densenet("densenet169", num_classes, in_channels, drop_rate, **kwargs)


@register_model(**_IMAGENET_META)
def densenet201(num_classes: int = 1000, in_channels: int = 3, drop_rate: float = 0.0, **kwargs) -> DenseNet:
    """DenseNet-201 (k = 32, blocks 6-12-48-32): 20,013,928 parameters, torchvision's densenet201."""
    return _densenet("densenet201", num_classes, in_channels, drop_rate, **kwargs)


_CIFAR_META = {**_IMAGENET_META, "scale": "cifar", "input_size": (3, 32, 32), "num_classes": 10, "test_size": None}


@register_model(**_CIFAR_META)
def densenet_bc100(num_classes: int = 10, in_channels: int = 3, drop_rate: float = 0.0, **kwargs) -> DenseNet:
    """DenseNet-BC (L = 100, k = 12) for CIFAR, the paper's own design: 769,162 parameters (paper: 0.8 M)."""
    return _densenet("densenet_bc100", num_classes, in_channels, drop_rate, **kwargs)


@register_model(**_CIFAR_META)
def densenet_bc_cifar(
    num_classes: int = 10,
    in_channels: int = 3,
    depth: int = 40,
    growth_rate: int = 12,
    drop_rate: float = 0.0,
    **kwargs,
) -> DenseNet:
    """DenseNet-BC of any depth L for CIFAR (three dense blocks of (L - 4) / 6 bottleneck layers each).

    ``depth=100, growth_rate=12`` is :func:`densenet_bc100`; the default L = 40 (six layers per block,
    176,122 parameters at k = 12) trains about five times faster on a CPU.
    """
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(f"DenseNet-BC depth must be 6n + 4 with n >= 1 (40, 100, 190, ...), got {depth}")
    per_block = (depth - 4) // 6
    config = DenseNetConfig(
        growth_rate=growth_rate, block_layers=(per_block,) * 3, stem_channels=2 * growth_rate, imagenet_stem=False
    )
    return DenseNet(config, num_classes=num_classes, in_channels=in_channels, drop_rate=drop_rate, **kwargs)


register_torchvision_equivalent("densenet121", torchvision_name="densenet121")
register_torchvision_equivalent("densenet169", torchvision_name="densenet169")
register_torchvision_equivalent("densenet201", torchvision_name="densenet201")
