"""Inception-v3, Inception-v4 and Inception-ResNet-v2.

- Inception-v3: Szegedy, Vanhoucke, Ioffe, Shlens, Wojna 2015, Rethinking the Inception
  Architecture for Computer Vision, https://arxiv.org/abs/1512.00567
- Inception-v4 and Inception-ResNet-v2: Szegedy, Ioffe, Vanhoucke, Alemi 2016, Inception-v4,
  Inception-ResNet and the Impact of Residual Connections on Learning, https://arxiv.org/abs/1602.07261

Inception-v2/v3 factorise the convolutions of GoogLeNet (Sec. 3 of the 2015 paper), visible in
the blocks below:
- a 5x5 conv becomes two stacked 3x3 convs (Figure 5): same receptive field, 2*9 = 18 instead of
  25 weights per input-output channel pair, 28 % fewer (``InceptionA.branch3x3dbl_*``);
- an n x n conv becomes a 1 x n conv then an n x 1 conv (Figure 6): 2n instead of n^2 weights,
  for n = 7 a 71 % saving (``InceptionC.branch7x7_*``), and at the coarsest grid the 1x3 and 3x1
  convs sit side by side to widen the output (Figure 7, ``InceptionE``);
- the grid is reduced by a stride-2 conv branch next to a stride-2 pool branch (Figure 10,
  ``InceptionB``, ``InceptionD``), not by a pool before or after an Inception module.

Inception-v3, Table 1 of the 2015 paper as torchvision implements it (299 x 299 input; "valid"
convs unless padded):

    module            block        output        what it does
    Conv2d_1a_3x3     conv 3x3/2   149x149x32
    Conv2d_2a_3x3     conv 3x3     147x147x32
    Conv2d_2b_3x3     conv 3x3 p1  147x147x64
    maxpool1          pool 3x3/2   73x73x64
    Conv2d_3b_1x1     conv 1x1     73x73x80
    Conv2d_4a_3x3     conv 3x3     71x71x192
    maxpool2          pool 3x3/2   35x35x192
    Mixed_5b..5d      3 x InceptionA  35x35x288  Figure 5 (5x5 as two 3x3)
    Mixed_6a          InceptionB   17x17x768     grid reduction (Figure 10)
    Mixed_6b..6e      4 x InceptionC  17x17x768  Figure 6 (7x7 as 1x7 then 7x1)
    AuxLogits         InceptionAux               auxiliary classifier on 17x17 (training only)
    Mixed_7a          InceptionD   8x8x1280      grid reduction
    Mixed_7b, 7c      2 x InceptionE  8x8x2048   Figure 7 (1x3 and 3x1 side by side)
    avgpool, dropout, fc           1000

The released network (and torchvision, which ports its weights) keeps a 5x5 branch next to
the double-3x3 branch in the 35x35 modules; the paper's Figure 5 shows only the factorised one.

Inception-v4 (Figure 9 of the 2016 paper; 299 x 299):

    stem (Figure 3)                     35x35x384
    4 x Inception-A (Figure 4)          35x35x384
    Reduction-A (Figure 7; k,l,m,n = 192,224,256,384)   17x17x1024
    7 x Inception-B (Figure 5)          17x17x1024
    Reduction-B (Figure 8)              8x8x1536
    3 x Inception-C (Figure 6)          8x8x1536
    average pool, dropout (keep 0.8), linear

Inception-ResNet-v2 (Figure 15; 299 x 299): each Inception-ResNet block adds a scaled
(0.17, 0.10, 0.20: Sec. 3.3, "scaling of the residuals") 1x1-projected Inception branch to its
input, ``x = relu(x + scale * conv1x1(concat(branches)))``:

    stem                                35x35x320
    10 x Inception-ResNet-A (Block35)   35x35x320
    Reduction-A (k,l,m,n = 256,256,384,384)  17x17x1088
    20 x Inception-ResNet-B (Block17)   17x17x1088
    Reduction-B                         8x8x2080
    10 x Inception-ResNet-C (Block8)    8x8x2080   (the last one without scaling or ReLU)
    conv 1x1                            8x8x1536
    average pool, dropout, linear

Inception-v4 and Inception-ResNet-v2 follow the released TensorFlow-Slim networks, as timm's
``inception_v4`` (42,679,816 parameters) and ``inception_resnet_v2`` (55,843,464), with timm's
module names. Where they differ from the paper: Inception-ResNet-v2 uses the Inception-v3-style
stem with a 35x35 mixed block (not Figure 3) and 10/20/10 blocks (Figure 15 says 5/10/5); the
grid-reduction of Inception-ResNet-v2 (Figure 18) has the channel counts of the released model.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_input
from .blocks import imagenet_to_tensorflow_range, init_conv_bn_linear
from .googlenet import BasicConv2d
from .registry import register_model
from .torchvision_compat import register_torchvision_equivalent

__all__ = [
    "IRV2_BLOCKS",
    "V4_BLOCKS",
    "Inception3",
    "InceptionOutputs",
    "InceptionResNetV2",
    "InceptionV4",
    "inception_resnet_v2",
    "inception_v3_cifar",
    "inception_v4_cifar",
    "inception_resnet_v2_cifar",
    "inception_v3",
    "inception_v4",
]

# Inception-v4, Figure 9: how many of each block
V4_BLOCKS = {"inception_a": 4, "inception_b": 7, "inception_c": 3}

# Inception-ResNet-v2 (released network): (block, how many, residual scale)
IRV2_BLOCKS = [("block35", 10, 0.17), ("block17", 20, 0.10), ("block8", 10, 0.20)]

valid = partial(BasicConv2d, padding=0)  # "valid" conv: no padding (TensorFlow's VALID)


# ---------------------------------------------------------------------------------------------
# Inception-v3 blocks (torchvision's names)


class InceptionA(nn.Module):
    """35x35 module (Figure 5): the 5x5 of GoogLeNet factorised into two 3x3 (``branch3x3dbl``)."""

    def __init__(self, in_channels: int, *, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3)  # two 3x3 convs: the receptive field of a 5x5
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        b1 = self.branch1x1(x)  # N x 64 x H x W
        b2 = self.branch5x5_2(self.branch5x5_1(x))  # N x 64 x H x W
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))  # N x 96 x H x W
        b4 = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))  # N x pool_features x H x W
        return torch.cat([b1, b2, b3, b4], 1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17 (Figure 10): stride-2 conv branches next to a stride-2 max pool."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = valid(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3)
        self.branch3x3dbl_3 = valid(96, 96, kernel_size=3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b1 = self.branch3x3(x)  # N x 384 x H/2 x W/2
        b2 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))  # N x 96 x H/2 x W/2
        b3 = F.max_pool2d(x, kernel_size=3, stride=2)  # N x C_in x H/2 x W/2
        return torch.cat([b1, b2, b3], 1)


class InceptionC(nn.Module):
    """17x17 module (Figure 6): every 7x7 factorised into a 1x7 and a 7x1 conv."""

    def __init__(self, in_channels: int, *, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7))  # 1 x 7 ...
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1))  # ... then 7 x 1: a 7x7 receptive field
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        b1 = self.branch1x1(x)  # N x 192 x H x W
        b2 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))  # N x 192 x H x W
        b3 = self.branch7x7dbl_1(x)
        b3 = self.branch7x7dbl_5(self.branch7x7dbl_4(self.branch7x7dbl_3(self.branch7x7dbl_2(b3))))  # N x 192 x H x W
        b4 = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))  # N x 192 x H x W
        return torch.cat([b1, b2, b3, b4], 1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = valid(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1))
        self.branch7x7x3_4 = valid(192, 192, kernel_size=3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b1 = self.branch3x3_2(self.branch3x3_1(x))  # N x 320 x H/2 x W/2
        b2 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))  # N x 192 x H/2 x W/2
        b3 = F.max_pool2d(x, kernel_size=3, stride=2)  # N x C_in x H/2 x W/2
        return torch.cat([b1, b2, b3], 1)


class InceptionE(nn.Module):
    """8x8 module (Figure 7): 3x3 factorised into 1x3 and 3x1 side by side, widening the output."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        b1 = self.branch1x1(x)  # N x 320 x H x W
        b2 = self.branch3x3_1(x)
        b2 = torch.cat([self.branch3x3_2a(b2), self.branch3x3_2b(b2)], 1)  # N x 768 x H x W
        b3 = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        b3 = torch.cat([self.branch3x3dbl_3a(b3), self.branch3x3dbl_3b(b3)], 1)  # N x 768 x H x W
        b4 = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))  # N x 192 x H x W
        return torch.cat([b1, b2, b3, b4], 1)  # N x 2048 x H x W


