"""GoogLeNet, the first Inception network (Szegedy et al. 2014).

Going Deeper with Convolutions, CVPR 2015. https://arxiv.org/abs/1409.4842

Table 1 of the paper (224 x 224 input). An Inception module concatenates four
branches: a 1x1 conv, a 1x1 "reduce" conv then a 3x3 conv, a 1x1 reduce then a
5x5 conv, and a 3x3 max pool then a 1x1 "pool proj" conv. Parameters (K = 1024
weights, biases not counted) and ops (M = 10^6 multiply-adds) as the paper
prints them; ``tests/models/test_googlenet_inception.py`` reproduces both
columns with ``cnnlib.analysis.summary.layer_table`` on ``googlenet_paper``.

    type            patch/stride  output      #1x1 #3x3red #3x3 #5x5red #5x5 poolproj  params  ops
    convolution     7x7/2         112x112x64                                           2.7K*   34M*
    max pool        3x3/2         56x56x64
    convolution     3x3/1         56x56x192        64      192                          112K   360M
    max pool        3x3/2         28x28x192
    inception (3a)                28x28x256    64   96     128  16     32   32          159K   128M
    inception (3b)                28x28x480   128  128     192  32     96   64          380K   304M
    max pool        3x3/2         14x14x480
    inception (4a)                14x14x512   192   96     208  16     48   64          364K    73M
    inception (4b)                14x14x512   160  112     224  24     64   64          437K    88M
    inception (4c)                14x14x512   128  128     256  24     64   64          463K   100M
    inception (4d)                14x14x528   112  144     288  32     64   64          580K   119M
    inception (4e)                14x14x832   256  160     320  32    128  128          840K   170M
    max pool        3x3/2         7x7x832
    inception (5a)                7x7x832     256  160     320  32    128  128         1072K    54M
    inception (5b)                7x7x1024    384  192     384  48    128  128         1388K    71M
    avg pool        7x7/1         1x1x1024
    dropout (40%)                 1x1x1024
    linear                        1x1x1000                                             1000K     1M

    * the first row is inconsistent in the paper itself: a 7x7 conv from 3 to 64 channels has
      9,408 weights and 118M multiply-adds at 112x112 (the tests check the formula instead).
    The params of (4a), (4c), (4d), (4e), (5a), (5b) do not follow from the paper's own channel
    columns either (from the columns: 367K, 498K, 591K, 847K, 1018K, 1409K); the ops column agrees
    with the channel columns (ops = weights x H x W) everywhere except (5a), whose 54M is the
    printed 1072K x 7 x 7 (the columns give 51M).

Two auxiliary classifiers (after 4a and 4d) are used during training only; their
losses are added with weight 0.3 (Sec. 5): ``loss = CE(logits) + 0.3 * (CE(aux1) + CE(aux2))``,
see :func:`googlenet_loss`. In training mode a model built with ``aux_logits=True``
returns ``GoogLeNetOutputs(logits, aux1, aux2)``; in eval mode (and without aux heads)
it returns the logits tensor.

Builders:
- ``googlenet``: torchvision's variant, with identical ``state_dict`` keys. It departs from the
  paper in ways that torchvision documents: batch norm after every conv (from Inception-v2,
  Ioffe & Szegedy 2015), a 3x3 instead of a 5x5 conv in the "5x5" branch (a known bug kept
  for the pretrained weights, https://github.com/pytorch/vision/issues/906), a 2x2 last max
  pool, no LRN, adaptive pooling in the auxiliary heads. 6,624,904 parameters (13,004,888 with
  the two auxiliary heads).
- ``googlenet_paper``: the paper's network: true 5x5 branches, convs with biases and no batch
  norm, LRN after the first pool and after conv3 (values from BVLC's Caffe GoogLeNet), 3x3/2
  pools.
- ``googlenet_cifar``: GoogLeNet for 3 x 32 x 32 (adaptation below).
- ``inception_small_cifar``: the small Inception network of Zhang et al. 2017 for CIFAR-10.

``NaiveInceptionModule`` is Figure 2(a), without the 1x1 reductions, for the cost comparison
of chapter 04.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_input
from .blocks import imagenet_to_tensorflow_range, init_conv_bn_linear, same_padding, scale_channels
from .registry import register_model
from .torchvision_compat import register_torchvision_equivalent

__all__ = [
    "AUX_LOSS_WEIGHT",
    "BasicConv2d",
    "GoogLeNet",
    "GoogLeNetOutputs",
    "InceptionAux",
    "InceptionConfig",
    "InceptionModule",
    "NaiveInceptionModule",
    "SmallInception",
    "googlenet",
    "googlenet_cifar",
    "googlenet_loss",
    "googlenet_paper",
    "inception_small_cifar",
]

AUX_LOSS_WEIGHT = 0.3  # Sec. 5: "their loss is added to the total loss of the network with a discount weight"


@dataclass(frozen=True)
class InceptionConfig:
    """One "inception" row of Table 1."""

    name: str
    in_channels: int
    ch1x1: int
    ch3x3_reduce: int
    ch3x3: int
    ch5x5_reduce: int
    ch5x5: int
    pool_proj: int

    @property
    def out_channels(self) -> int:
        return self.ch1x1 + self.ch3x3 + self.ch5x5 + self.pool_proj

    def branch_channels(self) -> dict[str, int]:
        return dict(
            ch1x1=self.ch1x1,
            ch3x3_reduce=self.ch3x3_reduce,
            ch3x3=self.ch3x3,
            ch5x5_reduce=self.ch5x5_reduce,
            ch5x5=self.ch5x5,
            pool_proj=self.pool_proj,
        )


# Table 1 of the paper: the nine Inception modules.
#               name  in    #1x1 #3x3red #3x3 #5x5red #5x5 poolproj     output (224 px)
INCEPTIONS = [
    InceptionConfig("3a", 192, 64, 96, 128, 16, 32, 32),  # 28x28x256
    InceptionConfig("3b", 256, 128, 128, 192, 32, 96, 64),  # 28x28x480
    InceptionConfig("4a", 480, 192, 96, 208, 16, 48, 64),  # 14x14x512
    InceptionConfig("4b", 512, 160, 112, 224, 24, 64, 64),  # 14x14x512
    InceptionConfig("4c", 512, 128, 128, 256, 24, 64, 64),  # 14x14x512
    InceptionConfig("4d", 512, 112, 144, 288, 32, 64, 64),  # 14x14x528
    InceptionConfig("4e", 528, 256, 160, 320, 32, 128, 128),  # 14x14x832
    InceptionConfig("5a", 832, 256, 160, 320, 32, 128, 128),  # 7x7x832
    InceptionConfig("5b", 832, 384, 192, 384, 48, 128, 128),  # 7x7x1024
]

# Batch norm as torchvision's Inception models (TensorFlow's epsilon, kept by the ported weights).
BatchNorm2dTF = partial(nn.BatchNorm2d, eps=0.001)


class BasicConv2d(nn.Module):
    """Conv -> batch norm -> ReLU, named ``conv`` and ``bn`` as in torchvision and timm.

    Not ``blocks.ConvNormAct`` (whose parts are ``0``, ``1``, ``2``) because torchvision's
    GoogLeNet and Inception-v3 checkpoints name them ``conv`` and ``bn``: with these names the
    official weights load with identical keys. ``padding=None`` is "same" padding computed from
    the kernel; Inception-v3/v4 use ``padding=0`` ("valid") in places. ``norm_layer=None``: no
    batch norm, and the conv gets a bias (the 2014 GoogLeNet).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int | tuple[int, int] | None = None,
        norm_layer: Callable[[int], nn.Module] | None = BatchNorm2dTF,
    ) -> None:
        super().__init__()
        padding = same_padding(kernel_size) if padding is None else padding
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=norm_layer is None)
        self.bn = norm_layer(out_channels) if norm_layer is not None else nn.Identity()
        self.act = nn.ReLU(inplace=True)
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))


