"""VGG (Simonyan & Zisserman 2014): configurations A, A-LRN, B, C, D, E, with and without batch norm.

Very Deep Convolutional Networks for Large-Scale Image Recognition, ICLR 2015.
https://arxiv.org/abs/1409.1556

Table 1 of the paper is the ``cfgs`` dict below, one list per column. Every
convolution is followed by a ReLU (and, in the ``_bn`` variants of torchvision,
by batch norm before the ReLU); five 2x2 max pools take 224 x 224 down to 7 x 7;
then FC-4096, FC-4096, FC-1000 with dropout 0.5 after the two hidden layers.

    builder     config  weight layers  parameters (1000 classes)      source
    vgg11       A       11             132,863,336  (bn: 132,868,840)  torchvision
    vgg11_lrn   A-LRN   11             132,863,336  (LRN has no parameters)
    vgg13       B       13             133,047,848  (bn: 133,053,736)  torchvision
    vgg16_c     C       16             133,638,952  (bn: 133,647,400)  computed: B + conv1-256 + 2 x conv1-512
    vgg16       D       16             138,357,544  (bn: 138,365,992)  torchvision
    vgg19       E       19             143,667,240  (bn: 143,678,248)  torchvision

The paper's Table 2 rounds these to 133 (A, A-LRN), 133 (B), 134 (C), 138 (D) and
144 (E) million. Module names and indices are torchvision's (``features.0``,
``classifier.6``), so torchvision's ``vgg11`` ... ``vgg19_bn`` weights load with
``strict=True``; the adaptive 7x7 average pool lets the network take inputs from
32 x 32 up (torchvision's choice; the paper's dense evaluation turned the FC layers
into convolutions instead).

``vgg11_bn_cifar`` and ``vgg16_bn_cifar`` keep the feature configurations and
replace the three FC layers with global average pooling and one linear layer:
9,231,114 and 14,728,266 parameters, the figures widely reported for the
kuangliu/pytorch-cifar VGGs of the same layout. With ``head="fc"`` they keep the
paper's three-FC classifier instead (on the 1 x 1 map that five pools leave of a
32 x 32 image; hidden width ``4096 * width`` unless given), for chapter 03's
comparison of the two heads.
"""

from __future__ import annotations

from typing import Union

import torch
import torch.nn as nn
from torch import Tensor

from ._checks import check_input
from .alexnet import local_response_norm
from .blocks import init_conv_bn_linear, same_padding, scale_channels
from .registry import register_model
from .torchvision_compat import register_torchvision_equivalent

__all__ = [
    "VGG",
    "cfgs",
    "make_layers",
    "stage_depths",
    "vgg11",
    "vgg11_bn",
    "vgg11_bn_cifar",
    "vgg11_lrn",
    "vgg11_lrn_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg16_bn_cifar",
    "vgg16_c",
    "vgg16_c_bn",
    "vgg19",
    "vgg19_bn",
]

Layer = Union[int, tuple[int, int], str]

