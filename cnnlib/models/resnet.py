"""Residual networks (He, Zhang, Ren, Sun 2015), their plain twins and their descendants.

Deep Residual Learning for Image Recognition, CVPR 2016. https://arxiv.org/abs/1512.03385

A residual block computes ``y = relu(F(x) + shortcut(x))``: the layers learn the
residual F(x) = H(x) - x, and the gradient reaching x always contains the
identity term, dL/dx = dL/dy * (F'(x) + 1). A "plain" network is the same stack
without the shortcuts.

ImageNet (Table 1 of the paper; 224 x 224 input, output sizes for that input):

    stage    output   18-layer      34-layer      50-layer           101-layer   152-layer
    conv1    112x112  7x7, 64, stride 2
    conv2_x  56x56    3x3 max pool, stride 2
                      [3x3, 64]x2   [3x3, 64]x3   [1x1,64 3x3,64 1x1,256]x3       x3          x3
    conv3_x  28x28    [3x3,128]x2   [3x3,128]x4   [1x1,128 3x3,128 1x1,512]x4     x4          x8
    conv4_x  14x14    [3x3,256]x2   [3x3,256]x6   [1x1,256 3x3,256 1x1,1024]x6    x23         x36
    conv5_x  7x7      [3x3,512]x2   [3x3,512]x3   [1x1,512 3x3,512 1x1,2048]x3    x3          x3
             1x1      global average pool, 1000-way fc, softmax
    parameters        11,689,512    21,797,672    25,557,032         44,549,160  60,192,808   (torchvision)

18/34 use the basic block (two 3x3 convs), 50/101/152 the bottleneck (1x1 down
to "planes", 3x3, 1x1 up to 4 x planes). Where the shape changes, the shortcut
is a 1x1 convolution with stride 2 plus BN ("option B", Sec. 3.3). As in
torchvision ("ResNet v1.5"), a bottleneck's stride sits on its 3x3 conv (the
paper put it on the first 1x1; same parameter count). Module names are
torchvision's (``conv1, bn1, layer1.0.conv1, ..., layer2.0.downsample.0, fc``),
so torchvision's ``state_dict`` loads unchanged. plain18/plain34 are the
paper's Table 2 twins: no shortcut at all. (The paper's Table 2 ResNets used
zero-padding "option A" shortcuts so that they had exactly the plain nets'
parameters; ours use option B: resnet18 has 11,689,512, plain18 11,515,688.)

The same builder gives, with one extra argument each:
- ResNeXt (Xie et al. 2017, https://arxiv.org/abs/1611.05431): ``groups`` (cardinality C)
  and ``width_per_group`` (d) make the bottleneck's 3x3 a grouped convolution of width
  planes * d / 64 * C; resnext50_32x4d = 25,028,904 parameters (torchvision).
- SE-ResNet (Hu et al. 2018, https://arxiv.org/abs/1709.01507): ``se_reduction=16`` puts a
  squeeze-and-excitation block on every residual branch, after its last BN and before the
  addition (the paper's Fig. 3); se_resnet50 = 28,088,024 parameters (timm ``seresnet50``).

CIFAR-10 (Sec. 4.2): a 3x3 stem with 16 filters, then three stages of n basic
blocks on 32x32, 16x16 and 8x8 maps with 16, 32 and 64 filters, global average
pooling and a 10-way linear layer: 6n + 2 weighted layers. Shortcuts use
"option A": identity, and where the shape changes, stride-2 subsampling plus
zero-padded channels, so shortcuts add no parameters.

    # stage: output size, channels, blocks, first stride
    STAGES = [(32, 16, n, 1), (16, 32, n, 2), (8, 64, n, 2)]

    n    depth  parameters (option A)   paper (Table 6)
    3    20        269,722              0.27 M, test error 8.75 %
    5    32        464,154              0.46 M, 7.51 %
    7    44        658,586              0.66 M, 7.17 %
    9    56        853,018              0.85 M, 6.97 %
    18   110     1,727,962              1.7 M,  6.43 %  (1,730,714 is the count with 1x1-conv+BN
                                                         projections at the two stage changes)
    200  1202   19,421,274              19.4 M, 7.93 %

Descendants at CIFAR scale:
- Pre-activation ResNet (He et al. 2016, Identity Mappings, https://arxiv.org/abs/1603.05027):
  BN-ReLU-conv inside the branch, nothing after the addition, so x_{l+1} = x_l + F(x_l) exactly;
  one BN-ReLU after the last block. ResNet-110 with basic units (option A, 1,727,962
  parameters, the same count as the original), ResNet-164 and ResNet-1001 with bottleneck
  units (outputs 64/128/256, 1x1-conv projections): 1,703,258 and 10,327,706 parameters
  (paper: 1.7 M and 10.2 M).
- Stochastic depth (Huang et al. 2016, https://arxiv.org/abs/1603.09382): in training each
  residual branch survives a mini-batch with probability p_l = 1 - l/L (1 - p_L), linear
  decay to p_L = 0.5 for the last of the L blocks; at test time the branch is scaled by p_l
  (``blocks.StochasticDepth`` with ``mode="batch", inverted=False``: the paper's form, where
  EfficientNet uses the inverted one).
- se_resnet20 and resnext29_cifar: the SE and ResNeXt arguments on CIFAR nets (their
  docstrings say what was adapted).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_input
from .blocks import SqueezeExcitation, StochasticDepth, init_conv_bn_linear, scale_channels
from .registry import register_model
from .torchvision_compat import register_torchvision_equivalent

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "CifarResNet",
    "PreActBasicBlock",
    "PreActBottleneck",
    "PreActResNet",
    "ResNet",
    "ShortcutA",
    "init_weights",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "plain18",
    "plain34",
    "resnext50_32x4d",
    "se_resnet50",
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
    "resnet110",
    "resnet1202",
    "plain20",
    "plain32",
    "plain44",
    "plain56",
    "plain110",
    "resnet110_stochastic_depth",
    "se_resnet20",
    "resnext29_cifar",
    "preact_resnet20",
    "preact_resnet110",
    "preact_resnet164",
    "preact_resnet1001",
]

# He et al. 2015, Table 1: blocks per stage (conv2_x, conv3_x, conv4_x, conv5_x).
IMAGENET_BLOCKS: dict[int, tuple[int, int, int, int]] = {
    18: (2, 2, 2, 2),  # basic blocks
    34: (3, 4, 6, 3),  # basic blocks
    50: (3, 4, 6, 3),  # bottlenecks from here on
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}
# (planes, first stride) of the four ImageNet stages; a bottleneck's output is 4 x planes.
IMAGENET_STAGES: list[tuple[int, int]] = [(64, 1), (128, 2), (256, 2), (512, 2)]

# (channels, first stride) of the three CIFAR stages (Sec. 4.2); each stage has n blocks.
CIFAR_STAGES: list[tuple[int, int]] = [(16, 1), (32, 2), (64, 2)]


# ---------------------------------------------------------------------------------------
# Shortcuts
# ---------------------------------------------------------------------------------------


class ShortcutA(nn.Module):
    """Option-A shortcut: subsample by ``stride`` and zero-pad the new channels (no parameters)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.extra = out_channels - in_channels

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        # pad (W_left, W_right, H_top, H_bottom, C_front, C_back) with zeros
        return F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))