class InceptionModule(nn.Module):
    """The Inception module with dimension reductions (Figure 2(b)); output channels are concatenated.

    ``kernel_5x5`` is the kernel of the "5x5" branch: 5 in the paper, 3 in torchvision's GoogLeNet
    (https://github.com/pytorch/vision/issues/906).
    """

    def __init__(
        self,
        *,
        in_channels: int,
        ch1x1: int,
        ch3x3_reduce: int,
        ch3x3: int,
        ch5x5_reduce: int,
        ch5x5: int,
        pool_proj: int,
        kernel_5x5: int = 5,
        norm_layer: Callable[[int], nn.Module] | None = BatchNorm2dTF,
    ) -> None:
        super().__init__()
        conv = partial(BasicConv2d, norm_layer=norm_layer)
        self.branch1 = conv(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            conv(in_channels, ch3x3_reduce, kernel_size=1), conv(ch3x3_reduce, ch3x3, kernel_size=3)
        )
        self.branch3 = nn.Sequential(
            conv(in_channels, ch5x5_reduce, kernel_size=1), conv(ch5x5_reduce, ch5x5, kernel_size=kernel_5x5)
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            conv(in_channels, pool_proj, kernel_size=1),
        )
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x: Tensor) -> Tensor:
        # N x C_in x H x W -> N x (ch1x1 + ch3x3 + ch5x5 + pool_proj) x H x W
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class NaiveInceptionModule(nn.Module):
    """The naive Inception module (Figure 2(a)): 1x1, 3x3 and 5x5 convs and a 3x3 max pool side by side.

    Without the 1x1 reductions the 3x3 and 5x5 convs see all ``in_channels``, and the pool branch
    passes all ``in_channels`` through, so the output widens at every module: "even a modest number
    of 5x5 convolutions can be prohibitively expensive" (Sec. 4).
    """

    def __init__(self, *, in_channels: int, ch1x1: int, ch3x3: int, ch5x5: int) -> None:
        super().__init__()
        conv = partial(BasicConv2d, norm_layer=None)
        self.branch1 = conv(in_channels, ch1x1, kernel_size=1)
        self.branch2 = conv(in_channels, ch3x3, kernel_size=3)
        self.branch3 = conv(in_channels, ch5x5, kernel_size=5)
        self.branch4 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + in_channels

    def forward(self, x: Tensor) -> Tensor:
        # N x C_in x H x W -> N x (ch1x1 + ch3x3 + ch5x5 + C_in) x H x W
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class InceptionAux(nn.Module):
    """Auxiliary classifier (Sec. 5): avg pool 5x5/3 -> 1x1 conv 128 -> fc 1024 -> dropout 70% -> fc.

    On 14x14 maps the 5x5/3 pool gives 4x4; like torchvision we pool adaptively to 4x4, the same
    at 224 px and valid at any input size.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        dropout: float = 0.7,
        norm_layer: Callable[[int], nn.Module] | None = BatchNorm2dTF,
    ) -> None:
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1, norm_layer=norm_layer)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = F.adaptive_avg_pool2d(x, (4, 4))  # N x C x 4 x 4
        x = self.conv(x)  # N x 128 x 4 x 4
        x = F.relu(self.fc1(torch.flatten(x, 1)), inplace=True)  # N x 1024
        return self.fc2(self.dropout(x))  # N x num_classes


class GoogLeNetOutputs(NamedTuple):
    """What a GoogLeNet with auxiliary heads returns in training mode."""

    logits: Tensor  # main classifier, N x num_classes
    aux1: Tensor  # auxiliary classifier after inception (4a)
    aux2: Tensor  # auxiliary classifier after inception (4d)


def googlenet_loss(outputs: GoogLeNetOutputs | Tensor, target: Tensor, aux_weight: float = AUX_LOSS_WEIGHT) -> Tensor:
    """Cross-entropy of the main logits plus ``aux_weight`` (paper: 0.3) times each auxiliary loss."""
    if isinstance(outputs, Tensor):
        return F.cross_entropy(outputs, target)
    main, aux1, aux2 = outputs
    return F.cross_entropy(main, target) + aux_weight * (F.cross_entropy(aux1, target) + F.cross_entropy(aux2, target))


class GoogLeNet(nn.Module):
    """GoogLeNet (Inception-v1). Module names follow torchvision's ``GoogLeNet``.

    Args:
        num_classes: size of the last linear layer.
        in_channels: image channels.
        aux_logits: build the two auxiliary classifiers (used in training mode only).
        transform_input: map inputs normalised with ImageNet mean/std to the [-1, 1] scaling of
            Google's original weights (torchvision's pretrained weights need ``True``).
        kernel_5x5: kernel of the "5x5" branches (paper 5, torchvision 3).
        norm_layer: batch norm after every conv (torchvision), or ``None`` (paper: conv bias, no BN).
        lrn: local response normalisation after the first pool and after conv3 (paper, Figure 3).
        last_pool_kernel: kernel of the max pool before (5a): paper 3, torchvision 2.
        dropout: before the last linear layer (paper 0.4; torchvision's default 0.2).
        cifar_stem: replace conv1-maxpool2 by one 3x3 conv to 192 channels (``googlenet_cifar``).
    """

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        aux_logits: bool = False,
        transform_input: bool = False,
        kernel_5x5: int = 3,
        norm_layer: Callable[[int], nn.Module] | None = BatchNorm2dTF,
        lrn: bool = False,
        last_pool_kernel: int = 2,
        dropout: float = 0.4,
        dropout_aux: float = 0.7,
        cifar_stem: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        self.cifar_stem = cifar_stem
        # smallest input whose last pool still has a window (found by trying sizes; pools use ceil mode)
        self.min_size = 4 if cifar_stem else (15 if last_pool_kernel == 2 else 31)
        conv = partial(BasicConv2d, norm_layer=norm_layer)
        # LRN as BVLC's Caffe GoogLeNet (local_size 5, alpha 1e-4, beta 0.75); no parameters
        local_norm = (lambda: nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)) if lrn else nn.Identity
        if cifar_stem:
            self.conv1 = conv(in_channels, 192, kernel_size=3)
        else:
            self.conv1 = conv(in_channels, 64, kernel_size=7, stride=2, padding=3)
            self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
            self.lrn1 = local_norm()
            self.conv2 = conv(64, 64, kernel_size=1)
            self.conv3 = conv(64, 192, kernel_size=3)
            self.lrn2 = local_norm()
            self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        for cfg in INCEPTIONS:
            module = InceptionModule(
                in_channels=cfg.in_channels, **cfg.branch_channels(), kernel_5x5=kernel_5x5, norm_layer=norm_layer
            )
            setattr(self, f"inception{cfg.name}", module)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.maxpool4 = nn.MaxPool2d(last_pool_kernel, stride=2, ceil_mode=True)
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, dropout=dropout_aux, norm_layer=norm_layer)
            self.aux2 = InceptionAux(528, num_classes, dropout=dropout_aux, norm_layer=norm_layer)
        else:
            self.aux1 = self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)
        init_weights(self)

    def _transform_input(self, x: Tensor) -> Tensor:
        """ImageNet mean/std normalisation -> (x - 0.5) / 0.5 of the original TensorFlow weights."""
        return imagenet_to_tensorflow_range(x) if self.transform_input else x

    def _features(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Feature maps, and the auxiliary logits (training mode with aux heads only)."""
        check_input(x, model=type(self).__name__, in_channels=self.in_channels, min_size=self.min_size)
        x = self._transform_input(x)
        aux: list[Tensor] = []
        if self.cifar_stem:
            x = self.conv1(x)  # N x 192 x 32 x 32
        else:
            x = self.maxpool1(self.conv1(x))  # N x 64 x 112 x 112 -> N x 64 x 56 x 56
            x = self.conv3(self.conv2(self.lrn1(x)))  # N x 192 x 56 x 56
            x = self.maxpool2(self.lrn2(x))  # N x 192 x 28 x 28
        x = self.inception3a(x)  # N x 256 x 28 x 28
        x = self.inception3b(x)  # N x 480 x 28 x 28
        x = self.maxpool3(x)  # N x 480 x 14 x 14
        x = self.inception4a(x)  # N x 512 x 14 x 14
        if self.aux1 is not None and self.training:
            aux.append(self.aux1(x))  # N x num_classes
        x = self.inception4b(x)  # N x 512 x 14 x 14
        x = self.inception4c(x)  # N x 512 x 14 x 14
        x = self.inception4d(x)  # N x 528 x 14 x 14
        if self.aux2 is not None and self.training:
            aux.append(self.aux2(x))  # N x num_classes
        x = self.inception4e(x)  # N x 832 x 14 x 14
        x = self.maxpool4(x)  # N x 832 x 7 x 7
        x = self.inception5a(x)  # N x 832 x 7 x 7
        return self.inception5b(x), aux  # N x 1024 x 7 x 7  (CIFAR stem: 8 x 8)

    def forward_features(self, x: Tensor) -> Tensor:
        return self._features(x)[0]

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """The last maps -> logits; ``pre_logits=True``: the globally averaged maps, N x 1024, before dropout
        and ``fc``."""
        x = torch.flatten(self.avgpool(x), 1)  # N x 1024
        if pre_logits:
            return x
        return self.fc(self.dropout(x))  # N x num_classes

    def forward(self, x: Tensor) -> Tensor | GoogLeNetOutputs:
        features, aux = self._features(x)
        logits = self.forward_head(features)
        if aux:  # training mode with auxiliary heads
            return GoogLeNetOutputs(logits, aux[0], aux[1])
        return logits


def init_weights(model: nn.Module) -> None:
    """Normal (std 0.01) for convs and linears, as torchvision's GoogLeNet; BN to identity.

    torchvision draws from a normal truncated at +-2 (200 std: never cut, so the same distribution).

    The paper trained with DistBelief and does not state its initialisation.
    """
    init_conv_bn_linear(model, conv="normal", conv_std=0.01, linear="conv")  # = trunc_normal_(a=-2, b=2)


# ---------------------------------------------------------------------------------------------
# The small Inception network for CIFAR-10 of Zhang et al. 2017 (Appendix A, Figure 3).


class ConvBiasNormAct(BasicConv2d):
    """Conv with bias -> batch norm -> ReLU (Zhang et al.'s conv module, whose count includes the conv bias)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int | None = None,
        *,
        norm_layer: Callable[[int], nn.Module],
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, norm_layer=None)
        self.bn = norm_layer(out_channels)


class SmallInceptionModule(nn.Module):
    """Zhang et al.'s Inception module: a 1x1 conv and a 3x3 conv side by side, concatenated."""

    def __init__(self, *, in_channels: int, ch1x1: int, ch3x3: int, norm_layer: Callable[[int], nn.Module]) -> None:
        super().__init__()
        self.branch1 = ConvBiasNormAct(in_channels, ch1x1, 1, norm_layer=norm_layer)
        self.branch2 = ConvBiasNormAct(in_channels, ch3x3, 3, norm_layer=norm_layer)
        self.out_channels = ch1x1 + ch3x3

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1(x), self.branch2(x)], dim=1)  # N x (ch1x1 + ch3x3) x H x W


