"""MobileNets v1, v2 and v3: depthwise separable convolutions for phones.

- v1: Howard et al. 2017, MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
  Applications. https://arxiv.org/abs/1704.04861
- v2: Sandler et al. 2018, MobileNetV2: Inverted Residuals and Linear Bottlenecks.
  https://arxiv.org/abs/1801.04381
- v3: Howard et al. 2019, Searching for MobileNetV3. https://arxiv.org/abs/1905.02244

A k x k convolution from C_in to C_out channels costs k*k*C_in*C_out weights; the depthwise
separable version (one k x k filter per channel, then a 1x1 "pointwise" mix) costs
k*k*C_in + C_in*C_out, about 8-9 times less for k = 3 (v1, Sec. 3.1).

v2 turns the block inside out: expand the thin input by a factor t with a 1x1 conv, filter
depthwise, project back to a thin output with a *linear* 1x1 conv (no ReLU: Sec. 3.2), and
add a shortcut between the thin ends. v3 adds squeeze-and-excitation (hard-sigmoid gate),
the hard-swish activation x * ReLU6(x + 3) / 6 and 5x5 depthwise kernels found by search.

The tables below are the papers' (v1 Table 1, v2 Table 2, v3 Tables 1 and 2). Parameter
counts at 1000 classes: v1 4,231,976 (osmr imgclsmob ``mobilenet_w1``; Keras' trainable count),
v2 3,504,872, v3-small 2,542,856, v3-large 5,483,032 (torchvision). v2 and v3 use torchvision's
module names, so torchvision's ``state_dict`` (and its pretrained weights) load unchanged.

CIFAR variants (3 x 32 x 32, not in the papers): the stem and the first stride-2 stage get
stride 1, so the network downsamples 8x (v2, v3) or 16x (v1) instead of 32x and the last
feature map is 4x4 or 2x2 rather than 1x1; as kuangliu/pytorch-cifar's MobileNet/MobileNetV2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn
from torch import Tensor

from ._checks import check_input
from .blocks import ConvNormAct, SqueezeExcitation, init_conv_bn_linear, make_divisible, resolve_width, scale_channels
from .registry import register_model
from .torchvision_compat import register_torchvision_equivalent

__all__ = [
    "DepthwiseSeparable",
    "InvertedResidual",
    "InvertedResidualV3",
    "MobileNetV1",
    "MobileNetV2",
    "MobileNetV3",
    "mobilenet_v1",
    "mobilenet_v1_cifar",
    "mobilenet_v2",
    "mobilenet_v2_cifar",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "mobilenet_v3_small_cifar",
    "mobilenet_v3_large_cifar",
]

# MobileNet v1, Table 1: a 3x3 stem with 32 filters (stride 2), then 13 depthwise separable layers.
MOBILENET_V1_LAYERS: list[tuple[int, int]] = [
    # c, s  (pointwise output channels, depthwise stride)
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),  # the paper's "5x"
    (1024, 2),
    (1024, 1),
]

# MobileNet v2, Table 2: a 3x3 stem with 32 filters (stride 2), then bottleneck stages.
MOBILENET_V2_SETTING: list[tuple[int, int, int, int]] = [
    # t, c, n, s  (expansion, output channels, repeats, stride of the first)
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]
# CIFAR: the stem and the 24-channel stage keep full resolution (kuangliu/pytorch-cifar's change).
MOBILENET_V2_CIFAR_SETTING = [(t, c, n, 1 if c == 24 else s) for t, c, n, s in MOBILENET_V2_SETTING]


@dataclass(frozen=True)
class BneckConfig:
    """One row of the v3 tables: a bottleneck with its kernel, expansion, SE and activation."""

    kernel: int
    expanded: int  # "exp size"
    out: int  # "#out"
    se: bool  # squeeze-and-excitation
    activation: str  # "RE" ReLU or "HS" hard-swish
    stride: int


def _bnecks(rows: list[tuple[int, int, int, bool, str, int]]) -> list[BneckConfig]:
    return [BneckConfig(k, e, o, se, nl, s) for k, e, o, se, nl, s in rows]


# MobileNetV3-Large, Table 1 (input of the first row: the 16-channel stem, stride 2).
MOBILENET_V3_LARGE = _bnecks(
    [
        # k, exp, out, SE, NL, s
        (3, 16, 16, False, "RE", 1),
        (3, 64, 24, False, "RE", 2),
        (3, 72, 24, False, "RE", 1),
        (5, 72, 40, True, "RE", 2),
        (5, 120, 40, True, "RE", 1),
        (5, 120, 40, True, "RE", 1),
        (3, 240, 80, False, "HS", 2),
        (3, 200, 80, False, "HS", 1),
        (3, 184, 80, False, "HS", 1),
        (3, 184, 80, False, "HS", 1),
        (3, 480, 112, True, "HS", 1),
        (3, 672, 112, True, "HS", 1),
        (5, 672, 160, True, "HS", 2),
        (5, 960, 160, True, "HS", 1),
        (5, 960, 160, True, "HS", 1),
    ]
)  # then 1x1 conv to 960, pool, 1x1 ("fc") to 1280, fc to classes

# MobileNetV3-Small, Table 2.
MOBILENET_V3_SMALL = _bnecks(
    [
        # k, exp, out, SE, NL, s
        (3, 16, 16, True, "RE", 2),
        (3, 72, 24, False, "RE", 2),
        (3, 88, 24, False, "RE", 1),
        (5, 96, 40, True, "HS", 2),
        (5, 240, 40, True, "HS", 1),
        (5, 240, 40, True, "HS", 1),
        (5, 120, 48, True, "HS", 1),
        (5, 144, 48, True, "HS", 1),
        (5, 288, 96, True, "HS", 2),
        (5, 576, 96, True, "HS", 1),
        (5, 576, 96, True, "HS", 1),
    ]
)  # then 1x1 conv to 576, pool, 1x1 ("fc") to 1024, fc to classes


def _first_stride_one(rows: list[BneckConfig]) -> list[BneckConfig]:
    """CIFAR: the first stride-2 bottleneck keeps the resolution."""
    first = next(i for i, r in enumerate(rows) if r.stride == 2)
    return [replace(r, stride=1) if i == first else r for i, r in enumerate(rows)]


# ----------------------------------------------------------------------------- blocks


class DepthwiseSeparable(nn.Sequential):
    """v1's layer: 3x3 depthwise conv-BN-ReLU (``0``), then 1x1 pointwise conv-BN-ReLU (``1``)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__(
            ConvNormAct(in_channels, in_channels, 3, stride=stride, groups=in_channels),  # one filter per channel
            ConvNormAct(in_channels, out_channels, 1),  # mix the channels
        )