def make_shortcut(in_channels: int, out_channels: int, stride: int, option: str, norm: bool = True) -> nn.Module | None:
    """The paper's shortcut options (Sec. 3.3) where the shape changes; ``None`` where it does not.

    "A": stride-2 subsampling + zero padding (no parameters). "B": 1x1 conv with stride + BN
    (torchvision's ``downsample``); ``norm=False`` leaves the BN out (pre-activation units).
    """
    if stride == 1 and in_channels == out_channels:
        return None
    if option == "A":
        return ShortcutA(in_channels, out_channels, stride)
    if option == "B":
        conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)
        return nn.Sequential(conv, nn.BatchNorm2d(out_channels)) if norm else nn.Sequential(conv)
    raise ValueError(f"shortcut option must be 'A' (zero padding) or 'B' (1x1 projection); got {option!r}")


# ---------------------------------------------------------------------------------------
# Blocks (post-activation, He et al. 2015)
# ---------------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers: ``relu(F(x) + shortcut(x))`` or, plain, ``relu(F(x))`` (Fig. 2 / Fig. 5 left).

    ``downsample`` is the shortcut where the shape changes (``None``: identity). ``se_reduction``
    adds squeeze-and-excitation on the branch; ``stochastic_depth_prob > 0`` drops the branch with
    that probability in training (Huang et al.'s form: the whole mini-batch at once, and at test
    time the branch scaled by its survival probability).
    """

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        *,
        residual: bool = True,
        groups: int = 1,
        width_per_group: int = 64,
        se_reduction: int | None = None,
        stochastic_depth_prob: float = 0.0,
    ) -> None:
        super().__init__()
        if groups != 1 or width_per_group != 64:
            raise ValueError("BasicBlock has no grouped version (as in torchvision): ResNeXt uses Bottleneck")
        self.residual = residual
        self.conv1 = nn.Conv2d(in_channels, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.se = SqueezeExcitation(planes, max(1, planes // se_reduction)) if se_reduction else None
        self.drop = _stochastic_depth(stochastic_depth_prob)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))  # N x planes x H/stride x W/stride
        out = self.bn2(self.conv2(out))  # N x planes x H/stride x W/stride
        if self.se is not None:
            out = self.se(out)  # channels re-weighted
        if not self.residual:
            return self.relu(out)
        if self.drop is not None:
            out = self.drop(out)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 (reduce) -> 3x3 (grouped for ResNeXt) -> 1x1 (expand x4), each with BN (Fig. 5 right).

    Width of the 3x3: ``planes * width_per_group / 64 * groups`` (torchvision's formula:
    ``planes`` for ResNet, 128 in conv2_x of ResNeXt-50 32x4d). The other options as :class:`BasicBlock`'s.
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        *,
        residual: bool = True,
        groups: int = 1,
        width_per_group: int = 64,
        se_reduction: int | None = None,
        stochastic_depth_prob: float = 0.0,
    ) -> None:
        super().__init__()
        width = int(planes * (width_per_group / 64.0)) * groups
        out_channels = planes * self.expansion
        self.residual = residual
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.se = SqueezeExcitation(out_channels, max(1, out_channels // se_reduction)) if se_reduction else None
        self.drop = _stochastic_depth(stochastic_depth_prob)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))  # N x width x H x W
        out = self.relu(self.bn2(self.conv2(out)))  # N x width x H/stride x W/stride
        out = self.bn3(self.conv3(out))  # N x 4*planes x H/stride x W/stride
        if self.se is not None:
            out = self.se(out)
        if not self.residual:
            return self.relu(out)
        if self.drop is not None:
            out = self.drop(out)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def _stochastic_depth(p: float) -> StochasticDepth | None:
    """Huang et al.'s stochastic depth on a branch (``None`` where ``p`` is 0): a mini-batch's branch survives
    with probability 1 - p in training; at test time the branch is scaled by 1 - p, its expectation (Eq. 5)."""
    return StochasticDepth(p, mode="batch", inverted=False) if p > 0.0 else None


def make_stage(
    block: type[BasicBlock] | type[Bottleneck],
    in_channels: int,
    planes: int,
    num_blocks: int,
    stride: int,
    *,
    shortcut: str,
    residual: bool = True,
    stochastic_depth_probs: list[float] | None = None,
    **block_kwargs,
) -> tuple[nn.Sequential, int]:
    """``num_blocks`` blocks, the first with ``stride`` and the shape-changing shortcut; returns (stage, out channels).

    ``stochastic_depth_probs``: each block's drop probability (default: none dropped).
    """
    stochastic_depth_probs = stochastic_depth_probs or [0.0] * num_blocks
    out_channels = planes * block.expansion
    blocks = []
    for i in range(num_blocks):
        s = stride if i == 0 else 1
        downsample = make_shortcut(in_channels, out_channels, s, shortcut) if residual else None
        blocks.append(
            block(
                in_channels,
                planes,
                s,
                downsample,
                residual=residual,
                stochastic_depth_prob=stochastic_depth_probs[i],
                **block_kwargs,
            )
        )
        in_channels = out_channels
    return nn.Sequential(*blocks), out_channels


# ---------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------


class ResNet(nn.Module):
    """The ImageNet ResNet of Table 1, torchvision's module layout.

    Args:
        block: ``BasicBlock`` (18/34) or ``Bottleneck`` (50/101/152).
        blocks_per_stage: blocks in conv2_x..conv5_x (``IMAGENET_BLOCKS``).
        residual: ``False`` builds the plain twin (no shortcuts).
        groups, width_per_group: ResNeXt cardinality C and width d of each group.
        se_reduction: squeeze-and-excitation ratio r (``None``: no SE).
        zero_init_residual: start every residual branch at zero (its last BN's gamma = 0).
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        blocks_per_stage: tuple[int, ...],
        num_classes: int = 1000,
        in_channels: int = 3,
        *,
        residual: bool = True,
        groups: int = 1,
        width_per_group: int = 64,
        se_reduction: int | None = None,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        channels = 64
        stages = []
        for (planes, stride), n in zip(IMAGENET_STAGES, blocks_per_stage):
            stage, channels = make_stage(
                block, channels, planes, n, stride, shortcut="B", residual=residual,
                groups=groups, width_per_group=width_per_group, se_reduction=se_reduction,
            )  # fmt: skip
            stages.append(stage)
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        init_weights(self, zero_init_residual=zero_init_residual)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model=type(self).__name__, in_channels=self.in_channels, min_size=32)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # N x 64 x H/4 x W/4 (56 x 56 at 224)
        x = self.layer1(x)  # N x 64 (x4 for bottlenecks) x H/4 x W/4
        x = self.layer2(x)  # N x 128 (512) x H/8 x W/8
        x = self.layer3(x)  # N x 256 (1024) x H/16 x W/16
        return self.layer4(x)  # N x 512 (2048) x H/32 x W/32 (7 x 7 at 224)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """The last maps -> logits; ``pre_logits=True``: the globally averaged maps, N x C, that ``fc`` receives."""
        x = torch.flatten(self.avgpool(x), 1)  # N x C
        return x if pre_logits else self.fc(x)  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


