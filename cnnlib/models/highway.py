"""Highway networks (Srivastava, Greff, Schmidhuber 2015).

Highway Networks, ICML 2015 Deep Learning Workshop, https://arxiv.org/abs/1505.00387;
full paper: Training Very Deep Networks, NeurIPS 2015, https://arxiv.org/abs/1507.06228

A highway layer mixes its transform H(x) with its input through a learned gate:

    y = H(x) * T(x) + x * (1 - T(x)),    T(x) = sigmoid(W_T x + b_T)

T is the "transform gate", 1 - T the "carry gate". With b_T initialised negative
(the paper: "e.g. -1, -3"; deeper nets more negative) a fresh layer mostly carries
its input, so information and gradients cross many layers: highway nets of 100
layers train with plain SGD where plain nets stall (the paper's Fig. 1). A
residual block is the gate-free special case y = F(x) + x (He et al., half a year
later). The convolutional layer uses the same kernel size for H and T, with zero
padding so x, H(x) and T(x) have the same shape; a plain layer changes the width
where needed.

CIFAR-10 nets (REFERENCES.md: 19 layers, 2.3 M parameters, 92.46 % accuracy;
32 layers, 1.25 M, 91.20 %). The paper builds them after FitNets but its layer
table was not available to us, so this is a documented minimal adaptation with
the same depth and about the same size: three stages, each a plain 3x3
conv-ReLU that sets the width followed by n 3x3 highway layers; 2x2 max pooling
after the first two stages; global average pooling and a linear layer (no BN, no
dropout, as in 2015). Depth counts the weighted layers on the main path (a gate
is not a layer): sum(1 + n) + 1.

    # stage: (channels, highway layers)           depth  parameters (ours)  paper
    HIGHWAY_CIFAR[19] = [(32, 5), (80, 5), (128, 5)]   19    2,262,714        2.3 M
    HIGHWAY_CIFAR[32] = [(16, 10), (32, 9), (80, 9)]   32    1,280,122        1.25 M

``HighwayMLP`` is the fully connected version of the paper's MNIST experiments
(width 50, a plain first layer, then highway layers). It is not in the registry,
whose models all start with a convolution: build it directly.

Gate values are inspectable: every highway layer keeps ``last_gate_mean`` (the mean
of T per channel or unit over the last batch) and ``transform_gate(x)``; the
models' ``gate_means()`` lists them layer by layer (chapter 05 plots them).
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch import Tensor

from ._checks import check_input
from .blocks import ConvNormAct, init_conv_bn_linear, same_padding
from .registry import register_model

__all__ = [
    "HIGHWAY_CIFAR",
    "HighwayConv2d",
    "HighwayLinear",
    "HighwayNet",
    "HighwayMLP",
    "init_weights",
    "highway19",
    "highway32",
]

# (channels, highway layers) per stage; each stage opens with one plain 3x3 conv to that width.
HIGHWAY_CIFAR: dict[int, list[tuple[int, int]]] = {
    19: [(32, 5), (80, 5), (128, 5)],
    32: [(16, 10), (32, 9), (80, 9)],
}
DEFAULT_GATE_BIAS = -2.0  # b_T at initialisation; the paper: "e.g. -1, -3"


def highway(h: Tensor, t: Tensor, x: Tensor) -> Tensor:
    """The highway formula y = H(x) T(x) + x (1 - T(x)) (paper, Eq. 3)."""
    return h * t + x * (1.0 - t)


class HighwayConv2d(nn.Module):
    """Convolutional highway layer: H = relu(conv), T = sigmoid(conv), same kernel, same width.

    The kernel must be odd: H(x) and T(x) need x's shape, and only an odd kernel keeps it with
    symmetric "same" padding.
    """

    def __init__(self, channels: int, kernel_size: int = 3, activation: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(
                f"a highway layer needs an odd kernel, so that H(x) and T(x) keep x's shape; got {kernel_size}"
            )
        padding = same_padding(kernel_size)
        self.transform = nn.Conv2d(channels, channels, kernel_size, padding=padding)  # H
        self.gate = nn.Conv2d(channels, channels, kernel_size, padding=padding)  # T
        self.activation = activation()
        self.last_gate_mean: Tensor | None = None  # mean T per channel, last forward

    def transform_gate(self, x: Tensor) -> Tensor:
        """T(x) in (0, 1), N x C x H x W: 0 carries the input, 1 transforms it."""
        return torch.sigmoid(self.gate(x))

    def forward(self, x: Tensor) -> Tensor:
        h = self.activation(self.transform(x))  # N x C x H x W
        t = self.transform_gate(x)  # N x C x H x W
        self.last_gate_mean = t.detach().mean(dim=(0, 2, 3))  # C
        return highway(h, t, x)


class HighwayLinear(nn.Module):
    """Fully connected highway layer: H = activation(linear), T = sigmoid(linear)."""

    def __init__(self, features: int, activation: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        self.transform = nn.Linear(features, features)  # H
        self.gate = nn.Linear(features, features)  # T
        self.activation = activation()
        self.last_gate_mean: Tensor | None = None  # mean T per unit, last forward

    def transform_gate(self, x: Tensor) -> Tensor:
        """T(x) in (0, 1), N x features."""
        return torch.sigmoid(self.gate(x))

    def forward(self, x: Tensor) -> Tensor:
        h = self.activation(self.transform(x))  # N x features
        t = self.transform_gate(x)  # N x features
        self.last_gate_mean = t.detach().mean(dim=0)  # features
        return highway(h, t, x)


def _gate_means(model: nn.Module) -> list[Tensor]:
    layers = [m for m in model.modules() if isinstance(m, (HighwayConv2d, HighwayLinear))]
    if any(m.last_gate_mean is None for m in layers):
        raise RuntimeError("run a forward pass first: gate means are recorded during forward")
    return [m.last_gate_mean for m in layers]


class HighwayNet(nn.Module):
    """Convolutional highway network for CIFAR (see the module docstring for the adaptation).

    Args:
        stages: (channels, highway layers) per stage (``HIGHWAY_CIFAR``).
        highway: ``False`` replaces each highway layer by a plain conv-ReLU (the paper's
            "plain" baseline of the same depth; its gates then do not exist).
        gate_bias: initial b_T of every gate.
    """

    def __init__(
        self,
        stages: list[tuple[int, int]],
        num_classes: int = 10,
        in_channels: int = 3,
        *,
        highway: bool = True,
        gate_bias: float = DEFAULT_GATE_BIAS,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        features = []
        channels = in_channels
        for i, (width, n) in enumerate(stages):
            layers: list[nn.Module] = [ConvNormAct(channels, width, 3, norm_layer=None)]  # plain: sets the width
            for _ in range(n):
                layers.append(HighwayConv2d(width) if highway else ConvNormAct(width, width, 3, norm_layer=None))
            if i < len(stages) - 1:
                layers.append(nn.MaxPool2d(2))
            features.append(nn.Sequential(*layers))
            channels = width
        self.features = nn.Sequential(*features)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        init_weights(self, gate_bias=gate_bias)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model=type(self).__name__, in_channels=self.in_channels, min_size=4)
        x = self.features[0](x)  # N x C1 x 16 x 16 (conv, highway layers, max pool)
        x = self.features[1](x)  # N x C2 x 8 x 8
        return self.features[2](x)  # N x C3 x 8 x 8

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """The last maps -> logits; ``pre_logits=True``: the globally averaged maps, N x C3, that ``fc`` receives."""
        x = torch.flatten(self.pool(x), 1)  # N x C3
        return x if pre_logits else self.fc(x)  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def gate_means(self) -> list[Tensor]:
        """Per highway layer, in order: mean transform-gate value per channel in the last forward pass."""
        return _gate_means(self)


class HighwayMLP(nn.Module):
    """Fully connected highway network for MNIST (the paper's Fig. 1 / Fig. 2 experiments).

    A plain layer ``in_features -> width``, ``num_highway_layers`` highway layers of ``width``
    units, a linear output layer. ``highway=False`` gives the plain net of the same depth.
    """

    def __init__(
        self,
        num_highway_layers: int = 9,
        width: int = 50,
        in_shape: tuple[int, int, int] = (1, 28, 28),
        num_classes: int = 10,
        *,
        highway: bool = True,
        gate_bias: float = DEFAULT_GATE_BIAS,
        activation: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.in_shape = in_shape
        c, h, w = in_shape
        layers: list[nn.Module] = [nn.Flatten(), nn.Linear(c * h * w, width), activation()]
        for _ in range(num_highway_layers):
            layers += [HighwayLinear(width, activation)] if highway else [nn.Linear(width, width), activation()]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(width, num_classes)
        init_weights(self, gate_bias=gate_bias)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model=type(self).__name__, in_channels=self.in_shape[0], exact_size=self.in_shape[1:])
        return self.features(x)  # N x width

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """The last highway layer's N x width output -> logits; ``pre_logits=True`` returns it unchanged."""
        return x if pre_logits else self.fc(x)  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def gate_means(self) -> list[Tensor]:
        """Per highway layer, in order: mean transform-gate value per unit in the last forward pass."""
        return _gate_means(self)


def init_weights(model: nn.Module, gate_bias: float = DEFAULT_GATE_BIAS) -> None:
    """He normal (fan-in) weights and zero biases; every gate's bias set to ``gate_bias``.

    Fan-in scaling keeps the forward signal's variance in a net without BN (He et al. 2015,
    https://arxiv.org/abs/1502.01852); the negative gate bias is the paper's (Sec. 2.2 of
    arXiv:1505.00387), which otherwise leaves the initialisation open.
    """
    init_conv_bn_linear(model, conv_mode="fan_in", linear="conv")
    for m in model.modules():
        if isinstance(m, (HighwayConv2d, HighwayLinear)):
            nn.init.constant_(m.gate.bias, gate_bias)


_META = dict(
    family="highway",
    scale="cifar",
    input_size=(3, 32, 32),
    first_conv="features.0.0.0",
    classifier="fc",
    gradcam_layer="features.2",
    paper="Srivastava, Greff, Schmidhuber 2015, https://arxiv.org/abs/1505.00387",
)


@register_model(**_META)
def highway19(
    num_classes: int = 10, in_channels: int = 3, highway: bool = True, gate_bias: float = DEFAULT_GATE_BIAS, **kwargs
) -> HighwayNet:
    """19-layer convolutional highway net for CIFAR: 2,262,714 parameters (paper: 2.3 M, 92.46 %)."""
    return HighwayNet(HIGHWAY_CIFAR[19], num_classes, in_channels, highway=highway, gate_bias=gate_bias, **kwargs)


@register_model(**_META)
def highway32(
    num_classes: int = 10, in_channels: int = 3, highway: bool = True, gate_bias: float = DEFAULT_GATE_BIAS, **kwargs
) -> HighwayNet:
    """32-layer convolutional highway net for CIFAR: 1,280,122 parameters (paper: 1.25 M, 91.20 %)."""
    return HighwayNet(HIGHWAY_CIFAR[32], num_classes, in_channels, highway=highway, gate_bias=gate_bias, **kwargs)