class InvertedResidual(nn.Module):
    """v2's bottleneck: 1x1 expand (ReLU6) -> 3x3 depthwise (ReLU6) -> 1x1 linear projection.

    Module layout as torchvision's (``conv.0`` ... ``conv.3``); the shortcut is used when the
    stride is 1 and the channel count does not change.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = int(round(in_channels * expand_ratio))
        self.use_shortcut = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvNormAct(in_channels, hidden, 1, activation=nn.ReLU6))  # expand
        layers += [
            ConvNormAct(hidden, hidden, 3, stride=stride, groups=hidden, activation=nn.ReLU6),  # depthwise
            nn.Conv2d(hidden, out_channels, 1, bias=False),  # linear bottleneck: no activation (Sec. 3.2)
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.use_shortcut else self.conv(x)


class InvertedResidualV3(nn.Module):
    """v3's bottleneck: v2's block with k x k depthwise, optional SE and ReLU or hard-swish.

    Module layout as torchvision's (``block.0`` expand, depthwise, SE, projection).
    """

    def __init__(self, in_channels: int, cfg: BneckConfig, norm_layer) -> None:
        super().__init__()
        act = nn.Hardswish if cfg.activation == "HS" else nn.ReLU
        self.use_shortcut = cfg.stride == 1 and in_channels == cfg.out
        layers: list[nn.Module] = []
        if cfg.expanded != in_channels:
            layers.append(ConvNormAct(in_channels, cfg.expanded, 1, norm_layer=norm_layer, activation=act))
        layers.append(
            ConvNormAct(
                cfg.expanded,
                cfg.expanded,
                cfg.kernel,
                stride=cfg.stride,
                groups=cfg.expanded,
                norm_layer=norm_layer,
                activation=act,
            )
        )
        if cfg.se:  # SE on the expanded channels, squeezed 4x, gated by a hard sigmoid (Sec. 5.3)
            layers.append(
                SqueezeExcitation(cfg.expanded, make_divisible(cfg.expanded // 4, 8), scale_activation=nn.Hardsigmoid)
            )
        layers.append(ConvNormAct(cfg.expanded, cfg.out, 1, norm_layer=norm_layer, activation=None))
        self.block = nn.Sequential(*layers)
        self.out_channels = cfg.out

    def forward(self, x: Tensor) -> Tensor:
        out = self.block(x)
        return out + x if self.use_shortcut else out


# ----------------------------------------------------------------------------- models


class MobileNetV1(nn.Module):
    """MobileNet v1: a 3x3 stem and 13 depthwise separable layers, average pool, one linear layer.

    ``width`` is the paper's width multiplier alpha (Sec. 3.3): every layer gets
    ``int(alpha * channels)`` channels (at least 8, as Keras' ``MobileNet``; ``scale_channels`` with
    ``divisor=None``); the resolution multiplier is just the input size.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        width: float = 1.0,
        stem_stride: int = 2,
        layers: list[tuple[int, int]] = MOBILENET_V1_LAYERS,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.min_size = stem_stride * math.prod(s for _, s in layers)

        def scaled(c: int) -> int:
            return scale_channels(c, width, divisor=None, min_value=8)  # max(8, int(c * width))

        channels = scaled(32)
        blocks: list[nn.Module] = [ConvNormAct(in_channels, channels, 3, stride=stem_stride)]
        for c, s in layers:
            blocks.append(DepthwiseSeparable(channels, scaled(c), s))
            channels = scaled(c)
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model=type(self).__name__, in_channels=self.in_channels, min_size=self.min_size)
        return self.features(x)  # N x 1024 x H/32 x W/32 (CIFAR: H/16)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """The last maps -> logits; ``pre_logits=True``: the globally averaged maps, N x 1024 (1.0x), that
        ``fc`` receives."""
        x = torch.flatten(self.pool(x), 1)  # N x 1024
        return x if pre_logits else self.fc(x)  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


class MobileNetV2(nn.Module):
    """MobileNet v2: stem, inverted residual stages from the ``# t, c, n, s`` table, 1x1 conv to 1280.

    ``width`` is the width multiplier (Sec. 6.1): channels x width, rounded to a multiple of 8
    (:func:`~cnnlib.models.blocks.scale_channels`); the last 1x1 conv is not thinned below 1280.
    """

    def __init__(
        self,
        num_classes: int = 1000,
        width: float = 1.0,
        setting: list[tuple[int, int, int, int]] = MOBILENET_V2_SETTING,
        stem_stride: int = 2,
        dropout: float = 0.2,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.min_size = stem_stride * math.prod(s for *_, s in setting)
        channels = scale_channels(32, width)
        last_channels = scale_channels(1280, max(1.0, width))  # not thinned below 1.0x (Sec. 6.1)
        layers: list[nn.Module] = [ConvNormAct(in_channels, channels, 3, stride=stem_stride, activation=nn.ReLU6)]
        for t, c, n, s in setting:
            out_channels = scale_channels(c, width)
            for i in range(n):
                layers.append(InvertedResidual(channels, out_channels, s if i == 0 else 1, expand_ratio=t))
                channels = out_channels
        layers.append(ConvNormAct(channels, last_channels, 1, activation=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(last_channels, num_classes))
        init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model=type(self).__name__, in_channels=self.in_channels, min_size=self.min_size)
        return self.features(x)  # N x 1280 x H/32 x W/32 (CIFAR: H/8)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """The last maps -> logits; ``pre_logits=True``: the globally averaged maps, N x 1280, the classifier's
        input (before its dropout)."""
        x = torch.flatten(self.pool(x), 1)  # N x 1280
        return x if pre_logits else self.classifier(x)  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


class MobileNetV3(nn.Module):
    """MobileNet v3: hard-swish stem, the bottleneck table, 1x1 conv to 6x, pooled 2-layer head.

    Batch norm with eps 1e-3 and momentum 0.01 as torchvision (the TensorFlow defaults).
    """

    def __init__(
        self,
        bnecks: list[BneckConfig],
        last_channels: int,
        num_classes: int = 1000,
        stem_stride: int = 2,
        dropout: float = 0.2,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.min_size = stem_stride * math.prod(b.stride for b in bnecks)
        norm = _bn_tf
        channels = 16
        layers: list[nn.Module] = [
            ConvNormAct(in_channels, channels, 3, stride=stem_stride, norm_layer=norm, activation=nn.Hardswish)
        ]
        for cfg in bnecks:
            layers.append(InvertedResidualV3(channels, cfg, norm))
            channels = cfg.out
        layers.append(ConvNormAct(channels, 6 * channels, 1, norm_layer=norm, activation=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(6 * channels, last_channels),  # the paper's 1x1 conv without BN on the pooled vector
            nn.Hardswish(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(last_channels, num_classes),
        )
        init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model=type(self).__name__, in_channels=self.in_channels, min_size=self.min_size)
        return self.features(x)  # N x 960 (small: 576) x H/32 x W/32 (CIFAR: H/8)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """The last maps -> logits.

        ``pre_logits=True`` returns the globally averaged maps (N x 960 large, N x 576 small): the input of the
        classifier, before its hidden 1280- (1024-) unit layer, as for every model of the course.
        """
        x = torch.flatten(self.avgpool(x), 1)  # N x 960 (small: 576)
        return x if pre_logits else self.classifier(x)  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def _bn_tf(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=0.001, momentum=0.01)


def init_weights(model: nn.Module) -> None:
    """torchvision's MobileNet init: Kaiming normal (fan-out) convs, unit BN, N(0, 0.01) linear layers."""
    init_conv_bn_linear(model)