class CifarResNet(nn.Module):
    """The 6n+2-layer CIFAR network of He et al., with (``residual=True``) or without shortcuts.

    The keyword arguments generalise it to the family's CIFAR variants: ``block``,
    ``stem_channels`` and ``stage_planes`` (ResNeXt-29), ``shortcut`` ("A" zero padding or
    "B" 1x1 projection), ``groups``/``width_per_group`` (ResNeXt), ``se_reduction`` (SE-ResNet),
    ``stochastic_depth_prob`` (1 - p_L, the drop probability of the last block; Huang et al.).
    """

    def __init__(
        self,
        blocks_per_stage: int,
        num_classes: int = 10,
        residual: bool = True,
        in_channels: int = 3,
        *,
        block: type[BasicBlock] | type[Bottleneck] = BasicBlock,
        stem_channels: int = 16,
        stage_planes: tuple[int, int, int] = (16, 32, 64),
        shortcut: str = "A",
        groups: int = 1,
        width_per_group: int = 64,
        se_reduction: int | None = None,
        stochastic_depth_prob: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem_channels),
            nn.ReLU(inplace=True),
        )
        # Huang et al. 2016, Eq. 4: survival p_l = 1 - l/L * (1 - p_L) for block l = 1..L, so block l is
        # dropped with probability l/L * (1 - p_L), where stochastic_depth_prob = 1 - p_L
        total = 3 * blocks_per_stage
        drop = [(depth / total) * stochastic_depth_prob for depth in range(1, total + 1)]
        stages = []
        channels = stem_channels
        for i, (planes, (_, stride)) in enumerate(zip(stage_planes, CIFAR_STAGES)):
            stage, channels = make_stage(
                block, channels, planes, blocks_per_stage, stride, shortcut=shortcut, residual=residual,
                stochastic_depth_probs=drop[i * blocks_per_stage : (i + 1) * blocks_per_stage],
                groups=groups, width_per_group=width_per_group, se_reduction=se_reduction,
            )  # fmt: skip
            stages.append(stage)
        self.layer1, self.layer2, self.layer3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model=type(self).__name__, in_channels=self.in_channels, min_size=4)
        x = self.stem(x)  # N x 16 x 32 x 32 (ResNeXt-29: 64)
        x = self.layer1(x)  # N x 16 x 32 x 32 (ResNeXt-29: 256)
        x = self.layer2(x)  # N x 32 x 16 x 16 (512)
        return self.layer3(x)  # N x 64 x 8 x 8 (1024)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """The last maps -> logits; ``pre_logits=True``: the globally averaged maps, N x C, that ``fc`` receives."""
        x = torch.flatten(self.pool(x), 1)  # N x C
        return x if pre_logits else self.fc(x)  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


