"""EfficientNet-B0 and its compound-scaled family B1-B7 (Tan & Le 2019).

EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks, ICML 2019.
https://arxiv.org/abs/1905.11946

The baseline B0 (found by architecture search, Table 1) is a MobileNetV2-like stack of MBConv
blocks: 1x1 expand (SiLU, the paper's "swish") -> k x k depthwise (SiLU) -> squeeze-and-excitation
(squeezed to a quarter of the block's *input* channels) -> linear 1x1 projection, with a
shortcut, dropped at random during training (stochastic depth, Huang et al. 2016).

    stage  operator        resolution  channels  layers
    1      Conv3x3 /2      224 x 224   32        1
    2      MBConv1, k3x3   112 x 112   16        1
    3      MBConv6, k3x3   112 x 112   24        2
    4      MBConv6, k5x5   56 x 56     40        2
    5      MBConv6, k3x3   28 x 28     80        3
    6      MBConv6, k5x5   14 x 14     112       3
    7      MBConv6, k5x5   14 x 14     192       4
    8      MBConv6, k3x3   7 x 7       320       1
    9      Conv1x1, pool, fc  7 x 7    1280      1

Compound scaling (Sec. 3.3, Eq. 3): with one coefficient phi, scale the depth by alpha^phi,
the width by beta^phi and the resolution by gamma^phi, with alpha = 1.2, beta = 1.1,
gamma = 1.15 found by a small grid search at phi = 1 under alpha * beta^2 * gamma^2 ~ 2, so
that FLOPs (linear in depth, quadratic in width and resolution) grow by about 2^phi.
``compound_scaling(phi)`` computes that rule and ``efficientnet_phi(phi)`` builds a network
from it. The released B1-B7 use rounded coefficients from the authors' code
(``efficientnet_builder.py``), which torchvision copies and the builders below use:

    variant  width  depth  resolution  dropout  parameters (torchvision)
    b0       1.0    1.0    224         0.2      5,288,548
    b1       1.0    1.1    240         0.2      7,794,184
    b2       1.1    1.2    260         0.3      9,109,994
    b3       1.2    1.4    300         0.3      12,233,232
    b4       1.4    1.8    380         0.4      19,341,616
    b5       1.6    2.2    456         0.4      30,389,784
    b6       1.8    2.6    528         0.5      43,040,704
    b7       2.0    3.1    600         0.5      66,347,960

Channels are rounded to multiples of 8 (``blocks.scale_channels``), layer counts rounded up. Module
names are torchvision's, so its ``efficientnet_b*`` ``state_dict`` loads unchanged.

CIFAR variant (not in the paper): B0 with a stride-1 stem and a stride-1 third stage (24
channels), so 32x32 images are downsampled 8x to 4x4 final maps instead of 32x.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import partial

import torch
import torch.nn as nn
from torch import Tensor

from ._checks import check_input
from .blocks import (
    ConvNormAct,
    SqueezeExcitation,
    StochasticDepth,
    init_conv_bn_linear,
    make_divisible,
    resolve_width,
    scale_channels,
)
from .registry import register_model
from .torchvision_compat import register_torchvision_equivalent

__all__ = [
    "ALPHA",
    "BETA",
    "GAMMA",
    "EFFICIENTNET_B0",
    "EFFICIENTNET_VARIANTS",
    "EfficientNet",
    "MBConv",
    "Stage",
    "Variant",
    "compound_scaling",
    "efficientnet_phi",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
    "efficientnet_b4",
    "efficientnet_b5",
    "efficientnet_b6",
    "efficientnet_b7",
    "efficientnet_b0_cifar",
]

ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15  # depth, width, resolution bases (Sec. 3.3, step 1)


@dataclass(frozen=True)
class Stage:
    """One row of Table 1: ``layers`` MBConv blocks, the first with ``stride`` (torchvision's MBConvConfig)."""

    expand_ratio: int
    kernel: int
    stride: int
    in_channels: int
    out_channels: int
    layers: int

    def scaled(self, width: float, depth: float) -> "Stage":
        """This stage in a wider (channels x width, to a multiple of 8) and deeper (layers x depth, rounded up) net.

        The channels follow :func:`~cnnlib.models.blocks.scale_channels` (torchvision's rounding; B0's
        table holds multiples of 8, which ``width=1`` leaves as they are).
        """
        return replace(
            self,
            in_channels=scale_channels(self.in_channels, width),
            out_channels=scale_channels(self.out_channels, width),
            layers=int(math.ceil(self.layers * depth)),
        )


# EfficientNet-B0, Table 1 (stages 2-8; the stem has 32 channels, the head 4 x 320 = 1280).
EFFICIENTNET_B0: list[Stage] = [
    Stage(expand_ratio=1, kernel=3, stride=1, in_channels=32, out_channels=16, layers=1),
    Stage(expand_ratio=6, kernel=3, stride=2, in_channels=16, out_channels=24, layers=2),
    Stage(expand_ratio=6, kernel=5, stride=2, in_channels=24, out_channels=40, layers=2),
    Stage(expand_ratio=6, kernel=3, stride=2, in_channels=40, out_channels=80, layers=3),
    Stage(expand_ratio=6, kernel=5, stride=1, in_channels=80, out_channels=112, layers=3),
    Stage(expand_ratio=6, kernel=5, stride=2, in_channels=112, out_channels=192, layers=4),
    Stage(expand_ratio=6, kernel=3, stride=1, in_channels=192, out_channels=320, layers=1),
]
# CIFAR: the 24-channel stage keeps the resolution (and the stem has stride 1).
EFFICIENTNET_B0_CIFAR = [replace(s, stride=1) if s.out_channels == 24 else s for s in EFFICIENTNET_B0]


@dataclass(frozen=True)
class Variant:
    """The released coefficients of one EfficientNet (the authors' ``efficientnet_params``)."""

    width: float
    depth: float
    resolution: int  # training/evaluation image size, pixels
    dropout: float  # before the classifier


EFFICIENTNET_VARIANTS: dict[str, Variant] = {
    "b0": Variant(width=1.0, depth=1.0, resolution=224, dropout=0.2),
    "b1": Variant(width=1.0, depth=1.1, resolution=240, dropout=0.2),
    "b2": Variant(width=1.1, depth=1.2, resolution=260, dropout=0.3),
    "b3": Variant(width=1.2, depth=1.4, resolution=300, dropout=0.3),
    "b4": Variant(width=1.4, depth=1.8, resolution=380, dropout=0.4),
    "b5": Variant(width=1.6, depth=2.2, resolution=456, dropout=0.4),
    "b6": Variant(width=1.8, depth=2.6, resolution=528, dropout=0.5),
    "b7": Variant(width=2.0, depth=3.1, resolution=600, dropout=0.5),
}


def compound_scaling(
    phi: float, alpha: float = ALPHA, beta: float = BETA, gamma: float = GAMMA
) -> tuple[float, float, float]:
    """Eq. 3: (depth, width, resolution) multipliers ``alpha**phi, beta**phi, gamma**phi``.

    FLOPs scale by about ``(alpha * beta**2 * gamma**2) ** phi``, which is 1.92**phi for the paper's values.
    """
    return alpha**phi, beta**phi, gamma**phi


# ----------------------------------------------------------------------------- blocks


class MBConv(nn.Module):
    """Mobile inverted bottleneck with SE: expand -> depthwise -> SE -> project (torchvision's ``block.i``).

    Where the shortcut applies, the branch goes through stochastic depth first: dropped per sample
    with probability ``drop_prob`` in training, survivors scaled by 1 / (1 - ``drop_prob``)
    (:class:`~cnnlib.models.blocks.StochasticDepth`, torchvision's ``"row"`` mode).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        expand_ratio: int,
        kernel: int,
        drop_prob: float,
        norm_layer,
    ) -> None:
        super().__init__()
        self.use_shortcut = stride == 1 and in_channels == out_channels
        expanded = make_divisible(in_channels * expand_ratio)
        layers: list[nn.Module] = []
        if expanded != in_channels:
            layers.append(ConvNormAct(in_channels, expanded, 1, norm_layer=norm_layer, activation=nn.SiLU))
        layers += [
            ConvNormAct(
                expanded, expanded, kernel, stride=stride, groups=expanded, norm_layer=norm_layer, activation=nn.SiLU
            ),
            # SE squeezes to a quarter of the block's input channels (the authors' se_ratio = 0.25)
            SqueezeExcitation(expanded, max(1, in_channels // 4), activation=nn.SiLU),
            ConvNormAct(expanded, out_channels, 1, norm_layer=norm_layer, activation=None),  # linear projection
        ]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(drop_prob, mode="row")
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        out = self.block(x)
        if self.use_shortcut:
            out = self.stochastic_depth(out) + x
        return out


# ----------------------------------------------------------------------------- model


class EfficientNet(nn.Module):
    """Stem, the MBConv stages of a (scaled) stage table, 1x1 head conv, pool, dropout, fc."""

    def __init__(
        self,
        stages: list[Stage],
        num_classes: int = 1000,
        dropout: float = 0.2,
        stochastic_depth_prob: float = 0.2,
        stem_stride: int = 2,
        norm_layer=nn.BatchNorm2d,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.min_size = stem_stride * math.prod(s.stride for s in stages)
        layers: list[nn.Module] = [
            ConvNormAct(
                in_channels, stages[0].in_channels, 3, stride=stem_stride, norm_layer=norm_layer, activation=nn.SiLU
            )
        ]
        total, block_id = sum(s.layers for s in stages), 0
        for stage in stages:
            blocks = []
            for i in range(stage.layers):
                # the drop probability grows linearly with depth, up to stochastic_depth_prob (torchvision)
                drop = stochastic_depth_prob * block_id / total
                blocks.append(
                    MBConv(
                        stage.in_channels if i == 0 else stage.out_channels,
                        stage.out_channels,
                        stage.stride if i == 0 else 1,
                        stage.expand_ratio,
                        stage.kernel,
                        drop,
                        norm_layer,
                    )
                )
                block_id += 1
            layers.append(nn.Sequential(*blocks))
        head = 4 * stages[-1].out_channels  # 1280 for B0
        layers.append(ConvNormAct(stages[-1].out_channels, head, 1, norm_layer=norm_layer, activation=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(head, num_classes))
        init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model=type(self).__name__, in_channels=self.in_channels, min_size=self.min_size)
        x = self.features[0](x)  # N x 32 x H/2 x W/2  (B0)
        x = self.features[1:-1](x)  # N x 320 x H/32 x W/32  (CIFAR: H/8)
        return self.features[-1](x)  # N x 1280 x H/32 x W/32

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """The last maps -> logits; ``pre_logits=True``: the globally averaged maps (N x 1280 for B0),
        the input of the classifier's dropout and linear layer."""
        x = torch.flatten(self.avgpool(x), 1)  # N x 1280 (B0)
        return x if pre_logits else self.classifier(x)  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def init_weights(model: nn.Module) -> None:
    """torchvision's EfficientNet init: Kaiming normal (fan-out) convs, unit BN, U(+-1/sqrt(classes)) fc
    (the authors' dense initializer)."""
    init_conv_bn_linear(model, linear="uniform")


# ----------------------------------------------------------------------------- builders


def _efficientnet(
    width: float, depth: float, dropout: float, num_classes: int, in_channels: int, tf_bn: bool = False, **kwargs
) -> EfficientNet:
    stages = [s.scaled(width, depth) for s in kwargs.pop("stages", EFFICIENTNET_B0)]
    # B5-B7: batch norm with TensorFlow's eps 1e-3 and momentum 0.01, as torchvision (its weights need it)
    norm = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01) if tf_bn else nn.BatchNorm2d
    return EfficientNet(
        stages, num_classes=num_classes, dropout=dropout, norm_layer=norm, in_channels=in_channels, **kwargs
    )