# ----------------------------------------------------------------------------- builders


def _mobilenet_v3(arch: str, num_classes: int, in_channels: int, cifar: bool, **kwargs) -> MobileNetV3:
    bnecks, last = (MOBILENET_V3_LARGE, 1280) if arch == "large" else (MOBILENET_V3_SMALL, 1024)
    if cifar:
        bnecks = _first_stride_one(bnecks)
    stride = 1 if cifar else 2
    return MobileNetV3(bnecks, last, num_classes=num_classes, stem_stride=stride, in_channels=in_channels, **kwargs)


_V1 = "Howard et al. 2017, https://arxiv.org/abs/1704.04861"
_V2 = "Sandler et al. 2018, https://arxiv.org/abs/1801.04381"
_V3 = "Howard et al. 2019, https://arxiv.org/abs/1905.02244"
_IMAGENET = dict(scale="imagenet", input_size=(3, 224, 224), num_classes=1000, test_size=(3, 64, 64))
_CIFAR = dict(scale="cifar", input_size=(3, 32, 32), num_classes=10, test_size=(3, 32, 32))
# Every builder passes its other keyword arguments (e.g. ``dropout``) to the model's class.


@register_model(
    family="mobilenet", **_IMAGENET, first_conv="features.0.0", classifier="fc", gradcam_layer="features.13", paper=_V1
)
def mobilenet_v1(
    num_classes: int = 1000, width: float = 1.0, in_channels: int = 3, width_mult: float | None = None, **kwargs
) -> MobileNetV1:
    """MobileNet v1 1.0x/224: 4,231,976 parameters (osmr imgclsmob ``mobilenet_w1``).

    ``width``: the paper's width multiplier alpha (``width_mult``: its deprecated name). Other keyword
    arguments go to :class:`MobileNetV1`.
    """
    width = resolve_width(width, width_mult, "mobilenet_v1")
    return MobileNetV1(num_classes, width=width, in_channels=in_channels, **kwargs)