class InceptionAux(nn.Module):
    """Auxiliary classifier on the 17x17 grid (Figure 8): avg pool 5x5/3, 1x1 conv 128, 5x5 conv 768, linear."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv0 = BasicConv2d(in_channels, 128, kernel_size=1)
        self.conv1 = valid(128, 768, kernel_size=5)
        self.conv1.stddev = 0.01  # initialisation std, as torchvision
        self.fc = nn.Linear(768, num_classes)
        self.fc.stddev = 0.001

    def forward(self, x: Tensor) -> Tensor:
        x = F.avg_pool2d(x, kernel_size=5, stride=3)  # N x 768 x 5 x 5 (at 299 px)
        x = self.conv1(self.conv0(x))  # N x 768 x 1 x 1
        x = torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1)  # N x 768
        return self.fc(x)  # N x num_classes


class InceptionOutputs(NamedTuple):
    """What Inception-v3 with its auxiliary head returns in training mode.

    The 2015 paper gives no loss weight; torchvision's reference training script uses
    ``loss = CE(logits) + 0.4 * CE(aux_logits)``.
    """

    logits: Tensor
    aux_logits: Tensor


# CIFAR-scale variants (constructor argument ``cifar=True``): the ImageNet stem (everything before
# the first 35x35 block, 299 -> 35) is replaced by one 3x3 stride-1 conv-BN-ReLU to the channels the
# first block expects; every Inception and reduction block is kept. On 32 x 32 input the two
# reductions give 32 -> 15 -> 7. The smallest input two stride-2 valid 3x3 reductions accept is 7 x 7.
CIFAR_MIN_SIZE = 7


def cifar_stem(in_channels: int, out_channels: int) -> "BasicConv2d":
    """The CIFAR stem replacing the ImageNet one: one "same" 3x3 conv, stride 1."""
    return BasicConv2d(in_channels, out_channels, kernel_size=3)


class Inception3(nn.Module):
    """Inception-v3 with torchvision's module names (its ``state_dict`` loads with identical keys)."""

    min_size = 75  # torchvision's meta "min_size" (299 in training mode with the auxiliary head)

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        aux_logits: bool = False,
        transform_input: bool = False,
        dropout: float = 0.5,
        cifar: bool = False,
    ) -> None:
        super().__init__()
        if cifar and aux_logits:
            raise ValueError(
                "the CIFAR-scale Inception-v3 has no auxiliary head (its 17x17 grid is 15x15 here, too small for it)"
            )
        self.in_channels = in_channels
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        if cifar:
            self.min_size = CIFAR_MIN_SIZE
            self.Conv2d_1a_3x3 = cifar_stem(in_channels, 192)  # N x 192 x 32 x 32
            self.Conv2d_2a_3x3 = self.Conv2d_2b_3x3 = self.maxpool1 = nn.Identity()
            self.Conv2d_3b_1x1 = self.Conv2d_4a_3x3 = self.maxpool2 = nn.Identity()
        else:
            self.Conv2d_1a_3x3 = valid(in_channels, 32, kernel_size=3, stride=2)
            self.Conv2d_2a_3x3 = valid(32, 32, kernel_size=3)
            self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3)
            self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
            self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
            self.Conv2d_4a_3x3 = valid(80, 192, kernel_size=3)
            self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.AuxLogits = InceptionAux(768, num_classes) if aux_logits else None
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280)
        self.Mixed_7c = InceptionE(2048)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(2048, num_classes)
        init_weights(self)

    def _transform_input(self, x: Tensor) -> Tensor:
        """ImageNet mean/std normalisation -> (x - 0.5) / 0.5 of the original TensorFlow weights."""
        return imagenet_to_tensorflow_range(x) if self.transform_input else x

    def _features(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        # in training mode the auxiliary head's 5x5/3 pool then 5x5 valid conv need the full 17x17 grid
        min_size = 299 if self.AuxLogits is not None and self.training else self.min_size
        check_input(x, model="Inception3", in_channels=self.in_channels, min_size=min_size)
        x = self._transform_input(x)  # N x 3 x 299 x 299
        x = self.Conv2d_1a_3x3(x)  # N x 32 x 149 x 149
        x = self.Conv2d_2a_3x3(x)  # N x 32 x 147 x 147
        x = self.Conv2d_2b_3x3(x)  # N x 64 x 147 x 147
        x = self.maxpool1(x)  # N x 64 x 73 x 73
        x = self.Conv2d_3b_1x1(x)  # N x 80 x 73 x 73
        x = self.Conv2d_4a_3x3(x)  # N x 192 x 71 x 71
        x = self.maxpool2(x)  # N x 192 x 35 x 35
        x = self.Mixed_5b(x)  # N x 256 x 35 x 35
        x = self.Mixed_5c(x)  # N x 288 x 35 x 35
        x = self.Mixed_5d(x)  # N x 288 x 35 x 35
        x = self.Mixed_6a(x)  # N x 768 x 17 x 17
        x = self.Mixed_6b(x)  # N x 768 x 17 x 17
        x = self.Mixed_6c(x)  # N x 768 x 17 x 17
        x = self.Mixed_6d(x)  # N x 768 x 17 x 17
        x = self.Mixed_6e(x)  # N x 768 x 17 x 17
        aux = self.AuxLogits(x) if self.AuxLogits is not None and self.training else None  # N x num_classes
        x = self.Mixed_7a(x)  # N x 1280 x 8 x 8
        x = self.Mixed_7b(x)  # N x 2048 x 8 x 8
        return self.Mixed_7c(x), aux  # N x 2048 x 8 x 8

    def forward_features(self, x: Tensor) -> Tensor:
        return self._features(x)[0]

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """The last maps -> logits; ``pre_logits=True``: the globally averaged maps, N x 2048, before dropout
        and ``fc``."""
        x = self.avgpool(x)  # N x 2048 x 1 x 1
        if pre_logits:
            return torch.flatten(x, 1)  # N x 2048
        return self.fc(torch.flatten(self.dropout(x), 1))  # N x num_classes

    def forward(self, x: Tensor) -> Tensor | InceptionOutputs:
        """Logits; in training mode with ``aux_logits=True``, ``InceptionOutputs(logits, aux_logits)``."""
        features, aux = self._features(x)
        logits = self.forward_head(features)
        return InceptionOutputs(logits, aux) if aux is not None else logits


# ---------------------------------------------------------------------------------------------
# Inception-v4 blocks (timm's names; BN eps 0.001 and bias-free convs as the TF-Slim release)


class Mixed3a(nn.Module):
    """Stem, 147 -> 73: 3x3/2 max pool next to a 3x3/2 conv (Figure 3)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxpool = nn.MaxPool2d(3, stride=2)
        self.conv = valid(64, 96, kernel_size=3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.maxpool(x), self.conv(x)], 1)  # N x 160 x 73 x 73


class Mixed4a(nn.Module):
    """Stem, 73 -> 71: two branches, one with the 7x1 + 1x7 factorisation (Figure 3)."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(BasicConv2d(160, 64, kernel_size=1), valid(64, 96, kernel_size=3))
        self.branch1 = nn.Sequential(
            BasicConv2d(160, 64, kernel_size=1),
            BasicConv2d(64, 64, kernel_size=(1, 7)),
            BasicConv2d(64, 64, kernel_size=(7, 1)),
            valid(64, 96, kernel_size=3),
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch0(x), self.branch1(x)], 1)  # N x 192 x 71 x 71


