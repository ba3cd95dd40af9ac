"""RepVGG: train with branches, deploy as a plain stack of 3x3 convolutions (Ding et al. 2021).

RepVGG: Making VGG-style ConvNets Great Again, CVPR 2021. https://arxiv.org/abs/2101.03697
Official code: https://github.com/DingXiaoH/RepVGG (``repvgg.py``).

The idea in one sentence: a multi-branch block is easy to *train*, a single 3x3 convolution is
fast to *run*, and because every branch is linear up to the ReLU, the first can be rewritten as
the second after training ("structural re-parameterisation", Sec. 3.3 and Fig. 4).

Training-time block (Fig. 2b), for input x with C_in channels:

    y = ReLU( BN(conv3x3(x)) + BN(conv1x1(x)) + BN(x) )
                                                 ^ only when C_in == C_out and stride == 1

Inference-time block (Fig. 2c): ``y = ReLU(conv3x3'(x) + b')``, one convolution with bias.
The conversion, step by step (``RepVGGBlock.equivalent_kernel_bias``):

1. fuse each convolution with its BN: BN(W * x) = (gamma / sigma) W * x + (beta - mu gamma / sigma)
   (Eq. 3-4; sigma = sqrt(running_var + eps), the *running* statistics, i.e. the eval-mode BN);
2. pad the 1x1 kernel with zeros to a 3x3 kernel (same stride, padding 1 instead of 0: the
   same output positions);
3. write the identity as a 3x3 kernel: a 1 in the centre of channel i's filter for input
   channel i, zeros elsewhere; then fuse it with its BN like step 1;
4. add the three kernels and the three biases.

Architecture (paper Table 2 and Sec. 3.4): five stages, the first layer of each has stride 2
(no max pooling), then global average pooling and one linear layer. a scales stages 1-4, b
the last stage:

    stage  output at 224 px   layers A / B   channels
    1      112 x 112          1  / 1         min(64, 64a)
    2      56 x 56            2  / 4         64a
    3      28 x 28            4  / 6         128a
    4      14 x 14            14 / 16        256a
    5      7 x 7              1  / 1         512b

    model   a     b      parameters at 1000 classes, ours     published deploy count (paper
                         train-time / deploy                   Tables 4-5, truncated to 0.01 M)
    A0      0.75  2.5    9,108,968 / 8,309,384                  8.30 M  (REFERENCES.md: 9.11 M / 8.31 M)
    A1      1     2.5    14,092,264 / 12,789,864                12.78 M
    A2      1.5   2.75   28,210,600 / 25,499,944                25.49 M
    B0      1     2.5    15,817,960 / 14,339,048                14.33 M
    B1      2     4      57,415,016 / 51,829,480                51.82 M
    B2      2.5   5      89,022,376 / 80,315,112                80.31 M
    B3      3     5      123,085,288 / 110,960,872              110.96 M

The same integers come out of the official code's structure. Keras ports report 9,132,616
train-time parameters for A0 (hoangthang1607/RepVGG-Tensorflow-2, kimm): Keras also counts
BN's running mean and variance (23,648 numbers in A0), which PyTorch keeps as buffers.
Fusion removes 799,584 parameters from A0: every BN (gamma, beta) and the 1x1 kernels,
and adds one bias per convolution.

The groupwise variants (B1g2, B1g4, ...: grouped 3x3 convolutions in every second layer) and
RepVGG-D2se are not built here.

CIFAR variant (3 x 32 x 32, not in the paper): RepVGG-A0's widths and depths with stride 1 in
stages 1 and 2, so the network downsamples 8x instead of 32x and the last feature map is 4x4,
as kuangliu/pytorch-cifar's ResNet-18 and this package's MobileNet CIFAR variants. At 10
classes: 7,840,874 parameters to train, 7,041,194 after fusion.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_input
from .blocks import ConvNormAct, init_conv_bn_linear, scale_channels
from .registry import register_model

__all__ = [
    "REPVGG_VARIANTS",
    "RepVGG",
    "RepVGGBlock",
    "RepVGGConfig",
    "fuse_conv_bn",
    "identity_kernel",
    "official_key",
    "pad_1x1_to_3x3",
    "reparameterized",
    "repvgg_a0",
    "repvgg_a0_cifar",
    "repvgg_a1",
    "repvgg_b0",
]


@dataclass(frozen=True)
class RepVGGConfig:
    """One row of the paper's Table 3: layers per stage and the two width multipliers."""

    depths: tuple[int, int, int, int, int]  # layers in stages 1..5
    a: float  # width multiplier of stages 1-4
    b: float  # width multiplier of stage 5

    def __post_init__(self) -> None:
        if len(self.depths) != 5 or self.depths[0] != 1:
            raise ValueError(
                f"RepVGG has five stages and stage 1 is a single layer (Table 2); got depths {self.depths}"
            )

    @property
    def widths(self) -> tuple[int, int, int, int, int]:
        """Output channels of stages 1..5 (Table 2): 64a (at most 64), 64a, 128a, 256a, 512b.

        Truncated to integers as the official code does (``scale_channels`` with ``divisor=None``).
        """
        a, b = self.a, self.b
        c1, c2, c3, c4 = (scale_channels(c, a, divisor=None) for c in (64, 64, 128, 256))
        return (min(64, c1), c2, c3, c4, scale_channels(512, b, divisor=None))