# Table 1 of the paper, one column per configuration:
#   64        conv3-64: 3x3 convolution with 64 output channels, padding 1
#   (256, 1)  conv1-256: 1x1 convolution (configuration C only)
#   "LRN"     local response normalisation as in AlexNet (configuration A-LRN only)
#   "M"       2x2 max pooling, stride 2
cfgs: dict[str, list[Layer]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, (256, 1), "M", 512, 512, (512, 1), "M", 512, 512, (512, 1), "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}

MIN_SIZE = 32  # five 2x2 pools: 32 -> 1


def stage_depths(cfg: Union[str, list[Layer]]) -> list[tuple[int, int]]:
    """(convolutions, output channels) of each stage -- the layers between two max pools -- of a configuration.

    ``stage_depths("D") == [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]``: the check to run on
    any drawing of VGG-16 (``"E"``: 2, 2, 4, 4, 4 for VGG-19).
    """
    if isinstance(cfg, str):
        if cfg not in cfgs:
            raise KeyError(f"unknown VGG configuration {cfg!r}; known: {sorted(cfgs)}")
        cfg = cfgs[cfg]
    stages, convs, channels = [], 0, 0
    for v in cfg:
        if v == "M":
            stages.append((convs, channels))
            convs = 0
        elif v != "LRN":
            convs += 1
            channels = v[0] if isinstance(v, tuple) else v
    if convs:
        raise ValueError("a VGG configuration ends with a max pool ('M')")
    return stages


def make_layers(cfg: list[Layer], batch_norm: bool = False, in_channels: int = 3, width: float = 1.0) -> nn.Sequential:
    """The convolutional part of one configuration, flat as in torchvision (so the indices match).

    ``width`` multiplies every layer's channels (:func:`~cnnlib.models.blocks.scale_channels`).
    """
    layers: list[nn.Module] = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        elif v == "LRN":
            layers.append(local_response_norm())
        else:
            out_channels, kernel_size = v if isinstance(v, tuple) else (v, 3)
            out_channels = scale_channels(out_channels, width)
            padding = same_padding(kernel_size)  # 1 for a 3x3, 0 for a 1x1: the map keeps its size
            layers.append(nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
            in_channels = out_channels
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """A VGG feature stack and its classifier.

    Args:
        features: the convolutional part (:func:`make_layers`).
        num_classes: outputs of the last linear layer.
        dropout: dropout after the two hidden FC layers (paper: 0.5).
        head: ``"imagenet"`` -- adaptive 7x7 average pool, FC-4096, FC-4096, FC-``num_classes``
            (paper, torchvision); ``"cifar"`` -- global average pool and one linear layer;
            ``"fc"`` -- global average pool, then the paper's three FC layers with ``hidden`` units
            (for small inputs, whose last map is 1 x 1 anyway).
        in_channels: image channels (must match the first convolution of ``features``).
        hidden: width of the two hidden FC layers of the ``"fc"`` head (paper: 4096).
    """

    def __init__(
        self,
        features: nn.Sequential,
        num_classes: int = 1000,
        dropout: float = 0.5,
        head: str = "imagenet",
        in_channels: int = 3,
        name: str = "VGG",
        hidden: int = 4096,
    ) -> None:
        super().__init__()
        self.in_channels, self.name = in_channels, name
        channels = [m.out_channels for m in features if isinstance(m, nn.Conv2d)][-1]  # 512
        self.features = features
        if head == "imagenet":
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(channels * 7 * 7, 4096),
                nn.ReLU(True),
                nn.Dropout(p=dropout),
                nn.Linear(4096, 4096),
                nn.ReLU(True),
                nn.Dropout(p=dropout),
                nn.Linear(4096, num_classes),
            )
        elif head == "cifar":
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.classifier = nn.Linear(channels, num_classes)
        elif head == "fc":
            if hidden < 1:
                raise ValueError(f"hidden must be a positive number of units, not {hidden}")
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.classifier = nn.Sequential(
                nn.Linear(channels, hidden),
                nn.ReLU(True),
                nn.Dropout(p=dropout),
                nn.Linear(hidden, hidden),
                nn.ReLU(True),
                nn.Dropout(p=dropout),
                nn.Linear(hidden, num_classes),
            )
        else:
            raise ValueError(f"head must be 'imagenet', 'cifar' or 'fc', not {head!r}")
        init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model=self.name, in_channels=self.in_channels, min_size=MIN_SIZE)
        # N x 3 x 224 x 224 -> N x 64 x 112 x 112 -> N x 128 x 56 x 56 -> N x 256 x 28 x 28
        # -> N x 512 x 14 x 14 -> N x 512 x 7 x 7 (one step per max pool; CIFAR: 32 -> ... -> 1)
        return self.features(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """The last maps -> logits.

        ``pre_logits=True`` returns the pooled, flattened features that the classifier receives: N x 25088
        (512 x 7 x 7) for the ImageNet head, N x 512 for the CIFAR and ``"fc"`` heads. For the heads with
        hidden FC-4096 layers that is their input, before them and their dropout, as for every model
        of the course (the output of the second FC-4096 would be a head-specific alternative).
        """
        x = self.avgpool(x)  # N x 512 x 7 x 7 (CIFAR head: N x 512 x 1 x 1)
        x = torch.flatten(x, 1)  # N x 25088 (CIFAR head: N x 512)
        if pre_logits:
            return x
        return self.classifier(x)  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def init_weights(model: nn.Module) -> None:
    """torchvision's VGG init: He-normal convolutions, N(0, 0.01) linear layers, zero biases.

    Deviation: the paper trained A from a normal distribution with zero mean and variance 10^-2,
    zero biases, and initialised the first four convolutions and the three FC layers of the deeper
    nets from A's (Sec. 3.1); it notes that Glorot init works without that pre-training.
    """
    init_conv_bn_linear(model)


def _vgg(
    cfg: str,
    batch_norm: bool,
    num_classes: int,
    name: str,
    in_channels: int = 3,
    dropout: float = 0.5,
    head: str = "imagenet",
    width: float = 1.0,
    hidden: int | None = None,
    **kwargs,
) -> VGG:
    features = make_layers(cfgs[cfg], batch_norm=batch_norm, in_channels=in_channels, width=width)
    hidden = scale_channels(4096, width) if hidden is None else hidden
    return VGG(
        features,
        num_classes=num_classes,
        dropout=dropout,
        head=head,
        in_channels=in_channels,
        name=name,
        hidden=hidden,
        **kwargs,
    )


_PAPER = "Simonyan, Zisserman 2014, https://arxiv.org/abs/1409.1556"
_META = dict(
    family="vgg",
    scale="imagenet",
    input_size=(3, 224, 224),
    num_classes=1000,
    first_conv="features.0",
    classifier="classifier.6",
    gradcam_layer="features",
    paper=_PAPER,
    test_size=(3, MIN_SIZE, MIN_SIZE),
)
_CIFAR_META = {
    **_META,
    "scale": "cifar",
    "input_size": (3, 32, 32),
    "num_classes": 10,
    "classifier": "classifier",
    "test_size": None,
}


@register_model(**_META)
def vgg11(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, **kwargs) -> VGG:
    """VGG-11, configuration A: 132,863,336 parameters."""
    return _vgg("A", False, num_classes, "vgg11", in_channels, dropout, **kwargs)


@register_model(**_META)
def vgg11_bn(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, **kwargs) -> VGG:
    """VGG-11 with batch norm: 132,868,840 parameters."""
    return _vgg("A", True, num_classes, "vgg11_bn", in_channels, dropout, **kwargs)


@register_model(**_META)
def vgg11_lrn(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, **kwargs) -> VGG:
    """Configuration A-LRN: A with AlexNet's LRN after the first layer (132,863,336 parameters)."""
    return _vgg("A-LRN", False, num_classes, "vgg11_lrn", in_channels, dropout, **kwargs)


@register_model(**_META)
def vgg11_lrn_bn(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, **kwargs) -> VGG:
    """Configuration A-LRN with batch norm (132,868,840 parameters; not in the paper, for comparison)."""
    return _vgg("A-LRN", True, num_classes, "vgg11_lrn_bn", in_channels, dropout, **kwargs)


@register_model(**_META)
def vgg13(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, **kwargs) -> VGG:
    """VGG-13, configuration B: 133,047,848 parameters."""
    return _vgg("B", False, num_classes, "vgg13", in_channels, dropout, **kwargs)


@register_model(**_META)
def vgg13_bn(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, **kwargs) -> VGG:
    """VGG-13 with batch norm: 133,053,736 parameters."""
    return _vgg("B", True, num_classes, "vgg13_bn", in_channels, dropout, **kwargs)


@register_model(**_META)
def vgg16_c(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, **kwargs) -> VGG:
    """Configuration C: 16 weight layers, three of them 1x1 (133,638,952 parameters)."""
    return _vgg("C", False, num_classes, "vgg16_c", in_channels, dropout, **kwargs)


@register_model(**_META)
def vgg16_c_bn(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, **kwargs) -> VGG:
    """Configuration C with batch norm (133,647,400 parameters)."""
    return _vgg("C", True, num_classes, "vgg16_c_bn", in_channels, dropout, **kwargs)


@register_model(**_META)
def vgg16(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, **kwargs) -> VGG:
    """VGG-16, configuration D: 138,357,544 parameters."""
    return _vgg("D", False, num_classes, "vgg16", in_channels, dropout, **kwargs)


@register_model(**_META)
def vgg16_bn(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, **kwargs) -> VGG:
    """VGG-16 with batch norm: 138,365,992 parameters."""
    return _vgg("D", True, num_classes, "vgg16_bn", in_channels, dropout, **kwargs)


@register_model(**_META)
def vgg19(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, **kwargs) -> VGG:
    """VGG-19, configuration E: 143,667,240 parameters."""
    return _vgg("E", False, num_classes, "vgg19", in_channels, dropout, **kwargs)


@register_model(**_META)
def vgg19_bn(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, **kwargs) -> VGG:
    """VGG-19 with batch norm: 143,678,248 parameters."""
    return _vgg("E", True, num_classes, "vgg19_bn", in_channels, dropout, **kwargs)


@register_model(**_CIFAR_META)
def vgg11_bn_cifar(
    num_classes: int = 10,
    in_channels: int = 3,
    width: float = 1.0,
    head: str = "cifar",
    hidden: int | None = None,
    dropout: float = 0.5,
    **kwargs,
) -> VGG:
    """VGG-11 with batch norm for 3 x 32 x 32 images: 9,231,114 parameters for 10 classes.

    Adaptation: configuration A's convolutions unchanged (five pools take 32 x 32 to 1 x 1);
    the 123 M-parameter FC-4096/FC-4096/FC-1000 head becomes global average pooling and one
    512 -> ``num_classes`` linear layer, the common CIFAR layout (e.g. kuangliu/pytorch-cifar).
    ``width`` multiplies every convolution's channels (0.5: 64-128-256-256-512-... become 32-64-128-128-256-...).
    ``head="fc"`` keeps the paper's FC-``hidden``, FC-``hidden``, FC-``num_classes`` classifier with
    ``dropout`` (``hidden`` defaults to 4096 x ``width``); ``dropout`` is unused by the one-layer head.
    Other keyword arguments go to :class:`VGG`.
    """
    _check_cifar_head(head)
    return _vgg(
        "A", True, num_classes, "vgg11_bn_cifar", in_channels, dropout, head=head, width=width, hidden=hidden, **kwargs
    )


@register_model(**_CIFAR_META)
def vgg16_bn_cifar(
    num_classes: int = 10,
    in_channels: int = 3,
    width: float = 1.0,
    head: str = "cifar",
    hidden: int | None = None,
    dropout: float = 0.5,
    **kwargs,
) -> VGG:
    """VGG-16 with batch norm for 3 x 32 x 32 images: 14,728,266 parameters for 10 classes.

    Same adaptation as :func:`vgg11_bn_cifar`, on configuration D (``width``, ``head``, ``hidden`` likewise).
    """
    _check_cifar_head(head)
    return _vgg(
        "D", True, num_classes, "vgg16_bn_cifar", in_channels, dropout, head=head, width=width, hidden=hidden, **kwargs
    )


def _check_cifar_head(head: str) -> None:
    if head not in ("cifar", "fc"):
        raise ValueError(
            "a CIFAR VGG's head is 'cifar' (global average pool + one linear layer) or 'fc' (three FC layers), "
            f"not {head!r}"
        )


for _name in ("vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"):
    register_torchvision_equivalent(_name, torchvision_name=_name)