class Mixed5a(nn.Module):
    """Stem, 71 -> 35: 3x3/2 conv next to a 3x3/2 max pool (Figure 3)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = valid(192, 192, kernel_size=3, stride=2)
        self.maxpool = nn.MaxPool2d(3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.conv(x), self.maxpool(x)], 1)  # N x 384 x 35 x 35


def _avg_pool() -> nn.AvgPool2d:
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


class InceptionV4A(nn.Module):
    """Inception-A, 35x35 (Figure 4): 5x5 as two 3x3, as in v3."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = BasicConv2d(384, 96, kernel_size=1)
        self.branch1 = nn.Sequential(BasicConv2d(384, 64, kernel_size=1), BasicConv2d(64, 96, kernel_size=3))
        self.branch2 = nn.Sequential(
            BasicConv2d(384, 64, kernel_size=1), BasicConv2d(64, 96, kernel_size=3), BasicConv2d(96, 96, kernel_size=3)
        )
        self.branch3 = nn.Sequential(_avg_pool(), BasicConv2d(384, 96, kernel_size=1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], 1)  # N x 384 x 35 x 35


class ReductionA(nn.Module):
    """Reduction-A, 35 -> 17 (Figure 7), with the filter counts k, l, m, n of the paper's Table 1."""

    def __init__(self, in_channels: int, *, k: int, l: int, m: int, n: int) -> None:  # noqa: E741 (the paper's names)
        super().__init__()
        self.branch0 = valid(in_channels, n, kernel_size=3, stride=2)
        self.branch1 = nn.Sequential(
            BasicConv2d(in_channels, k, kernel_size=1),
            BasicConv2d(k, l, kernel_size=3),
            valid(l, m, kernel_size=3, stride=2),
        )
        self.branch2 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x)], 1)  # N x (n + m + C_in) x 17 x 17