class SmallDownsample(nn.Module):
    """Zhang et al.'s downsample module: a 3x3/2 conv and a 3x3/2 max pool side by side."""

    def __init__(self, *, in_channels: int, ch3x3: int, norm_layer: Callable[[int], nn.Module]) -> None:
        super().__init__()
        self.branch1 = ConvBiasNormAct(in_channels, ch3x3, 3, stride=2, padding=0, norm_layer=norm_layer)
        self.branch2 = nn.MaxPool2d(3, stride=2)
        self.out_channels = ch3x3 + in_channels

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.branch1(x), self.branch2(x)], dim=1)  # N x (ch3x3 + C_in) x H/2 x W/2


# Figure 3 of Zhang et al.: ("inception", #1x1, #3x3) or ("downsample", #3x3)
SMALL_INCEPTION = [
    ("inception", 32, 32),  # 32x32x64
    ("inception", 32, 48),  # 32x32x80
    ("downsample", 80),  # 15x15x160
    ("inception", 112, 48),  # 15x15x160
    ("inception", 96, 64),  # 15x15x160
    ("inception", 80, 80),  # 15x15x160
    ("inception", 48, 96),  # 15x15x144
    ("downsample", 96),  # 7x7x240
    ("inception", 176, 160),  # 7x7x336
    ("inception", 176, 160),  # 7x7x336
]