# ---------------------------------------------------------------------------------------
# Pre-activation (He et al. 2016, Identity Mappings, Fig. 1b and Fig. 4e)
# ---------------------------------------------------------------------------------------


class PreActBasicBlock(nn.Module):
    """BN-ReLU-conv3x3, BN-ReLU-conv3x3, then ``+ x`` with nothing after the addition.

    ``preact_shortcut=True`` (the first unit of a stage) applies the first BN-ReLU before
    splitting, so the shortcut also sees the activated input (paper, Sec. 4, and its code).
    """

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        *,
        preact_shortcut: bool = False,
    ) -> None:
        super().__init__()
        self.preact_shortcut = preact_shortcut
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        pre = self.relu(self.bn1(x))  # N x C_in x H x W
        identity = pre if self.preact_shortcut else x
        if self.downsample is not None:
            identity = self.downsample(identity)  # N x planes x H/stride x W/stride
        out = self.conv1(pre)  # N x planes x H/stride x W/stride
        out = self.conv2(self.relu(self.bn2(out)))
        return out + identity


class PreActBottleneck(nn.Module):
    """BN-ReLU-conv1x1, BN-ReLU-conv3x3, BN-ReLU-conv1x1 (x4), then ``+ x`` (ResNet-164/1001)."""

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        *,
        preact_shortcut: bool = False,
    ) -> None:
        super().__init__()
        self.preact_shortcut = preact_shortcut
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        pre = self.relu(self.bn1(x))  # N x C_in x H x W
        identity = pre if self.preact_shortcut else x
        if self.downsample is not None:
            identity = self.downsample(identity)  # N x 4*planes x H/stride x W/stride
        out = self.conv1(pre)  # N x planes x H x W
        out = self.conv2(self.relu(self.bn2(out)))  # N x planes x H/stride x W/stride
        out = self.conv3(self.relu(self.bn3(out)))  # N x 4*planes x H/stride x W/stride
        return out + identity