class InceptionV4B(nn.Module):
    """Inception-B, 17x17 (Figure 5): 7x7 as 1x7 then 7x1."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = BasicConv2d(1024, 384, kernel_size=1)
        self.branch1 = nn.Sequential(
            BasicConv2d(1024, 192, kernel_size=1),
            BasicConv2d(192, 224, kernel_size=(1, 7)),
            BasicConv2d(224, 256, kernel_size=(7, 1)),
        )
        self.branch2 = nn.Sequential(
            BasicConv2d(1024, 192, kernel_size=1),
            BasicConv2d(192, 192, kernel_size=(7, 1)),
            BasicConv2d(192, 224, kernel_size=(1, 7)),
            BasicConv2d(224, 224, kernel_size=(7, 1)),
            BasicConv2d(224, 256, kernel_size=(1, 7)),
        )
        self.branch3 = nn.Sequential(_avg_pool(), BasicConv2d(1024, 128, kernel_size=1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], 1)  # N x 1024 x 17 x 17


class ReductionB(nn.Module):
    """Reduction-B of Inception-v4, 17 -> 8 (Figure 8)."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(BasicConv2d(1024, 192, kernel_size=1), valid(192, 192, kernel_size=3, stride=2))
        self.branch1 = nn.Sequential(
            BasicConv2d(1024, 256, kernel_size=1),
            BasicConv2d(256, 256, kernel_size=(1, 7)),
            BasicConv2d(256, 320, kernel_size=(7, 1)),
            valid(320, 320, kernel_size=3, stride=2),
        )
        self.branch2 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x)], 1)  # N x 1536 x 8 x 8