@register_model(
    family="mobilenet", **_CIFAR, first_conv="features.0.0", classifier="fc", gradcam_layer="features.13", paper=_V1
)
def mobilenet_v1_cifar(
    num_classes: int = 10, width: float = 1.0, in_channels: int = 3, width_mult: float | None = None, **kwargs
) -> MobileNetV1:
    """MobileNet v1 for 32x32: stride-1 stem, so 32 -> 2x2 final maps (16x instead of 32x downsampling).

    ``width``: the width multiplier (``width_mult``: its deprecated name). Other keyword arguments go
    to :class:`MobileNetV1`.
    """
    width = resolve_width(width, width_mult, "mobilenet_v1_cifar")
    return MobileNetV1(num_classes, width=width, stem_stride=1, in_channels=in_channels, **kwargs)


@register_model(
    family="mobilenet",
    **_IMAGENET,
    first_conv="features.0.0",
    classifier="classifier.1",
    gradcam_layer="features.18",
    paper=_V2,
)
def mobilenet_v2(
    num_classes: int = 1000, width: float = 1.0, in_channels: int = 3, width_mult: float | None = None, **kwargs
) -> MobileNetV2:
    """MobileNet v2 1.0x: 3,504,872 parameters (torchvision ``mobilenet_v2``, identical keys).

    ``width``: the width multiplier (``width_mult``: its deprecated name, torchvision's). Other keyword
    arguments go to :class:`MobileNetV2`.
    """
    width = resolve_width(width, width_mult, "mobilenet_v2")
    return MobileNetV2(num_classes, width=width, in_channels=in_channels, **kwargs)