class SmallInception(nn.Module):
    """Inception (small) for CIFAR-10 (Zhang et al. 2017, Understanding deep learning requires
    rethinking generalization, https://arxiv.org/abs/1611.03530, Appendix A).

    Stem 3x3 conv 96, the modules of ``SMALL_INCEPTION``, global mean pooling, a linear layer:
    1,649,402 parameters (their Table 1) counting conv and linear weights and biases. Every conv is
    followed by batch norm; we use BN without learned scale and shift so that the count is the
    published one (a learned shift would duplicate the conv bias). The paper crops 28x28; we take
    the full 32x32 CIFAR image.
    """

    def __init__(
        self, num_classes: int = 10, in_channels: int = 3, stem_channels: int = 96, width: float = 1.0
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        norm_layer = partial(nn.BatchNorm2d, affine=False)
        stem_channels = scale_channels(stem_channels, width)
        self.stem = ConvBiasNormAct(in_channels, stem_channels, 3, norm_layer=norm_layer)
        layers: list[nn.Module] = []
        channels = stem_channels
        for kind, *widths in SMALL_INCEPTION:
            widths = [scale_channels(w, width) for w in widths]
            if kind == "inception":
                layer = SmallInceptionModule(
                    in_channels=channels, ch1x1=widths[0], ch3x3=widths[1], norm_layer=norm_layer
                )
            else:
                layer = SmallDownsample(in_channels=channels, ch3x3=widths[0], norm_layer=norm_layer)
            layers.append(layer)
            channels = layer.out_channels
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(channels, num_classes)
        init_weights_small(self)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model=type(self).__name__, in_channels=self.in_channels, min_size=7)
        x = self.stem(x)  # N x 96 x 32 x 32
        return self.features(x)  # N x 336 x 7 x 7

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """The last maps -> logits; ``pre_logits=True``: the globally averaged maps, N x 336, that ``fc`` receives."""
        x = torch.flatten(self.avgpool(x), 1)  # N x 336
        return x if pre_logits else self.fc(x)  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def init_weights_small(model: nn.Module) -> None:
    """He (Kaiming) normal for convs, PyTorch's default for the linear layer (the paper does not say)."""
    init_conv_bn_linear(model, norm=False, linear=None)