class InceptionV4C(nn.Module):
    """Inception-C, 8x8 (Figure 6): 1x3 and 3x1 side by side, as v3's Figure 7."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = BasicConv2d(1536, 256, kernel_size=1)
        self.branch1_0 = BasicConv2d(1536, 384, kernel_size=1)
        self.branch1_1a = BasicConv2d(384, 256, kernel_size=(1, 3))
        self.branch1_1b = BasicConv2d(384, 256, kernel_size=(3, 1))
        self.branch2_0 = BasicConv2d(1536, 384, kernel_size=1)
        self.branch2_1 = BasicConv2d(384, 448, kernel_size=(3, 1))
        self.branch2_2 = BasicConv2d(448, 512, kernel_size=(1, 3))
        self.branch2_3a = BasicConv2d(512, 256, kernel_size=(1, 3))
        self.branch2_3b = BasicConv2d(512, 256, kernel_size=(3, 1))
        self.branch3 = nn.Sequential(_avg_pool(), BasicConv2d(1536, 256, kernel_size=1))

    def forward(self, x: Tensor) -> Tensor:
        b1 = self.branch1_0(x)
        b2 = self.branch2_2(self.branch2_1(self.branch2_0(x)))
        return torch.cat(
            [
                self.branch0(x),
                self.branch1_1a(b1),
                self.branch1_1b(b1),
                self.branch2_3a(b2),
                self.branch2_3b(b2),
                self.branch3(x),
            ],
            1,
        )  # N x 1536 x 8 x 8


class InceptionV4(nn.Module):
    """Inception-v4 (Figure 9), as timm's ``inception_v4`` (module names ``features.i``, ``last_linear``)."""

    min_size = 75  # smallest input whose stride-2 valid convs and pools all have a window (found by trying sizes)

    def __init__(
        self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.2, cifar: bool = False
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        if cifar:
            self.min_size = CIFAR_MIN_SIZE
            stem = [cifar_stem(in_channels, 384)]  # N x 384 x 32 x 32
        else:
            stem = [
                valid(in_channels, 32, kernel_size=3, stride=2),  # N x 32 x 149 x 149
                valid(32, 32, kernel_size=3),  # N x 32 x 147 x 147
                BasicConv2d(32, 64, kernel_size=3),  # N x 64 x 147 x 147
                Mixed3a(),  # N x 160 x 73 x 73
                Mixed4a(),  # N x 192 x 71 x 71
                Mixed5a(),  # N x 384 x 35 x 35
            ]
        self.features = nn.Sequential(
            *stem,
            *[InceptionV4A() for _ in range(V4_BLOCKS["inception_a"])],  # N x 384 x 35 x 35
            ReductionA(384, k=192, l=224, m=256, n=384),  # N x 1024 x 17 x 17
            *[InceptionV4B() for _ in range(V4_BLOCKS["inception_b"])],  # N x 1024 x 17 x 17
            ReductionB(),  # N x 1536 x 8 x 8
            *[InceptionV4C() for _ in range(V4_BLOCKS["inception_c"])],  # N x 1536 x 8 x 8
        )
        self.global_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.head_drop = nn.Dropout(p=dropout)  # the paper: "Dropout (keep 0.8)"
        self.last_linear = nn.Linear(1536, num_classes)
        init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model="InceptionV4", in_channels=self.in_channels, min_size=self.min_size)
        return self.features(x)  # N x 3 x 299 x 299 -> N x 1536 x 8 x 8

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """The last maps -> logits; ``pre_logits=True``: the globally averaged maps, N x 1536, before dropout
        and the linear layer."""
        x = torch.flatten(self.global_pool(x), 1)  # N x 1536
        if pre_logits:
            return x
        return self.last_linear(self.head_drop(x))  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


# ---------------------------------------------------------------------------------------------
# Inception-ResNet-v2 blocks (timm's names)