def efficientnet_phi(phi: float, num_classes: int = 1000, in_channels: int = 3, **kwargs) -> tuple[EfficientNet, int]:
    """An EfficientNet straight from the rule: B0 scaled by ``compound_scaling(phi)``.

    Returns the model and its input resolution (224 * gamma**phi, rounded). The released B1-B7
    use rounded coefficients instead (``EFFICIENTNET_VARIANTS``). Other keyword arguments go to
    :class:`EfficientNet`.
    """
    depth, width, resolution = compound_scaling(phi)
    return _efficientnet(width, depth, 0.2, num_classes, in_channels, **kwargs), round(224 * resolution)


_PAPER = "Tan & Le 2019, https://arxiv.org/abs/1905.11946"
_META = dict(
    family="efficientnet",
    first_conv="features.0.0",
    classifier="classifier.1",
    gradcam_layer="features.8",
    paper=_PAPER,
)


def _variant(name: str, num_classes: int, in_channels: int, **kwargs) -> EfficientNet:
    v = EFFICIENTNET_VARIANTS[name]
    # B5-B7 use TensorFlow's batch-norm eps/momentum in torchvision, whose weights expect them
    tf_bn = name in ("b5", "b6", "b7")
    return _efficientnet(v.width, v.depth, v.dropout, num_classes, in_channels, tf_bn=tf_bn, **kwargs)