class PreActResNet(nn.Module):
    """Pre-activation ResNet for CIFAR: conv3x3 (16) -> 3 stages of units -> BN-ReLU -> pool -> fc.

    ``shortcut``: "A" (zero padding, for basic units: the original ResNet-110's shortcuts) or "B"
    (a lone 1x1 conv, no BN, as the paper's code for bottleneck units whose first unit
    already widens 16 -> 64 channels).
    """

    def __init__(
        self,
        block: type[PreActBasicBlock] | type[PreActBottleneck],
        blocks_per_stage: int,
        num_classes: int = 10,
        in_channels: int = 3,
        *,
        shortcut: str = "A",
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)  # no BN-ReLU: the first unit's serves
        channels = 16
        stages = []
        for planes, stride in CIFAR_STAGES:
            out_channels = planes * block.expansion
            units = []
            for i in range(blocks_per_stage):
                s = stride if i == 0 else 1
                downsample = make_shortcut(channels, out_channels, s, shortcut, norm=False)
                units.append(block(channels, planes, s, downsample, preact_shortcut=i == 0))
                channels = out_channels
            stages.append(nn.Sequential(*units))
        self.layer1, self.layer2, self.layer3 = stages
        self.bn = nn.BatchNorm2d(channels)  # the extra activation after the last addition (Sec. 4)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model=type(self).__name__, in_channels=self.in_channels, min_size=4)
        x = self.conv1(x)  # N x 16 x 32 x 32
        x = self.layer1(x)  # N x 16 (64 for bottlenecks) x 32 x 32
        x = self.layer2(x)  # N x 32 (128) x 16 x 16
        x = self.layer3(x)  # N x 64 (256) x 8 x 8
        return self.relu(self.bn(x))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """The last maps -> logits; ``pre_logits=True``: the globally averaged maps, N x C, that ``fc`` receives."""
        x = torch.flatten(self.pool(x), 1)  # N x C
        return x if pre_logits else self.fc(x)  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def init_weights(model: nn.Module, zero_init_residual: bool = False) -> None:
    """He (Kaiming) normal init for convolutions, as the paper (He et al. 2015, Sec. 3.4, citing [13]).

    BN starts as the identity (gamma 1, beta 0). ``zero_init_residual`` sets gamma = 0 in the last
    BN of each residual branch, so every block starts as the identity: Goyal et al. 2017, Sec. 5.1,
    https://arxiv.org/abs/1706.02677 (torchvision's option of the same name). Linear layers keep
    PyTorch's default init, as torchvision's ResNet.
    """
    init_conv_bn_linear(model, zero_conv_bias=False, linear=None)
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.bn3.weight)
            elif isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)