class Mixed5b(nn.Module):
    """The 35x35 mixed block ending the released Inception-ResNet-v2 stem (v3's InceptionA with other widths)."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = BasicConv2d(192, 96, kernel_size=1)
        self.branch1 = nn.Sequential(BasicConv2d(192, 48, kernel_size=1), BasicConv2d(48, 64, kernel_size=5))
        self.branch2 = nn.Sequential(
            BasicConv2d(192, 64, kernel_size=1), BasicConv2d(64, 96, kernel_size=3), BasicConv2d(96, 96, kernel_size=3)
        )
        self.branch3 = nn.Sequential(_avg_pool(), BasicConv2d(192, 64, kernel_size=1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], 1)  # N x 320 x 35 x 35


class Block35(nn.Module):
    """Inception-ResNet-A, 35x35 (Figure 16): ``relu(x + scale * conv2d(concat(branches)))``."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        self.branch0 = BasicConv2d(320, 32, kernel_size=1)
        self.branch1 = nn.Sequential(BasicConv2d(320, 32, kernel_size=1), BasicConv2d(32, 32, kernel_size=3))
        self.branch2 = nn.Sequential(
            BasicConv2d(320, 32, kernel_size=1), BasicConv2d(32, 48, kernel_size=3), BasicConv2d(48, 64, kernel_size=3)
        )
        self.conv2d = nn.Conv2d(128, 320, kernel_size=1)  # linear 1x1 projection back to the input width
        self.act = nn.ReLU(inplace=False)

    def forward(self, x: Tensor) -> Tensor:
        out = torch.cat([self.branch0(x), self.branch1(x), self.branch2(x)], 1)  # N x 128 x 35 x 35
        return self.act(x + self.scale * self.conv2d(out))  # N x 320 x 35 x 35


class Block17(nn.Module):
    """Inception-ResNet-B, 17x17 (Figure 17): 7x7 as 1x7 then 7x1, scaled residual."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        self.branch0 = BasicConv2d(1088, 192, kernel_size=1)
        self.branch1 = nn.Sequential(
            BasicConv2d(1088, 128, kernel_size=1),
            BasicConv2d(128, 160, kernel_size=(1, 7)),
            BasicConv2d(160, 192, kernel_size=(7, 1)),
        )
        self.conv2d = nn.Conv2d(384, 1088, kernel_size=1)
        self.act = nn.ReLU(inplace=False)

    def forward(self, x: Tensor) -> Tensor:
        out = torch.cat([self.branch0(x), self.branch1(x)], 1)  # N x 384 x 17 x 17
        return self.act(x + self.scale * self.conv2d(out))  # N x 1088 x 17 x 17


class Block8(nn.Module):
    """Inception-ResNet-C, 8x8 (Figure 19): 3x3 as 1x3 then 3x1, scaled residual; ``no_relu`` for the last one."""

    def __init__(self, scale: float = 1.0, no_relu: bool = False) -> None:
        super().__init__()
        self.scale = scale
        self.branch0 = BasicConv2d(2080, 192, kernel_size=1)
        self.branch1 = nn.Sequential(
            BasicConv2d(2080, 192, kernel_size=1),
            BasicConv2d(192, 224, kernel_size=(1, 3)),
            BasicConv2d(224, 256, kernel_size=(3, 1)),
        )
        self.conv2d = nn.Conv2d(448, 2080, kernel_size=1)
        self.relu = None if no_relu else nn.ReLU(inplace=False)

    def forward(self, x: Tensor) -> Tensor:
        out = torch.cat([self.branch0(x), self.branch1(x)], 1)  # N x 448 x 8 x 8
        out = x + self.scale * self.conv2d(out)  # N x 2080 x 8 x 8
        return out if self.relu is None else self.relu(out)


class Mixed7a(nn.Module):
    """Reduction-B of Inception-ResNet-v2, 17 -> 8 (Figure 18)."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(BasicConv2d(1088, 256, kernel_size=1), valid(256, 384, kernel_size=3, stride=2))
        self.branch1 = nn.Sequential(BasicConv2d(1088, 256, kernel_size=1), valid(256, 288, kernel_size=3, stride=2))
        self.branch2 = nn.Sequential(
            BasicConv2d(1088, 256, kernel_size=1),
            BasicConv2d(256, 288, kernel_size=3),
            valid(288, 320, kernel_size=3, stride=2),
        )
        self.branch3 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], 1)  # N x 2080 x 8 x 8