@register_model(**_META, scale="imagenet", input_size=(3, 224, 224), num_classes=1000, test_size=(3, 64, 64))
def efficientnet_b0(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> EfficientNet:
    """EfficientNet-B0: 5,288,548 parameters (torchvision ``efficientnet_b0``, identical keys)."""
    return _variant("b0", num_classes, in_channels, **kwargs)


# B1-B7: B0 with the released coefficients; the large ones are tested at 32x32 to stay fast. Every builder
# passes its other keyword arguments (e.g. ``stochastic_depth_prob``) to :class:`EfficientNet`.


@register_model(**_META, scale="imagenet", input_size=(3, 240, 240), num_classes=1000, test_size=(3, 64, 64))
def efficientnet_b1(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> EfficientNet:
    """EfficientNet-B1 (240x240): 7,794,184 parameters (torchvision ``efficientnet_b1``, identical keys)."""
    return _variant("b1", num_classes, in_channels, **kwargs)


@register_model(**_META, scale="imagenet", input_size=(3, 260, 260), num_classes=1000, test_size=(3, 64, 64))
def efficientnet_b2(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> EfficientNet:
    """EfficientNet-B2 (260x260): 9,109,994 parameters (torchvision ``efficientnet_b2``, identical keys)."""
    return _variant("b2", num_classes, in_channels, **kwargs)


@register_model(**_META, scale="imagenet", input_size=(3, 300, 300), num_classes=1000, test_size=(3, 32, 32))
def efficientnet_b3(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> EfficientNet:
    """EfficientNet-B3 (300x300): 12,233,232 parameters (torchvision ``efficientnet_b3``, identical keys)."""
    return _variant("b3", num_classes, in_channels, **kwargs)


@register_model(**_META, scale="imagenet", input_size=(3, 380, 380), num_classes=1000, test_size=(3, 32, 32))
def efficientnet_b4(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> EfficientNet:
    """EfficientNet-B4 (380x380): 19,341,616 parameters (torchvision ``efficientnet_b4``, identical keys)."""
    return _variant("b4", num_classes, in_channels, **kwargs)


@register_model(**_META, scale="imagenet", input_size=(3, 456, 456), num_classes=1000, test_size=(3, 32, 32))
def efficientnet_b5(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> EfficientNet:
    """EfficientNet-B5 (456x456): 30,389,784 parameters (torchvision ``efficientnet_b5``, identical keys)."""
    return _variant("b5", num_classes, in_channels, **kwargs)


@register_model(**_META, scale="imagenet", input_size=(3, 528, 528), num_classes=1000, test_size=(3, 32, 32))
def efficientnet_b6(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> EfficientNet:
    """EfficientNet-B6 (528x528): 43,040,704 parameters (torchvision ``efficientnet_b6``, identical keys)."""
    return _variant("b6", num_classes, in_channels, **kwargs)


@register_model(**_META, scale="imagenet", input_size=(3, 600, 600), num_classes=1000, test_size=(3, 32, 32))
def efficientnet_b7(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> EfficientNet:
    """EfficientNet-B7 (600x600): 66,347,960 parameters (torchvision ``efficientnet_b7``, identical keys)."""
    return _variant("b7", num_classes, in_channels, **kwargs)


@register_model(**_META, scale="cifar", input_size=(3, 32, 32), num_classes=10, test_size=(3, 32, 32))
def efficientnet_b0_cifar(
    num_classes: int = 10,
    in_channels: int = 3,
    width: float = 1.0,
    depth_mult: float = 1.0,
    width_mult: float | None = None,
    **kwargs,
) -> EfficientNet:
    """EfficientNet-B0 for 32x32: stride-1 stem and 24-channel stage (8x downsampling, 4x4 final maps).

    ``width`` and ``depth_mult`` scale it as the paper's compound scaling does (channels x
    width to a multiple of 8, layers x depth rounded up); below 1 they shrink it for a CPU.
    ``width_mult`` is the deprecated name of ``width`` (stored zoo entries use it). Other keyword
    arguments go to :class:`EfficientNet`.
    """
    width = resolve_width(width, width_mult, "efficientnet_b0_cifar")
    return _efficientnet(
        width, depth_mult, 0.2, num_classes, in_channels, stages=EFFICIENTNET_B0_CIFAR, stem_stride=1, **kwargs
    )


for _name in ("b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7"):
    register_torchvision_equivalent(f"efficientnet_{_name}", torchvision_name=f"efficientnet_{_name}")