# ---------------------------------------------------------------------------------------
# Builders: ImageNet (every builder passes its other keyword arguments to the model's class)
# ---------------------------------------------------------------------------------------


def _resnet(depth: int, num_classes: int, in_channels: int, **kwargs) -> ResNet:
    block = BasicBlock if depth < 50 else Bottleneck
    return ResNet(block, IMAGENET_BLOCKS[depth], num_classes=num_classes, in_channels=in_channels, **kwargs)


_PAPER = "He et al. 2015, https://arxiv.org/abs/1512.03385"
_IMAGENET_META = dict(
    family="resnet",
    scale="imagenet",
    input_size=(3, 224, 224),
    num_classes=1000,
    first_conv="conv1",
    classifier="fc",
    gradcam_layer="layer4",
    paper=_PAPER,
    test_size=(3, 64, 64),  # adaptive pooling: any size >= 32 works
)


@register_model(**_IMAGENET_META)
def resnet18(num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False, **kwargs) -> ResNet:
    """ResNet-18 (basic blocks 2-2-2-2): 11,689,512 parameters, torchvision's resnet18."""
    return _resnet(18, num_classes, in_channels, zero_init_residual=zero_init_residual, **kwargs)


@register_model(**_IMAGENET_META)
def resnet34(num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False, **kwargs) -> ResNet:
    """ResNet-34 (basic blocks 3-4-6-3): 21,797,672 parameters, torchvision's resnet34."""
    return _resnet(34, num_classes, in_channels, zero_init_residual=zero_init_residual, **kwargs)


@register_model(**_IMAGENET_META)
def resnet50(num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False, **kwargs) -> ResNet:
    """ResNet-50 (bottlenecks 3-4-6-3): 25,557,032 parameters, torchvision's resnet50."""
    return _resnet(50, num_classes, in_channels, zero_init_residual=zero_init_residual, **kwargs)


@register_model(**_IMAGENET_META)
def resnet101(num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False, **kwargs) -> ResNet:
    """ResNet-101 (bottlenecks 3-4-23-3): 44,549,160 parameters, torchvision's resnet101."""
    return _resnet(101, num_classes, in_channels, zero_init_residual=zero_init_residual, **kwargs)


@register_model(**_IMAGENET_META)
def resnet152(num_classes: int = 1000, in_channels: int = 3, zero_init_residual: bool = False, **kwargs) -> ResNet:
    """ResNet-152 (bottlenecks 3-8-36-3): 60,192,808 parameters, torchvision's resnet152."""
    return _resnet(152, num_classes, in_channels, zero_init_residual=zero_init_residual, **kwargs)