class InceptionResNetV2(nn.Module):
    """Inception-ResNet-v2 (Figure 15, released TF-Slim network), as timm's ``inception_resnet_v2``."""

    min_size = 75  # found by trying sizes, as InceptionV4

    def __init__(
        self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.2, cifar: bool = False
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        (a, n_a, s_a), (b, n_b, s_b), (c, n_c, s_c) = IRV2_BLOCKS
        if cifar:
            self.min_size = CIFAR_MIN_SIZE
            self.conv2d_1a = cifar_stem(in_channels, 192)  # N x 192 x 32 x 32
            self.conv2d_2a = self.conv2d_2b = self.maxpool_3a = nn.Identity()
            self.conv2d_3b = self.conv2d_4a = self.maxpool_5a = nn.Identity()
        else:
            self.conv2d_1a = valid(in_channels, 32, kernel_size=3, stride=2)
            self.conv2d_2a = valid(32, 32, kernel_size=3)
            self.conv2d_2b = BasicConv2d(32, 64, kernel_size=3)
            self.maxpool_3a = nn.MaxPool2d(3, stride=2)
            self.conv2d_3b = BasicConv2d(64, 80, kernel_size=1)
            self.conv2d_4a = valid(80, 192, kernel_size=3)
            self.maxpool_5a = nn.MaxPool2d(3, stride=2)
        self.mixed_5b = Mixed5b()
        self.repeat = nn.Sequential(*[Block35(scale=s_a) for _ in range(n_a)])
        self.mixed_6a = ReductionA(320, k=256, l=256, m=384, n=384)
        self.repeat_1 = nn.Sequential(*[Block17(scale=s_b) for _ in range(n_b)])
        self.mixed_7a = Mixed7a()
        self.repeat_2 = nn.Sequential(*[Block8(scale=s_c) for _ in range(n_c - 1)])
        self.block8 = Block8(no_relu=True)  # the last block: no scaling, no ReLU (TF-Slim)
        self.conv2d_7b = BasicConv2d(2080, 1536, kernel_size=1)
        self.global_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.head_drop = nn.Dropout(p=dropout)  # the paper: "Dropout (keep 0.8)"
        self.classif = nn.Linear(1536, num_classes)
        init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model="InceptionResNetV2", in_channels=self.in_channels, min_size=self.min_size)
        x = self.conv2d_1a(x)  # N x 32 x 149 x 149
        x = self.conv2d_2a(x)  # N x 32 x 147 x 147
        x = self.conv2d_2b(x)  # N x 64 x 147 x 147
        x = self.maxpool_3a(x)  # N x 64 x 73 x 73
        x = self.conv2d_3b(x)  # N x 80 x 73 x 73
        x = self.conv2d_4a(x)  # N x 192 x 71 x 71
        x = self.maxpool_5a(x)  # N x 192 x 35 x 35
        x = self.mixed_5b(x)  # N x 320 x 35 x 35
        x = self.repeat(x)  # N x 320 x 35 x 35
        x = self.mixed_6a(x)  # N x 1088 x 17 x 17
        x = self.repeat_1(x)  # N x 1088 x 17 x 17
        x = self.mixed_7a(x)  # N x 2080 x 8 x 8
        x = self.repeat_2(x)  # N x 2080 x 8 x 8
        x = self.block8(x)  # N x 2080 x 8 x 8
        return self.conv2d_7b(x)  # N x 1536 x 8 x 8

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """The last maps -> logits; ``pre_logits=True``: the globally averaged maps, N x 1536, before dropout
        and the linear layer."""
        x = torch.flatten(self.global_pool(x), 1)  # N x 1536
        if pre_logits:
            return x
        return self.classif(self.head_drop(x))  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def init_weights(model: nn.Module) -> None:
    """Normal, std 0.1 (or a module's ``stddev``), as torchvision's Inception-v3; BN to identity.

    torchvision draws from a normal truncated at +-2, at least 20 std out: never cut, so a plain
    normal is the same distribution (and ten times faster to draw).

    (timm keeps PyTorch's default initialisation for v4 and Inception-ResNet-v2; the papers train
    with TensorFlow's defaults and do not state it.)
    """
    init_conv_bn_linear(model, conv="normal", conv_std=0.1, linear="conv")  # = trunc_normal_(a=-2, b=2)


# ---------------------------------------------------------------------------------------------
# Builders

_V3_PAPER = "Szegedy et al. 2015, Rethinking the Inception Architecture, https://arxiv.org/abs/1512.00567"
_V4_PAPER = "Szegedy et al. 2016, Inception-v4, Inception-ResNet, https://arxiv.org/abs/1602.07261"
_META = dict(family="inception", scale="imagenet", input_size=(3, 299, 299), num_classes=1000, test_size=(3, 75, 75))
# Every builder passes its other keyword arguments to the model's class.


@register_model(**_META, first_conv="Conv2d_1a_3x3.conv", classifier="fc", gradcam_layer="Mixed_7c", paper=_V3_PAPER)
def inception_v3(
    num_classes: int = 1000,
    in_channels: int = 3,
    aux_logits: bool = False,
    transform_input: bool = False,
    dropout: float = 0.5,
    **kwargs,
) -> Inception3:
    """Inception-v3 as torchvision: 23,834,568 parameters, 27,161,264 with ``aux_logits=True``."""
    return Inception3(
        num_classes=num_classes,
        in_channels=in_channels,
        aux_logits=aux_logits,
        transform_input=transform_input,
        dropout=dropout,
        **kwargs,
    )