@register_model(
    family="mobilenet",
    **_CIFAR,
    first_conv="features.0.0",
    classifier="classifier.1",
    gradcam_layer="features.18",
    paper=_V2,
)
def mobilenet_v2_cifar(
    num_classes: int = 10, width: float = 1.0, in_channels: int = 3, width_mult: float | None = None, **kwargs
) -> MobileNetV2:
    """MobileNet v2 for 32x32: stride-1 stem and 24-channel stage, 8x downsampling (4x4 final maps).

    ``width``: the width multiplier (``width_mult``: its deprecated name; stored zoo entries use it).
    Other keyword arguments go to :class:`MobileNetV2`.
    """
    width = resolve_width(width, width_mult, "mobilenet_v2_cifar")
    return MobileNetV2(
        num_classes, width=width, setting=MOBILENET_V2_CIFAR_SETTING, stem_stride=1, in_channels=in_channels, **kwargs
    )


@register_model(
    family="mobilenet",
    **_IMAGENET,
    first_conv="features.0.0",
    classifier="classifier.3",
    gradcam_layer="features.12",
    paper=_V3,
)
def mobilenet_v3_small(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> MobileNetV3:
    """MobileNetV3-Small: 2,542,856 parameters (torchvision ``mobilenet_v3_small``, identical keys)."""
    return _mobilenet_v3("small", num_classes, in_channels, cifar=False, **kwargs)


@register_model(
    family="mobilenet",
    **_IMAGENET,
    first_conv="features.0.0",
    classifier="classifier.3",
    gradcam_layer="features.16",
    paper=_V3,
)
def mobilenet_v3_large(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> MobileNetV3:
    """MobileNetV3-Large: 5,483,032 parameters (torchvision ``mobilenet_v3_large``, identical keys)."""
    return _mobilenet_v3("large", num_classes, in_channels, cifar=False, **kwargs)


@register_model(
    family="mobilenet",
    **_CIFAR,
    first_conv="features.0.0",
    classifier="classifier.3",
    gradcam_layer="features.12",
    paper=_V3,
)
def mobilenet_v3_small_cifar(num_classes: int = 10, in_channels: int = 3, **kwargs) -> MobileNetV3:
    """MobileNetV3-Small for 32x32: stride-1 stem and first bottleneck, 8x downsampling (4x4 final maps)."""
    return _mobilenet_v3("small", num_classes, in_channels, cifar=True, **kwargs)


@register_model(
    family="mobilenet",
    **_CIFAR,
    first_conv="features.0.0",
    classifier="classifier.3",
    gradcam_layer="features.16",
    paper=_V3,
)
def mobilenet_v3_large_cifar(num_classes: int = 10, in_channels: int = 3, **kwargs) -> MobileNetV3:
    """MobileNetV3-Large for 32x32: stride-1 stem and first stride-2 bottleneck, 8x downsampling (4x4 final maps)."""
    return _mobilenet_v3("large", num_classes, in_channels, cifar=True, **kwargs)


register_torchvision_equivalent("mobilenet_v2", torchvision_name="mobilenet_v2")
register_torchvision_equivalent("mobilenet_v3_small", torchvision_name="mobilenet_v3_small")
register_torchvision_equivalent("mobilenet_v3_large", torchvision_name="mobilenet_v3_large")