# ---------------------------------------------------------------------------------------------
# Builders

_PAPER = "Szegedy et al. 2014, Going Deeper with Convolutions, https://arxiv.org/abs/1409.4842"
_META = dict(
    family="googlenet",
    scale="imagenet",
    input_size=(3, 224, 224),
    first_conv="conv1.conv",
    classifier="fc",
    gradcam_layer="inception5b",
    paper=_PAPER,
    num_classes=1000,
    test_size=(3, 32, 32),
)


def _googlenet(num_classes: int, **kwargs) -> GoogLeNet:
    return GoogLeNet(num_classes=num_classes, **kwargs)


@register_model(**_META)
def googlenet(
    num_classes: int = 1000,
    in_channels: int = 3,
    aux_logits: bool = False,
    transform_input: bool = False,
    dropout: float = 0.4,
    **kwargs,
) -> GoogLeNet:
    """torchvision's GoogLeNet (BN, 3x3 "5x5" branch): 6,624,904 parameters, 13,004,888 with ``aux_logits``.

    Other keyword arguments go to :class:`GoogLeNet`.
    """
    return _googlenet(
        num_classes,
        in_channels=in_channels,
        aux_logits=aux_logits,
        transform_input=transform_input,
        dropout=dropout,
        **kwargs,
    )