@register_model(**{**_IMAGENET_META, "family": "plain"})
def plain18(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> ResNet:
    """Plain-18 (Table 2): ResNet-18 without shortcuts, 11,515,688 parameters."""
    return _resnet(18, num_classes, in_channels, residual=False, **kwargs)


@register_model(**{**_IMAGENET_META, "family": "plain"})
def plain34(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> ResNet:
    """Plain-34 (Table 2, Fig. 3 middle): ResNet-34 without shortcuts, 21,623,848 parameters."""
    return _resnet(34, num_classes, in_channels, residual=False, **kwargs)


@register_model(**{**_IMAGENET_META, "family": "resnext", "paper": "Xie et al. 2017, https://arxiv.org/abs/1611.05431"})
def resnext50_32x4d(
    num_classes: int = 1000, in_channels: int = 3, groups: int = 32, width_per_group: int = 4, **kwargs
) -> ResNet:
    """ResNeXt-50 (32x4d): ResNet-50 with 32 groups of width 4 in conv2_x; 25,028,904 parameters (torchvision)."""
    return _resnet(50, num_classes, in_channels, groups=groups, width_per_group=width_per_group, **kwargs)


@register_model(**{**_IMAGENET_META, "family": "senet", "paper": "Hu et al. 2018, https://arxiv.org/abs/1709.01507"})
def se_resnet50(num_classes: int = 1000, in_channels: int = 3, se_reduction: int = 16, **kwargs) -> ResNet:
    """SE-ResNet-50 (r = 16): 28,088,024 parameters, as timm's ``seresnet50``."""
    return _resnet(50, num_classes, in_channels, se_reduction=se_reduction, **kwargs)


for _name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d"):
    register_torchvision_equivalent(_name, torchvision_name=_name)


# ---------------------------------------------------------------------------------------
# Builders: CIFAR (every builder passes its other keyword arguments to the model's class)
# ---------------------------------------------------------------------------------------

_CIFAR_META = dict(
    family="resnet",
    scale="cifar",
    input_size=(3, 32, 32),
    first_conv="stem.0",
    classifier="fc",
    gradcam_layer="layer3",
    paper=_PAPER,
)


@register_model(**_CIFAR_META)
def resnet20(num_classes: int = 10, in_channels: int = 3, **kwargs) -> CifarResNet:
    """ResNet-20 for CIFAR (n=3), option-A shortcuts: 269,722 parameters."""
    return CifarResNet(3, num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(**_CIFAR_META)
def resnet32(num_classes: int = 10, in_channels: int = 3, **kwargs) -> CifarResNet:
    """ResNet-32 for CIFAR (n=5), option-A shortcuts: 464,154 parameters (paper: 0.46 M)."""
    return CifarResNet(5, num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(**_CIFAR_META)
def resnet44(num_classes: int = 10, in_channels: int = 3, **kwargs) -> CifarResNet:
    """ResNet-44 for CIFAR (n=7), option-A shortcuts: 658,586 parameters (paper: 0.66 M)."""
    return CifarResNet(7, num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(**_CIFAR_META)
def resnet56(num_classes: int = 10, in_channels: int = 3, **kwargs) -> CifarResNet:
    """ResNet-56 for CIFAR (n=9), option-A shortcuts: 853,018 parameters."""
    return CifarResNet(9, num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(**_CIFAR_META)
def resnet110(num_classes: int = 10, in_channels: int = 3, **kwargs) -> CifarResNet:
    """ResNet-110 for CIFAR (n=18), option-A shortcuts: 1,727,962 parameters (paper: 1.7 M)."""
    return CifarResNet(18, num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(**{**_CIFAR_META, "test_size": (3, 8, 8)})
def resnet1202(num_classes: int = 10, in_channels: int = 3, **kwargs) -> CifarResNet:
    """ResNet-1202 for CIFAR (n=200), option-A shortcuts: 19,421,274 parameters (paper: 19.4 M)."""
    return CifarResNet(200, num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(**{**_CIFAR_META, "family": "plain"})
def plain20(num_classes: int = 10, in_channels: int = 3, **kwargs) -> CifarResNet:
    """ResNet-20 without shortcuts (the paper's plain-20)."""
    return CifarResNet(3, num_classes=num_classes, in_channels=in_channels, residual=False, **kwargs)


@register_model(**{**_CIFAR_META, "family": "plain"})
def plain32(num_classes: int = 10, in_channels: int = 3, **kwargs) -> CifarResNet:
    """ResNet-32 without shortcuts (Fig. 6 left)."""
    return CifarResNet(5, num_classes=num_classes, in_channels=in_channels, residual=False, **kwargs)


@register_model(**{**_CIFAR_META, "family": "plain"})
def plain44(num_classes: int = 10, in_channels: int = 3, **kwargs) -> CifarResNet:
    """ResNet-44 without shortcuts (Fig. 6 left)."""
    return CifarResNet(7, num_classes=num_classes, in_channels=in_channels, residual=False, **kwargs)


@register_model(**{**_CIFAR_META, "family": "plain"})
def plain56(num_classes: int = 10, in_channels: int = 3, **kwargs) -> CifarResNet:
    """ResNet-56 without shortcuts (the paper's plain-56)."""
    return CifarResNet(9, num_classes=num_classes, in_channels=in_channels, residual=False, **kwargs)


@register_model(**{**_CIFAR_META, "family": "plain"})
def plain110(num_classes: int = 10, in_channels: int = 3, **kwargs) -> CifarResNet:
    """ResNet-110 without shortcuts (paper, Sec. 4.2: its error exceeds 60 %)."""
    return CifarResNet(18, num_classes=num_classes, in_channels=in_channels, residual=False, **kwargs)


@register_model(
    **{**_CIFAR_META, "family": "stochastic_depth", "paper": "Huang et al. 2016, https://arxiv.org/abs/1603.09382"}
)
def resnet110_stochastic_depth(
    num_classes: int = 10, in_channels: int = 3, stochastic_depth_prob: float = 0.5, **kwargs
) -> CifarResNet:
    """ResNet-110 (option A, 1,727,962 parameters) with stochastic depth, linear decay to p_L = 0.5.

    ``stochastic_depth_prob`` = 1 - p_L, the drop probability of the last block. In eval mode
    the network is deterministic: each branch is scaled by its survival probability (the paper's
    form of :class:`~cnnlib.models.blocks.StochasticDepth`, ``inverted=False``).
    """
    return CifarResNet(
        18, num_classes=num_classes, in_channels=in_channels, stochastic_depth_prob=stochastic_depth_prob, **kwargs
    )


@register_model(**{**_CIFAR_META, "family": "senet", "paper": "Hu et al. 2018, https://arxiv.org/abs/1709.01507"})
def se_resnet20(num_classes: int = 10, in_channels: int = 3, se_reduction: int = 16, **kwargs) -> CifarResNet:
    """ResNet-20 with SE (r = 16) on every branch: 272,095 parameters.

    Adaptation: the SE paper reports CIFAR results for SE-ResNet-110/164; we put its block on
    the course's ResNet-20. With 16 channels and r = 16 the squeeze has a single unit
    (``max(1, C // r)``), as in common CIFAR SE-ResNet code.
    """
    return CifarResNet(3, num_classes=num_classes, in_channels=in_channels, se_reduction=se_reduction, **kwargs)


@register_model(**{**_CIFAR_META, "family": "resnext", "paper": "Xie et al. 2017, https://arxiv.org/abs/1611.05431"})
def resnext29_cifar(
    num_classes: int = 10, in_channels: int = 3, groups: int = 8, width_per_group: int = 4, width: float = 1.0, **kwargs
) -> CifarResNet:
    """ResNeXt-29 (8x4d) for CIFAR: 1,717,578 parameters.

    The paper's CIFAR template (Sec. 5.3): a 3x3 stem with 64 filters, three stages of three
    bottleneck blocks with outputs 256, 512, 1024 and 1x1-conv shortcuts, pooling and fc:
    3 * 3 * 3 + 2 = 29 layers. The paper uses d = 64 (ResNeXt-29 8x64d, 34.4 M parameters);
    our default d = 4 keeps the topology and shrinks the grouped convolutions so the model
    trains on a CPU. ``width_per_group=64`` gives the paper's model. ``width`` multiplies the
    stem and the blocks' input/output widths (0.5: outputs 128, 256, 512), keeping the grouped
    convolutions' ``groups x width_per_group``.
    """
    return CifarResNet(
        3, num_classes=num_classes, in_channels=in_channels, block=Bottleneck, stem_channels=scale_channels(64, width),
        stage_planes=tuple(scale_channels(c, width) for c in (64, 128, 256)),
        shortcut="B", groups=groups, width_per_group=width_per_group, **kwargs,
    )  # fmt: skip


_PREACT_META = {
    **_CIFAR_META,
    "family": "preact_resnet",
    "first_conv": "conv1",
    "paper": "He et al. 2016, https://arxiv.org/abs/1603.05027",
}


@register_model(**_PREACT_META)
def preact_resnet20(num_classes: int = 10, in_channels: int = 3, **kwargs) -> PreActResNet:
    """Pre-activation ResNet-20 (basic units, option A): 269,722 parameters, as ResNet-20."""
    return PreActResNet(PreActBasicBlock, 3, num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(**_PREACT_META)
def preact_resnet110(num_classes: int = 10, in_channels: int = 3, **kwargs) -> PreActResNet:
    """Pre-activation ResNet-110 (basic units, option A): 1,727,962 parameters (paper: 6.37 % error vs 6.61 %)."""
    return PreActResNet(PreActBasicBlock, 18, num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(**_PREACT_META)
def preact_resnet164(num_classes: int = 10, in_channels: int = 3, **kwargs) -> PreActResNet:
    """Pre-activation ResNet-164 (18 bottleneck units per stage): 1,703,258 parameters (paper: 1.7 M, 5.46 %)."""
    return PreActResNet(PreActBottleneck, 18, num_classes=num_classes, in_channels=in_channels, shortcut="B", **kwargs)


@register_model(**{**_PREACT_META, "test_size": (3, 8, 8)})
def preact_resnet1001(num_classes: int = 10, in_channels: int = 3, **kwargs) -> PreActResNet:
    """Pre-activation ResNet-1001 (111 bottleneck units per stage): 10,327,706 parameters (paper: 10.2 M, 4.92 %)."""
    return PreActResNet(PreActBottleneck, 111, num_classes=num_classes, in_channels=in_channels, shortcut="B", **kwargs)
