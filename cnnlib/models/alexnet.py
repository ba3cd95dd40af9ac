"""AlexNet (Krizhevsky, Sutskever, Hinton 2012), its torchvision variant, ZFNet, and a CIFAR-scale AlexNet.

ImageNet Classification with Deep Convolutional Neural Networks, NeurIPS 2012.
https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks.pdf

The seed's one-tower table (227 x 227 input; the paper's "224" does not fit an
11x11 stride-4 convolution without padding):

    layer     kind                          output        parameters
    conv1     11x11/4, 96                   96@55x55          34,944
    pool1     max 3x3/2                     96@27x27               0
    conv2     5x5/1 pad 2, 256              256@27x27        614,656
    pool2     max 3x3/2                     256@13x13              0
    conv3     3x3/1 pad 1, 384              384@13x13        885,120
    conv4     3x3/1 pad 1, 384              384@13x13      1,327,488
    conv5     3x3/1 pad 1, 256              256@13x13        884,992
    pool3     max 3x3/2                     256@6x6                0
    fc6       9216 -> 4096                  4096          37,752,832
    fc7       4096 -> 4096                  4096          16,781,312
    fc8       4096 -> 1000                  1000           4,097,000
                                            total         62,378,344

Options of ``alexnet_paper`` that bring back the 2012 paper's details:

- ``lrn=True``: local response normalisation after the ReLUs of conv1 and conv2
  (Sec. 3.3; k=2, n=5, alpha=1e-4, beta=0.75), see :func:`local_response_norm`.
- ``groups=2``: the two-GPU split (Sec. 3.2, Fig. 2). The kernels of conv2, conv4
  and conv5 see only the half of the previous layer's maps that lives on their own
  GPU, so each of these layers has half the weights:
  62,378,344 - (307,200 + 663,552 + 442,368) = **60,965,224** parameters,
  the figure listed for Caffe's ``bvlc_alexnet`` reference model, which keeps the groups
  (e.g. the model table of HewlettPackard/dlcookbook-dlbs).

Variants built from the same class:

- ``alexnet``: torchvision's one-tower variant (from Krizhevsky's 2014 "One weird
  trick", https://arxiv.org/abs/1404.5997): 64-192-384-256-256 channels, padding 2
  in conv1, an adaptive 6x6 average pool, 61,100,840 parameters; its
  ``state_dict`` keys are torchvision's.
- ``zfnet``: Zeiler & Fergus 2013 (https://arxiv.org/abs/1311.2901, Fig. 3): conv1
  7x7 stride 2 and conv2 5x5 stride 2 instead of 11x11/4 and 5x5/1, same widths
  96-256-384-384-256, 224 x 224 input, 62,357,608 parameters: the seed's table
  with conv1 = 96*(3*7*7)+96 = 14,208; the paper gives no total, osmr/imgclsmob's
  ``zfnet`` lists the same 62,357,608.
- ``alexnet_cifar``: the CIFAR-scale adaptation (see its docstring).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ._checks import Window, check_input, map_sizes, min_input_size, output_size
from .blocks import init_conv_bn_linear, scale_channels
from .registry import register_model
from .torchvision_compat import register_torchvision_equivalent

__all__ = [
    "ALEXNET_CIFAR",
    "ALEXNET_PAPER",
    "ALEXNET_TORCHVISION",
    "ZFNET",
    "AlexNet",
    "ConvLayer",
    "Fig1CNN",
    "alexnet",
    "alexnet_cifar",
    "zfnet_cifar",
    "alexnet_paper",
    "local_response_norm",
    "lrn_formula",
    "output_size",
    "zfnet",
]


@dataclass(frozen=True)
class ConvLayer:
    """One convolutional layer of an AlexNet-style stack, followed by a ReLU."""

    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    grouped: bool = False  # split into `groups` towers when the model is built with groups > 1
    lrn: bool = False  # local response normalisation after the ReLU, when the model is built with lrn=True
    pool: int = 0  # kernel of the stride-2 max pool after the layer; 0 = no pooling


# The paper / seed table (227 x 227 input): output sizes 55 -> 27, 27 -> 13, 13, 13, 13 -> 6.
ALEXNET_PAPER = [
    ConvLayer(out_channels=96, kernel_size=11, stride=4, padding=0, lrn=True, pool=3),
    ConvLayer(out_channels=256, kernel_size=5, padding=2, grouped=True, lrn=True, pool=3),
    ConvLayer(out_channels=384, kernel_size=3, padding=1),  # conv3 sees both towers
    ConvLayer(out_channels=384, kernel_size=3, padding=1, grouped=True),
    ConvLayer(out_channels=256, kernel_size=3, padding=1, grouped=True, pool=3),
]

# torchvision.models.alexnet (224 x 224 input): 55 -> 27, 27 -> 13, 13, 13, 13 -> 6.
ALEXNET_TORCHVISION = [
    ConvLayer(out_channels=64, kernel_size=11, stride=4, padding=2, pool=3),
    ConvLayer(out_channels=192, kernel_size=5, padding=2, pool=3),
    ConvLayer(out_channels=384, kernel_size=3, padding=1),
    ConvLayer(out_channels=256, kernel_size=3, padding=1),
    ConvLayer(out_channels=256, kernel_size=3, padding=1, pool=3),
]

# ZFNet, Zeiler & Fergus 2013, Fig. 3 (224 x 224 input): 110 -> 55, 26 -> 13, 13, 13, 13 -> 6.
# Padding 1 in conv1 and ceil-rounded pools reproduce the figure's 110, 55, 26 and 13.
ZFNET = [
    ConvLayer(out_channels=96, kernel_size=7, stride=2, padding=1, lrn=True, pool=3),
    ConvLayer(out_channels=256, kernel_size=5, stride=2, padding=0, lrn=True, pool=3),
    ConvLayer(out_channels=384, kernel_size=3, padding=1),
    ConvLayer(out_channels=384, kernel_size=3, padding=1),
    ConvLayer(out_channels=256, kernel_size=3, padding=1, pool=3),
]

# CIFAR-scale (32 x 32 input): 32 -> 16, 16 -> 8, 8, 8, 8 -> 4.
ALEXNET_CIFAR = [
    ConvLayer(out_channels=64, kernel_size=5, padding=2, pool=2),
    ConvLayer(out_channels=192, kernel_size=5, padding=2, pool=2),
    ConvLayer(out_channels=384, kernel_size=3, padding=1),
    ConvLayer(out_channels=256, kernel_size=3, padding=1),
    ConvLayer(out_channels=256, kernel_size=3, padding=1, pool=2),
]

# ZFNet at CIFAR scale (32 x 32 input): ZFNet's widths 96-256-384-384-256 and, as ZFNet did to
# AlexNet, a smaller first kernel than alexnet_cifar's (3x3 instead of 5x5): 32 -> 16, 16 -> 8, 8, 8, 8 -> 4.
ZFNET_CIFAR = [
    ConvLayer(out_channels=96, kernel_size=3, padding=1, pool=2),
    ConvLayer(out_channels=256, kernel_size=5, padding=2, pool=2),
    ConvLayer(out_channels=384, kernel_size=3, padding=1),
    ConvLayer(out_channels=384, kernel_size=3, padding=1),
    ConvLayer(out_channels=256, kernel_size=3, padding=1, pool=2),
]

# Local response normalisation of the paper, Sec. 3.3: k, n, alpha, beta.
LRN_K, LRN_SIZE, LRN_ALPHA, LRN_BETA = 2.0, 5, 1e-4, 0.75


def local_response_norm(
    size: int = LRN_SIZE, alpha: float = LRN_ALPHA, beta: float = LRN_BETA, k: float = LRN_K
) -> nn.LocalResponseNorm:
    """The paper's LRN, ``b_i = a_i / (k + alpha * sum_{j=i-n/2}^{i+n/2} a_j^2) ** beta`` (Sec. 3.3).

    ``nn.LocalResponseNorm`` (like Caffe's LRN layer) divides ``alpha`` by ``n``, so the paper's
    formula needs ``alpha * n`` there; a test checks the module against the formula.
    """
    return nn.LocalResponseNorm(size, alpha=alpha * size, beta=beta, k=k)


def lrn_formula(
    a: Tensor, n: int = LRN_SIZE, k: float = LRN_K, alpha: float = LRN_ALPHA, beta: float = LRN_BETA
) -> Tensor:
    """Local response normalisation written from the paper's formula (Sec. 3.3), for ``N x C x H x W`` activations.

        b[i] = a[i] / (k + alpha * sum_{j = max(0, i - n//2)}^{min(C - 1, i + n//2)} a[j]^2) ** beta

    Each channel ``i`` is divided by the energy of the ``n`` channels centred on it, at the same
    pixel; the window is clipped at the first and the last channel. ``n`` must be odd (the paper's
    5), so the window is centred. Equal to ``nn.LocalResponseNorm(n, alpha * n, beta, k)``:
    PyTorch (like Caffe) divides its ``alpha`` by ``n``.
    """
    if a.dim() != 4:
        raise ValueError(f"expected activations N x C x H x W, got shape {tuple(a.shape)}")
    if n < 1 or n % 2 == 0:
        raise ValueError(f"the window n must be a positive odd number of channels (the paper: 5), got {n}")
    half = n // 2
    squares = F.pad(a.pow(2), (0, 0, 0, 0, half, half))  # N x (C + 2*half) x H x W, zero channels at both ends
    window_sums = squares.unfold(1, n, 1).sum(-1)  # N x C x H x W: channel i sums padded i .. i + n - 1
    return a / (k + alpha * window_sums).pow(beta)


class AlexNet(nn.Module):
    """Five convolutional layers and three fully connected ones, built from a table of :class:`ConvLayer`.

    Args:
        layers: the convolutional table (``ALEXNET_PAPER``, ``ALEXNET_TORCHVISION``, ...).
        num_classes: outputs of the last linear layer.
        in_channels: image channels.
        image_size: the fixed input size the fully connected part was designed for; with
            ``adaptive_pool`` set the model accepts any size that survives the downsampling.
        adaptive_pool: side of the adaptive average pool before the classifier
            (torchvision: 6), or ``None`` for none (fixed input size).
        hidden: width of the two hidden fully connected layers (paper: 4096).
        dropout: dropout probability before fc6 and fc7 (paper: 0.5).
        lrn: add local response normalisation where the table says so.
        lrn_after_pool: normalise after the pooling instead of before (ZFNet's order).
        groups: split the table's ``grouped`` layers into this many towers (paper: 2).
        ceil_mode: round pooled sizes up (Caffe's rounding), as ZFNet's map sizes need.
    """

    def __init__(
        self,
        layers: Sequence[ConvLayer],
        num_classes: int = 1000,
        *,
        in_channels: int = 3,
        image_size: int = 224,
        adaptive_pool: int | None = None,
        hidden: int = 4096,
        dropout: float = 0.5,
        lrn: bool = False,
        lrn_after_pool: bool = False,
        groups: int = 1,
        ceil_mode: bool = False,
        name: str = "AlexNet",
    ) -> None:
        super().__init__()
        self.in_channels, self.name = in_channels, name
        modules: list[nn.Module] = []
        channels = in_channels
        for layer in layers:
            modules += [
                nn.Conv2d(
                    channels,
                    layer.out_channels,
                    layer.kernel_size,
                    layer.stride,
                    layer.padding,
                    groups=groups if layer.grouped else 1,
                ),
                nn.ReLU(inplace=True),
            ]
            norm = [local_response_norm()] if lrn and layer.lrn else []
            pool = [nn.MaxPool2d(layer.pool, stride=2, ceil_mode=ceil_mode)] if layer.pool else []
            modules += pool + norm if lrn_after_pool else norm + pool
            channels = layer.out_channels
        self.features = nn.Sequential(*modules)
        self.exact_size = None if adaptive_pool else (image_size, image_size)
        self.min_size = min_input_size(_windows(layers, ceil_mode)) if adaptive_pool else None
        self.avgpool = nn.AdaptiveAvgPool2d((adaptive_pool, adaptive_pool)) if adaptive_pool else nn.Identity()
        side = adaptive_pool or map_sizes(image_size, _windows(layers, ceil_mode))[-1]
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(channels * side * side, hidden),  # fc6
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(hidden, hidden),  # fc7
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),  # fc8
        )
        init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(
            x, model=self.name, in_channels=self.in_channels, exact_size=self.exact_size, min_size=self.min_size
        )
        # paper table: N x 3 x 227 x 227 -> conv1 N x 96 x 55 x 55 -> pool N x 96 x 27 x 27
        # -> conv2 N x 256 x 27 x 27 -> pool N x 256 x 13 x 13 -> conv3, conv4 N x 384 x 13 x 13
        # -> conv5 N x 256 x 13 x 13 -> pool N x 256 x 6 x 6
        return self.features(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """The last maps -> logits.

        ``pre_logits=True`` returns the pooled, flattened features that the classifier receives (N x 9216
        for the paper's and torchvision's tables): the input of fc6, before dropout and the two hidden
        fully connected layers, as for every model of the course (the output of fc7 would be a
        4096-wide alternative, specific to this head).
        """
        x = self.avgpool(x)  # N x C x 6 x 6 (identity for the fixed-size variants)
        x = torch.flatten(x, 1)  # N x 9216 (paper, torchvision)
        if pre_logits:
            return x
        return self.classifier(x)  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def _windows(layers: Sequence[ConvLayer], ceil_mode: bool) -> list[Window]:
    """Each convolution of the table, then its stride-2 max pool, as (kernel, stride, padding, ceil_mode)."""
    windows: list[Window] = []
    for layer in layers:
        windows.append((layer.kernel_size, layer.stride, layer.padding, False))
        if layer.pool:
            windows.append((layer.pool, 2, 0, ceil_mode))
    return windows


def init_weights(model: nn.Module) -> None:
    """He init for convolutions, N(0, 0.01) for linear layers, zero biases (torchvision's VGG init).

    Deviation: the paper (Sec. 5) drew every weight from N(0, 0.01) and set the biases of conv2,
    conv4, conv5 and the hidden fc layers to 1; torchvision's AlexNet keeps PyTorch's default init.
    He init (He et al. 2015, https://arxiv.org/abs/1502.01852) trains without the paper's tuning.
    """
    init_conv_bn_linear(model)


def _alexnet(layers: Sequence[ConvLayer], num_classes: int, **kwargs) -> AlexNet:
    return AlexNet(layers, num_classes, **kwargs)


_PAPER = "Krizhevsky, Sutskever, Hinton 2012, https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks.pdf"
_META = dict(family="alexnet", first_conv="features.0", classifier="classifier.6", gradcam_layer="features")


@register_model(
    **_META, scale="imagenet", input_size=(3, 227, 227), num_classes=1000, paper=_PAPER, test_size=(3, 227, 227)
)
def alexnet_paper(
    num_classes: int = 1000, in_channels: int = 3, lrn: bool = False, groups: int = 1, dropout: float = 0.5, **kwargs
) -> AlexNet:
    """The seed's one-tower AlexNet table on 227 x 227 images: 62,378,344 parameters.

    ``lrn=True`` adds the paper's local response normalisation after conv1 and conv2;
    ``groups=2`` splits conv2, conv4 and conv5 into the paper's two GPU towers (60,965,224 parameters).
    Other keyword arguments go to :class:`AlexNet`.
    """
    return _alexnet(
        ALEXNET_PAPER,
        num_classes,
        in_channels=in_channels,
        image_size=227,
        lrn=lrn,
        groups=groups,
        dropout=dropout,
        name="alexnet_paper",
        **kwargs,
    )


@register_model(
    **_META,
    scale="imagenet",
    input_size=(3, 224, 224),
    num_classes=1000,
    paper=_PAPER + "; torchvision variant: Krizhevsky 2014, https://arxiv.org/abs/1404.5997",
    test_size=(3, 64, 64),
)
def alexnet(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, **kwargs) -> AlexNet:
    """torchvision's AlexNet (64-192-384-256-256, adaptive 6x6 pool): 61,100,840 parameters, torchvision's keys.

    Other keyword arguments go to :class:`AlexNet`.
    """
    return _alexnet(
        ALEXNET_TORCHVISION,
        num_classes,
        in_channels=in_channels,
        image_size=224,
        adaptive_pool=6,
        dropout=dropout,
        name="alexnet",
        **kwargs,
    )


@register_model(
    **{**_META, "family": "zfnet"},
    scale="imagenet",
    input_size=(3, 224, 224),
    num_classes=1000,
    paper="Zeiler, Fergus 2013, https://arxiv.org/abs/1311.2901",
    test_size=(3, 224, 224),
)
def zfnet(num_classes: int = 1000, in_channels: int = 3, lrn: bool = False, dropout: float = 0.5, **kwargs) -> AlexNet:
    """ZFNet (Zeiler & Fergus 2013, Fig. 3) on 224 x 224 images: 62,357,608 parameters (as osmr/imgclsmob).

    ``lrn=True`` adds the paper's "contrast normalisation across feature maps" after the pooling
    of layers 1 and 2, here with AlexNet's LRN constants (the paper gives none). Other keyword
    arguments go to :class:`AlexNet`.
    """
    return _alexnet(
        ZFNET,
        num_classes,
        in_channels=in_channels,
        image_size=224,
        lrn=lrn,
        lrn_after_pool=True,
        ceil_mode=True,
        dropout=dropout,
        name="zfnet",
        **kwargs,
    )


@register_model(**_META, scale="cifar", input_size=(3, 32, 32), num_classes=10, paper=_PAPER)
def alexnet_cifar(
    num_classes: int = 10, in_channels: int = 3, hidden: int = 512, dropout: float = 0.5, width: float = 1.0, **kwargs
) -> AlexNet:
    """AlexNet-style net for 3 x 32 x 32 images: 4,816,714 parameters for 10 classes.

    Adaptation (the paper has no CIFAR network of this shape): the five convolutions keep
    torchvision's widths 64-192-384-256-256 but use 5x5, 5x5, 3x3, 3x3, 3x3 kernels with stride 1
    (an 11x11/4 stem would shrink 32 x 32 to 6 x 6 at once) and 2x2 max pools (32 -> 16 -> 8 -> 4);
    the hidden fully connected layers shrink from 4096 to ``hidden=512`` units, because the
    4096-wide ones would hold 21 M parameters for 10 classes. ``width`` multiplies the five
    convolutions' channels (0.5: 32-96-192-128-128; :func:`~cnnlib.models.blocks.scale_channels`).
    Other keyword arguments go to :class:`AlexNet`.
    """
    layers = [replace(layer, out_channels=scale_channels(layer.out_channels, width)) for layer in ALEXNET_CIFAR]
    return _alexnet(
        layers,
        num_classes,
        in_channels=in_channels,
        image_size=32,
        hidden=hidden,
        dropout=dropout,
        name="alexnet_cifar",
        **kwargs,
    )


@register_model(
    **{**_META, "family": "zfnet"},
    scale="cifar",
    input_size=(3, 32, 32),
    num_classes=10,
    paper="Zeiler, Fergus 2013, https://arxiv.org/abs/1311.2901",
)
def zfnet_cifar(
    num_classes: int = 10, in_channels: int = 3, hidden: int = 512, dropout: float = 0.5, **kwargs
) -> AlexNet:
    """ZFNet-style net for 3 x 32 x 32 images (6,080,394 parameters for 10 classes).

    Adaptation (the paper has no CIFAR network): ZFNet's widths 96-256-384-384-256 on the
    ``alexnet_cifar`` plan (stride-1 convolutions, 2x2 max pools, 32 -> 16 -> 8 -> 4, hidden layers
    of ``hidden=512`` units), with ZFNet's change to AlexNet carried over: a smaller first kernel
    (3x3 instead of alexnet_cifar's 5x5), so the first layer keeps finer detail. ZFNet's other change,
    a smaller first stride (2 instead of 4), has no counterpart: alexnet_cifar's stride is already 1.
    LRN is left out, as in alexnet_cifar. Other keyword arguments go to :class:`AlexNet`.
    """
    return _alexnet(
        ZFNET_CIFAR,
        num_classes,
        in_channels=in_channels,
        image_size=32,
        hidden=hidden,
        dropout=dropout,
        name="zfnet_cifar",
        **kwargs,
    )


class Fig1CNN(nn.Module):
    """A four-layer CIFAR-10 network for the ReLU-vs-tanh race of the paper's Fig. 1.

    The paper says only "a four-layer convolutional neural network" (trained with cuda-convnet);
    this one is our choice, in the spirit of cuda-convnet's CIFAR-10 example nets: three 5x5
    convolutions with ``width``, ``width`` and ``2 * width`` maps, each followed by the activation
    and a 2x2 max pool (32 -> 16 -> 8 -> 4), then one linear layer: four layers with weights.
    No normalisation, no dropout: the paper's figure used no regularisation of any kind.
    89,578 parameters at ``width=32``.
    """

    def __init__(
        self, activation: type[nn.Module] = nn.ReLU, width: int = 32, num_classes: int = 10, in_channels: int = 3
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        chans = [in_channels, width, width, 2 * width]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(chans, chans[1:]):
            layers += [nn.Conv2d(c_in, c_out, 5, padding=2), activation(), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(2 * width * 4 * 4, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model="Fig1CNN", in_channels=self.in_channels, exact_size=(32, 32))
        return self.features(x)  # N x 3 x 32 x 32 -> N x 2w x 4 x 4

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = torch.flatten(x, 1)  # N x 32w
        return x if pre_logits else self.classifier(x)  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


register_torchvision_equivalent("alexnet", torchvision_name="alexnet")