@register_model(**_META)
def googlenet_paper(
    num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = False, lrn: bool = True, **kwargs
) -> GoogLeNet:
    """The paper's GoogLeNet: true 5x5 branches, conv biases, no BN, LRN, 3x3/2 pools (Table 1).

    Other keyword arguments go to :class:`GoogLeNet`.
    """
    return _googlenet(
        num_classes,
        in_channels=in_channels,
        aux_logits=aux_logits,
        kernel_5x5=5,
        norm_layer=None,
        lrn=lrn,
        last_pool_kernel=3,
        **kwargs,
    )


@register_model(**{**_META, "scale": "cifar", "input_size": (3, 32, 32), "num_classes": 10, "test_size": (3, 16, 16)})
def googlenet_cifar(num_classes: int = 10, in_channels: int = 3, aux_logits: bool = False, **kwargs) -> GoogLeNet:
    """GoogLeNet for 3 x 32 x 32 images (6.2 M parameters, about 1.5 G multiply-adds per image).

    Adaptation (as kuangliu/pytorch-cifar's widely used GoogLeNet): the 7x7/2 conv, the two stem
    pools, LRN and conv2 are replaced by one 3x3 conv to 192 channels, so (3a) sees the full
    32x32 image and the two remaining pools give 16x16 and 8x8; batch norm everywhere; true 5x5
    branches; the Inception table is unchanged. Other keyword arguments go to :class:`GoogLeNet`.
    """
    return _googlenet(
        num_classes,
        in_channels=in_channels,
        aux_logits=aux_logits,
        kernel_5x5=5,
        cifar_stem=True,
        last_pool_kernel=3,
        **kwargs,
    )


