"""Blocks shared by several families: defined once, passed layers as classes.

``ConvNormAct`` and ``SqueezeExcitation`` keep torchvision's module layout
(``0`` conv, ``1`` norm, ``2`` activation; ``fc1``/``fc2``), so torchvision's
``state_dict`` keys carry over unchanged wherever torchvision uses the same block.

The rules every family shares live here once: ``same_padding`` (the padding of a "same"
convolution), ``scale_channels`` (a width multiplier and its rounding), ``StochasticDepth``
(randomly dropped residual branches, in both of its published forms), and
``init_conv_bn_linear``, the one weight-initialisation loop behind every family's
``init_weights`` (each family's own function names its choice and source).
"""

from __future__ import annotations

import math
import warnings

import torch.nn as nn
from torch import Tensor

__all__ = [
    "ConvNormAct",
    "SqueezeExcitation",
    "StochasticDepth",
    "imagenet_to_tensorflow_range",
    "init_conv_bn_linear",
    "make_divisible",
    "resolve_width",
    "same_padding",
    "scale_channels",
]


def same_padding(kernel_size: int | tuple[int, ...], dilation: int | tuple[int, ...] = 1) -> int | tuple[int, ...]:
    """The padding that keeps a stride-1 convolution's output the size of its input: ``dilation * (k - 1) // 2``.

    A k x k kernel dilated by d spans ``d * (k - 1) + 1`` pixels, so it needs ``d * (k - 1)`` pixels of
    padding in all, half on each side: 1 for a 3x3, 2 for a 5x5, 3 for a 7x7, (0, 3) for a 1x7.
    Where ``d * (k - 1)`` is odd (an even kernel with an odd dilation, e.g. undilated) no symmetric padding
    keeps the size: the output is one pixel smaller, and this is the left padding PyTorch's
    ``padding="same"`` would use.
    Tuples give one padding per spatial dimension.
    """
    if isinstance(kernel_size, int) and isinstance(dilation, int):
        return dilation * (kernel_size - 1) // 2
    dims = len(kernel_size) if not isinstance(kernel_size, int) else len(dilation)
    kernels = (kernel_size,) * dims if isinstance(kernel_size, int) else tuple(kernel_size)
    dilations = (dilation,) * dims if isinstance(dilation, int) else tuple(dilation)
    return tuple(d * (k - 1) // 2 for k, d in zip(kernels, dilations, strict=True))


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` without losing more than 10 %.

    From the TensorFlow MobileNet reference code, as torchvision's ``_make_divisible``.
    """
    min_value = min_value or divisor
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def scale_channels(channels: int, width: float, divisor: int | None = 8, min_value: int | None = None) -> int:
    """``channels`` times a width multiplier (MobileNet's alpha), rounded: the one rule of every ``width`` knob.

    ``width=1`` returns ``channels`` unchanged, so a model's published configuration is the default.
    Otherwise the product is rounded one of two ways, each the rule of the papers' reference code:

    - ``divisor=8`` (the default): to the nearest multiple of 8, at least ``min_value`` (default 8),
      never more than 10 % below the product (:func:`make_divisible`; TensorFlow's MobileNetV2 and
      EfficientNet code, as torchvision). The course's VGG, AlexNet, Inception and ResNeXt CIFAR
      nets use it too.
    - ``divisor=None``: truncated, ``int(channels * width)``, at least ``min_value`` (default 1):
      MobileNet v1 (``min_value=8``, as Keras' ``MobileNet``), SqueezeNext and RepVGG (their
      official code).

    The CIFAR zoo uses narrower nets (e.g. ``width=0.5``: about a quarter of the multiply-adds)
    to train on a 2-core CPU.
    """
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    if width == 1:
        return channels
    if divisor is None:
        return max(min_value or 1, int(channels * width))
    return make_divisible(channels * width, divisor, min_value)


def resolve_width(width: float, width_mult: float | None, builder: str) -> float:
    """The width multiplier of a builder that also accepts ``width_mult``, the deprecated name of ``width``.

    Stored zoo entries and logs still pass ``width_mult``; it keeps working, with a ``DeprecationWarning``.
    """
    if width_mult is None:
        return width
    if width != 1.0:
        raise TypeError(
            f"{builder}() got width={width} and width_mult={width_mult}; width_mult is the old name of width: "
            "pass width only"
        )
    warnings.warn(f"{builder}(width_mult=...) is deprecated: use width=...", DeprecationWarning, stacklevel=3)
    return width_mult


class ConvNormAct(nn.Sequential):
    """Convolution -> normalisation -> activation, with "same" padding computed from the kernel.

    ``norm_layer=None`` or ``activation=None`` leave that part out (the conv then gets a bias
    unless ``bias`` says otherwise).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | None = None,
        groups: int = 1,
        dilation: int = 1,
        norm_layer: type[nn.Module] | None = nn.BatchNorm2d,
        activation: type[nn.Module] | None = nn.ReLU,
        inplace: bool | None = True,
        bias: bool | None = None,
    ) -> None:
        if padding is None:
            padding = same_padding(kernel_size, dilation)
        if bias is None:
            bias = norm_layer is None
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels, out_channels, kernel_size, stride, padding, dilation=dilation, groups=groups, bias=bias
            )
        ]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if activation is not None:
            layers.append(activation(inplace=inplace) if inplace is not None else activation())
        super().__init__(*layers)
        self.out_channels = out_channels


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018, https://arxiv.org/abs/1709.01507), Eq. 2-4.

    ``s = scale_activation(fc2(activation(fc1(avgpool(x)))))``, output ``x * s`` per channel;
    the two fully connected layers are 1x1 convolutions on the pooled 1x1 map.
    """

    def __init__(
        self,
        channels: int,
        squeeze_channels: int,
        activation: type[nn.Module] = nn.ReLU,
        scale_activation: type[nn.Module] = nn.Sigmoid,
    ) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def scale(self, x: Tensor) -> Tensor:
        """The per-channel weights s, N x C x 1 x 1 (what chapter 07 visualises)."""
        s = self.avgpool(x)  # squeeze: N x C x 1 x 1
        s = self.activation(self.fc1(s))  # N x C/r x 1 x 1
        return self.scale_activation(self.fc2(s))  # excitation: N x C x 1 x 1

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale(x)


class StochasticDepth(nn.Module):
    """Stochastic depth (Huang et al. 2016, https://arxiv.org/abs/1603.09382): in training, drop a residual
    branch at random, so that the network is shallower on each step; put it on the branch, before the addition.

    ``p`` is the drop probability (the survival probability is ``1 - p``). ``mode``: ``"row"`` drops
    each sample's branch on its own, ``"batch"`` the branch of the whole mini-batch at once (the
    paper's). The two forms differ in where the expected value is restored, as dropout's do:

    - ``inverted=True`` (torchvision's ``StochasticDepth``, EfficientNet): in training the
      surviving branches are scaled by ``1 / (1 - p)``, so evaluation is the identity;
    - ``inverted=False`` (the paper, Eq. 5): no rescaling in training; in evaluation the branch is
      multiplied by its survival probability ``1 - p``, its expectation.

    Both compute the same expected branch; evaluation is deterministic. The dropped branch is still
    computed and multiplied by 0 (its parameters get a zero gradient; BN running statistics still
    update); the paper skips it, which is where its training speed-up comes from.
    """

    def __init__(self, p: float, mode: str = "row", inverted: bool = True) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"the drop probability p must be in [0, 1]; got {p}")
        if mode not in ("batch", "row"):
            raise ValueError(f"mode must be 'batch' (whole mini-batch) or 'row' (per sample); got {mode!r}")
        self.p, self.mode, self.inverted = p, mode, inverted

    @property
    def survival_prob(self) -> float:
        """1 - p: the probability that the branch is kept (the paper's p_l)."""
        return 1.0 - self.p

    def forward(self, x: Tensor) -> Tensor:
        keep = 1.0 - self.p
        if not self.training:
            return x if self.inverted or self.p == 0.0 else x * keep  # the paper: the expectation
        if self.p == 0.0:
            return x
        shape = [x.shape[0]] + [1] * (x.dim() - 1) if self.mode == "row" else [1] * x.dim()
        mask = x.new_empty(shape).bernoulli_(keep)  # 1: survives, 0: dropped (N x 1 x 1 x 1 or 1 x 1 x 1 x 1)
        return x * mask / keep if self.inverted and keep > 0 else x * mask

    def extra_repr(self) -> str:
        return f"p={self.p:.4g}, mode={self.mode!r}, inverted={self.inverted}"


def init_conv_bn_linear(
    model: nn.Module,
    *,
    conv: str = "kaiming_normal",
    conv_mode: str = "fan_out",
    conv_nonlinearity: str = "relu",
    conv_std: float = 0.01,
    zero_conv_bias: bool = True,
    norm: bool = True,
    linear: str | None = "normal",
    linear_std: float = 0.01,
    zero_linear_bias: bool | None = None,
) -> None:
    """Initialise every ``Conv2d``, ``BatchNorm2d`` and ``Linear`` of ``model``, in module order.

    The defaults are torchvision's VGG/MobileNet init: He (Kaiming) normal, fan-out convolutions
    (He et al. 2015, https://arxiv.org/abs/1502.01852), BN weight 1 / bias 0, linear N(0, 0.01),
    zero biases.

    Args:
        conv: ``"kaiming_normal"``, ``"kaiming_uniform"`` (both with ``conv_mode`` and
            ``conv_nonlinearity``) or ``"normal"`` (N(0, ``conv_std``); a module's own ``stddev``
            attribute overrides ``conv_std``, torchvision's Inception convention).
        zero_conv_bias: zero the convolutions' biases (those that have one).
        norm: set the weight 1 and bias 0 of each affine BN (PyTorch's default, so a no-op on a
            freshly built model).
        linear: ``"normal"`` (N(0, ``linear_std``)), ``"uniform"`` (U(-1/sqrt(out), 1/sqrt(out)),
            TensorFlow's dense initialiser as torchvision's EfficientNet), ``"conv"`` (the same
            as the convolutions) or ``None`` (PyTorch's default weights).
        zero_linear_bias: zero the linear layers' biases; ``None``: whenever ``linear`` is set.
    """
    if zero_linear_bias is None:
        zero_linear_bias = linear is not None

    def init_like_conv(m: nn.Conv2d | nn.Linear) -> None:
        if conv == "kaiming_normal":
            nn.init.kaiming_normal_(m.weight, mode=conv_mode, nonlinearity=conv_nonlinearity)
        elif conv == "kaiming_uniform":
            nn.init.kaiming_uniform_(m.weight, mode=conv_mode, nonlinearity=conv_nonlinearity)
        elif conv == "normal":
            nn.init.normal_(m.weight, mean=0.0, std=float(getattr(m, "stddev", conv_std)))
        else:
            raise ValueError(f"conv must be 'kaiming_normal', 'kaiming_uniform' or 'normal'; got {conv!r}")

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            init_like_conv(m)
            if zero_conv_bias and m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            if norm and m.affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            if linear == "normal":
                nn.init.normal_(m.weight, 0, linear_std)
            elif linear == "uniform":
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
            elif linear == "conv":
                init_like_conv(m)
            elif linear is not None:
                raise ValueError(f"linear must be 'normal', 'uniform', 'conv' or None; got {linear!r}")
            if zero_linear_bias and m.bias is not None:
                nn.init.zeros_(m.bias)


def imagenet_to_tensorflow_range(x: Tensor) -> Tensor:
    """Images normalised with ImageNet's mean/std -> ``(x - 0.5) / 0.5``, the input of Google's original
    TensorFlow weights (torchvision's ``transform_input`` of GoogLeNet and Inception-v3)."""
    mean = x.new_tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = x.new_tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return x * (std / 0.5) + (mean - 0.5) / 0.5