_A_DEPTHS = (1, 2, 4, 14, 1)
_B_DEPTHS = (1, 4, 6, 16, 1)
# Paper Table 3.
REPVGG_VARIANTS: dict[str, RepVGGConfig] = {
    "A0": RepVGGConfig(depths=_A_DEPTHS, a=0.75, b=2.5),
    "A1": RepVGGConfig(depths=_A_DEPTHS, a=1.0, b=2.5),
    "A2": RepVGGConfig(depths=_A_DEPTHS, a=1.5, b=2.75),
    "B0": RepVGGConfig(depths=_B_DEPTHS, a=1.0, b=2.5),
    "B1": RepVGGConfig(depths=_B_DEPTHS, a=2.0, b=4.0),
    "B2": RepVGGConfig(depths=_B_DEPTHS, a=2.5, b=5.0),
    "B3": RepVGGConfig(depths=_B_DEPTHS, a=3.0, b=5.0),
}

IMAGENET_STRIDES = (2, 2, 2, 2, 2)  # stride of the first layer of stages 1..5: 224 -> 7
CIFAR_STRIDES = (1, 1, 2, 2, 2)  # 32 -> 4


# --------------------------------------------------------------------------- re-parameterisation, step by step


def fuse_conv_bn(kernel: Tensor, bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """Step 1: ``BN(conv(x, kernel))`` as one convolution ``conv(x, kernel') + bias'`` (Eq. 3-4).

    In eval mode BN computes ``(z - mu) * gamma / sigma + beta`` per output channel, with
    ``sigma = sqrt(running_var + eps)``. Scaling channel i of ``z = conv(x, W)`` by
    ``gamma_i / sigma_i`` is the same as scaling filter ``W[i]``, and the rest is a bias.
    """
    sigma = torch.sqrt(bn.running_var + bn.eps)  # C_out
    scale = bn.weight / sigma  # C_out
    fused_kernel = kernel * scale.reshape(-1, 1, 1, 1)  # C_out x C_in x k x k
    fused_bias = bn.bias - bn.running_mean * scale  # C_out
    return fused_kernel, fused_bias


def pad_1x1_to_3x3(kernel: Tensor) -> Tensor:
    """Step 2: a 1x1 kernel (padding 0) is a 3x3 kernel (padding 1) that is zero off-centre."""
    return F.pad(kernel, [1, 1, 1, 1])  # C_out x C_in x 1 x 1 -> C_out x C_in x 3 x 3


def identity_kernel(channels: int, like: Tensor) -> Tensor:
    """Step 3: the identity as a 3x3 convolution: output channel i copies input channel i."""
    kernel = torch.zeros(channels, channels, 3, 3, dtype=like.dtype, device=like.device)
    for i in range(channels):
        kernel[i, i, 1, 1] = 1.0  # the centre tap of the filter that reads channel i
    return kernel


# --------------------------------------------------------------------------- the block


class RepVGGBlock(nn.Module):
    """3x3 conv-BN + 1x1 conv-BN (+ identity BN when shapes allow), summed, then ReLU.

    After :meth:`reparameterize` (or when built with ``deploy=True``) the branches are gone and
    the block is ``ReLU(fused(x))``, one 3x3 convolution with bias.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, deploy: bool = False) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.conv3x3: nn.Module | None = None
        self.conv1x1: nn.Module | None = None
        self.identity: nn.BatchNorm2d | None = None
        self.fused: nn.Conv2d | None = None
        if deploy:
            self.fused = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=True)
        else:
            self.conv3x3 = ConvNormAct(in_channels, out_channels, 3, stride, activation=None)  # 0 conv, 1 BN
            self.conv1x1 = ConvNormAct(in_channels, out_channels, 1, stride, activation=None)  # padding 0
            if in_channels == out_channels and stride == 1:
                self.identity = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    @property
    def is_fused(self) -> bool:
        return self.fused is not None

    def forward(self, x: Tensor) -> Tensor:
        if self.fused is not None:
            return self.relu(self.fused(x))  # N x C_out x H/s x W/s
        out = self.conv3x3(x) + self.conv1x1(x)  # N x C_out x H/s x W/s
        if self.identity is not None:
            out = out + self.identity(x)
        return self.relu(out)

    def equivalent_kernel_bias(self) -> tuple[Tensor, Tensor]:
        """The one 3x3 kernel and bias equal to the three branches (steps 1-4 of the module docstring).

        Differentiable, as the official ``get_equivalent_kernel_bias``; always uses the BNs'
        running statistics, so it reproduces the block in eval mode.
        """
        if self.fused is not None:
            return self.fused.weight, self.fused.bias
        conv, bn = self.conv3x3[0], self.conv3x3[1]
        kernel, bias = fuse_conv_bn(conv.weight, bn)  # step 1, 3x3 branch
        conv, bn = self.conv1x1[0], self.conv1x1[1]
        kernel_1x1, bias_1x1 = fuse_conv_bn(conv.weight, bn)  # step 1, 1x1 branch
        kernel = kernel + pad_1x1_to_3x3(kernel_1x1)  # step 2, then step 4
        bias = bias + bias_1x1
        if self.identity is not None:
            kernel_id, bias_id = fuse_conv_bn(identity_kernel(self.in_channels, like=kernel), self.identity)  # step 3
            kernel = kernel + kernel_id  # step 4
            bias = bias + bias_id
        return kernel, bias

    @torch.no_grad()
    def reparameterize(self) -> RepVGGBlock:
        """Replace the branches by one 3x3 convolution, in place; returns the block.

        Well-defined in any mode: the fused convolution equals the block's *eval-mode* output
        (BN with running statistics), the same function the model computes after ``.eval()``.
        A second call is a no-op (the block is already fused).
        """
        if self.fused is not None:
            return self
        kernel, bias = self.equivalent_kernel_bias()
        fused = nn.Conv2d(self.in_channels, self.out_channels, 3, self.stride, padding=1, bias=True)
        fused = fused.to(device=kernel.device, dtype=kernel.dtype)
        fused.weight.copy_(kernel)
        fused.bias.copy_(bias)
        self.fused = fused
        self.conv3x3 = self.conv1x1 = self.identity = None
        return self


# --------------------------------------------------------------------------- the model


class RepVGG(nn.Module):
    """RepVGG: five stages of :class:`RepVGGBlock`, global average pooling, one linear layer.

    Args:
        config: depths and width multipliers (a row of ``REPVGG_VARIANTS``).
        num_classes: outputs of the linear layer.
        strides: stride of the first layer of each of the five stages.
        in_channels: image channels.
        deploy: build the fused (inference-time) form directly, e.g. to load a fused checkpoint.
        name: used in error messages.
    """

    def __init__(
        self,
        config: RepVGGConfig,
        num_classes: int = 1000,
        strides: tuple[int, int, int, int, int] = IMAGENET_STRIDES,
        in_channels: int = 3,
        deploy: bool = False,
        name: str = "RepVGG",
    ) -> None:
        super().__init__()
        self.config, self.in_channels, self.name = config, in_channels, name
        self.downsampling = 1
        for s in strides:
            self.downsampling *= s
        stages: list[nn.Module] = []
        channels = in_channels
        for depth, width, stride in zip(config.depths, config.widths, strides):
            blocks = []
            for i in range(depth):
                blocks.append(RepVGGBlock(channels, width, stride if i == 0 else 1, deploy=deploy))
                channels = width
            stages.append(nn.Sequential(*blocks))
        # stage0 is its one block itself, the others nn.Sequential: the official code's state_dict keys
        self.stage0 = stages[0][0]
        self.stage1, self.stage2, self.stage3, self.stage4 = stages[1:]
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model=self.name, in_channels=self.in_channels, min_size=self.downsampling)
        # RepVGG-A0 at 224 px                   | CIFAR variant at 32 px
        x = self.stage0(x)  # N x 48 x 112 x 112    | N x 48 x 32 x 32
        x = self.stage1(x)  # N x 48 x 56 x 56      | N x 48 x 32 x 32
        x = self.stage2(x)  # N x 96 x 28 x 28      | N x 96 x 16 x 16
        x = self.stage3(x)  # N x 192 x 14 x 14     | N x 192 x 8 x 8
        return self.stage4(x)  # N x 1280 x 7 x 7   | N x 1280 x 4 x 4

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """The last maps -> logits; ``pre_logits=True``: the globally averaged maps, N x 1280 (A0), that
        ``fc`` receives."""
        x = torch.flatten(self.pool(x), 1)  # N x 1280
        return x if pre_logits else self.fc(x)  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    @property
    def is_fused(self) -> bool:
        return all(block.is_fused for block in self.modules() if isinstance(block, RepVGGBlock))

    def reparameterize(self) -> RepVGG:
        """Fuse every block in place (see :meth:`RepVGGBlock.reparameterize`); returns the model.

        Afterwards the network is a plain stack of 3x3 convolutions and ReLUs (paper Fig. 2c).
        The BNs are gone, so ``train()``/``eval()`` no longer change what it computes.
        """
        for block in self.modules():
            if isinstance(block, RepVGGBlock):
                block.reparameterize()
        return self


def reparameterized(model: nn.Module) -> nn.Module:
    """A fused copy of ``model`` (any module containing RepVGG blocks); ``model`` is left as it was."""
    fused = copy.deepcopy(model)
    for block in fused.modules():
        if isinstance(block, RepVGGBlock):
            block.reparameterize()
    return fused


def init_weights(model: nn.Module) -> None:
    """He normal (fan_out) convolutions and BN gamma = 1, beta = 0.

    The paper does not state an initialisation and the official code keeps PyTorch's default;
    we use torchvision's ResNet/VGG choice, as the rest of this package.
    """
    init_conv_bn_linear(model, linear=None)


_OFFICIAL_NAMES = [
    ("rbr_dense.conv.", "conv3x3.0."),
    ("rbr_dense.bn.", "conv3x3.1."),
    ("rbr_1x1.conv.", "conv1x1.0."),
    ("rbr_1x1.bn.", "conv1x1.1."),
    ("rbr_identity.", "identity."),
    ("rbr_reparam.", "fused."),
    ("linear.", "fc."),
]


def official_key(key: str) -> str:
    """Our ``state_dict`` key for a key of the official code (DingXiaoH/RepVGG ``repvgg.py``).

    ``{official_key(k): v for k, v in official_state.items()}`` loads an official train-time
    or deploy checkpoint into the matching builder (``deploy=True`` for a deploy checkpoint).
    """
    for theirs, ours in _OFFICIAL_NAMES:
        key = key.replace(theirs, ours)
    return key


# --------------------------------------------------------------------------- builders


def _repvgg(
    variant: str, num_classes: int, deploy: bool, in_channels: int, cifar: bool = False, width: float = 1.0, **kwargs
) -> RepVGG:
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    config = REPVGG_VARIANTS[variant]
    return RepVGG(
        replace(config, a=config.a * width, b=config.b * width),
        num_classes=num_classes,
        strides=CIFAR_STRIDES if cifar else IMAGENET_STRIDES,
        in_channels=in_channels,
        deploy=deploy,
        name=f"RepVGG-{variant}" + (" (CIFAR)" if cifar else ""),
        **kwargs,
    )


_PAPER = "Ding et al. 2021, https://arxiv.org/abs/2101.03697"
_META = dict(family="repvgg", first_conv="stage0.conv3x3.0", classifier="fc", gradcam_layer="stage4", paper=_PAPER)
_IMAGENET = dict(scale="imagenet", input_size=(3, 224, 224), num_classes=1000, test_size=(3, 64, 64), **_META)
_CIFAR = dict(scale="cifar", input_size=(3, 32, 32), num_classes=10, **_META)
# Every builder passes its other keyword arguments to :class:`RepVGG`.


@register_model(**_IMAGENET)
def repvgg_a0(num_classes: int = 1000, deploy: bool = False, in_channels: int = 3, **kwargs) -> RepVGG:
    """RepVGG-A0: 9,108,968 parameters to train, 8,309,384 after fusion (paper: 8.30 M, 72.41 % top-1)."""
    return _repvgg("A0", num_classes, deploy, in_channels, **kwargs)


@register_model(**_IMAGENET)
def repvgg_a1(num_classes: int = 1000, deploy: bool = False, in_channels: int = 3, **kwargs) -> RepVGG:
    """RepVGG-A1: 14,092,264 parameters to train, 12,789,864 after fusion (paper: 12.78 M, 74.46 %)."""
    return _repvgg("A1", num_classes, deploy, in_channels, **kwargs)


@register_model(**_IMAGENET)
def repvgg_b0(num_classes: int = 1000, deploy: bool = False, in_channels: int = 3, **kwargs) -> RepVGG:
    """RepVGG-B0: 15,817,960 parameters to train, 14,339,048 after fusion (paper: 14.33 M, 75.14 %)."""
    return _repvgg("B0", num_classes, deploy, in_channels, **kwargs)


@register_model(**_CIFAR)
def repvgg_a0_cifar(
    num_classes: int = 10, deploy: bool = False, in_channels: int = 3, width: float = 1.0, **kwargs
) -> RepVGG:
    """RepVGG-A0 for 32x32: stride 1 in stages 1-2, 8x downsampling (4x4 final maps); see the module docstring.

    ``width`` multiplies both of the paper's width multipliers a and b (0.5: stages of 24-24-48-96-640 channels).
    """
    return _repvgg("A0", num_classes, deploy, in_channels, cifar=True, width=width, **kwargs)