@register_model(
    family="googlenet",
    scale="cifar",
    input_size=(3, 32, 32),
    first_conv="stem.conv",
    classifier="fc",
    gradcam_layer="features.9",
    paper="Zhang et al. 2017, Understanding deep learning requires rethinking generalization, https://arxiv.org/abs/1611.03530",
    num_classes=10,
    test_size=(3, 16, 16),
)
def inception_small_cifar(num_classes: int = 10, in_channels: int = 3, width: float = 1.0, **kwargs) -> SmallInception:
    """The small Inception of Zhang et al. 2017 for CIFAR-10: 1,649,402 parameters (their Table 1).

    ``width`` multiplies the stem's and every branch's channels (0.5: about a quarter of the compute;
    :func:`~cnnlib.models.blocks.scale_channels`). Other keyword arguments go to :class:`SmallInception`.
    """
    return SmallInception(num_classes=num_classes, in_channels=in_channels, width=width, **kwargs)


# torchvision's pretrained GoogLeNet carries the auxiliary heads and expects transform_input=True.
register_torchvision_equivalent(
    "googlenet",
    torchvision_name="googlenet",
    our_kwargs={"aux_logits": True, "transform_input": True},
    torchvision_kwargs={"aux_logits": True, "transform_input": True, "init_weights": False},
)