@register_model(
    **_META, first_conv="features.0.conv", classifier="last_linear", gradcam_layer="features.21", paper=_V4_PAPER
)
def inception_v4(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.2, **kwargs) -> InceptionV4:
    """Inception-v4 as timm's ``inception_v4``: 42,679,816 parameters."""
    return InceptionV4(num_classes=num_classes, in_channels=in_channels, dropout=dropout, **kwargs)


@register_model(**_META, first_conv="conv2d_1a.conv", classifier="classif", gradcam_layer="conv2d_7b", paper=_V4_PAPER)
def inception_resnet_v2(
    num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.2, **kwargs
) -> InceptionResNetV2:
    """Inception-ResNet-v2 as timm's ``inception_resnet_v2``: 55,843,464 parameters."""
    return InceptionResNetV2(num_classes=num_classes, in_channels=in_channels, dropout=dropout, **kwargs)


_CIFAR_META = {**_META, "scale": "cifar", "input_size": (3, 32, 32), "num_classes": 10, "test_size": (3, 32, 32)}


@register_model(
    **_CIFAR_META, first_conv="Conv2d_1a_3x3.conv", classifier="fc", gradcam_layer="Mixed_7c", paper=_V3_PAPER
)
def inception_v3_cifar(num_classes: int = 10, in_channels: int = 3, dropout: float = 0.5, **kwargs) -> Inception3:
    """Inception-v3 for 32 x 32 (21,638,954 parameters; our adaptation, not a published model).

    Minimal adaptation: only the ImageNet stem (Conv2d_1a_3x3 .. maxpool2, 299 -> 35) is replaced,
    because it would shrink a 32 x 32 image to 1 x 1 before the first Inception block and the
    reductions could not run. It becomes one 3x3 stride-1 conv-BN-ReLU to the 192 channels
    Mixed_5b expects. Every Inception and reduction block is kept, so the grids are
    32 -> 15 (Mixed_6a) -> 7 (Mixed_7a). No auxiliary head: its 5x5/3 pool and 5x5 valid conv
    need the 17 x 17 grid, which is 15 x 15 here.
    """
    return Inception3(num_classes=num_classes, in_channels=in_channels, dropout=dropout, cifar=True, **kwargs)


@register_model(
    **_CIFAR_META, first_conv="features.0.conv", classifier="last_linear", gradcam_layer="features.16", paper=_V4_PAPER
)
def inception_v4_cifar(num_classes: int = 10, in_channels: int = 3, dropout: float = 0.2, **kwargs) -> InceptionV4:
    """Inception-v4 for 32 x 32 (40,563,594 parameters; our adaptation, not a published model).

    Minimal adaptation: only the stem (Figure 3, 299 -> 35) is replaced, because it would shrink a
    32 x 32 image to 1 x 1 and the reductions could not run. It becomes one 3x3 stride-1
    conv-BN-ReLU to the 384 channels Inception-A expects; 4 x A, Reduction-A, 7 x B, Reduction-B
    and 3 x C are kept, so the grids are 32 -> 15 -> 7.
    """
    return InceptionV4(num_classes=num_classes, in_channels=in_channels, dropout=dropout, cifar=True, **kwargs)


@register_model(
    **_CIFAR_META, first_conv="conv2d_1a.conv", classifier="classif", gradcam_layer="conv2d_7b", paper=_V4_PAPER
)
def inception_resnet_v2_cifar(
    num_classes: int = 10, in_channels: int = 3, dropout: float = 0.2, **kwargs
) -> InceptionResNetV2:
    """Inception-ResNet-v2 for 32 x 32 (54,154,730 parameters; our adaptation, not a published model).

    Minimal adaptation: only the stem (conv2d_1a .. maxpool_5a, 299 -> 35) is replaced, because it
    would shrink a 32 x 32 image to 1 x 1 and the reductions could not run. It becomes one 3x3
    stride-1 conv-BN-ReLU to the 192 channels mixed_5b expects; mixed_5b, the 10/20/10 residual
    blocks and both reductions are kept, so the grids are 32 -> 15 -> 7.
    """
    return InceptionResNetV2(num_classes=num_classes, in_channels=in_channels, dropout=dropout, cifar=True, **kwargs)


# torchvision's pretrained Inception-v3 carries the auxiliary head and expects transform_input=True.
register_torchvision_equivalent(
    "inception_v3",
    torchvision_name="inception_v3",
    our_kwargs={"aux_logits": True, "transform_input": True},
    torchvision_kwargs={"aux_logits": True, "transform_input": True, "init_weights": False},
)
