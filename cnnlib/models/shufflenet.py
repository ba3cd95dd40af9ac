"""ShuffleNet v1 and v2: cheap grouped convolutions, made to talk to each other by a channel shuffle.

- v1: Zhang, Zhou, Lin, Sun 2017, ShuffleNet: An Extremely Efficient Convolutional Neural Network
  for Mobile Devices. https://arxiv.org/abs/1707.01083
- v2: Ma, Zhang, Zheng, Sun 2018, ShuffleNet V2: Practical Guidelines for Efficient CNN
  Architecture Design. https://arxiv.org/abs/1807.11164

A grouped 1x1 convolution with g groups costs g times less than a dense one, but each output
group only sees its own input group. ``channel_shuffle`` reshapes the C channels into a
g x C/g grid, transposes it and flattens it back, so the next grouped layer gets channels from
every group (v1 Fig. 1). With 6 channels and 2 groups: [0 1 2 | 3 4 5] -> [0 3 1 4 2 5].

v1 unit (Fig. 2): grouped 1x1 "compress" to out/4 channels -> shuffle -> 3x3 depthwise -> grouped
1x1 "expand"; added to the input, or, at stride 2, concatenated with a 3x3 average-pooled input.
v2 unit (Fig. 3): split the channels in half, leave one half alone, run the other through
1x1 -> 3x3 depthwise -> 1x1 (no groups: guideline G2), concatenate, shuffle with 2 groups.
At stride 2 both halves see the whole input and the channel count doubles.

    # v1 Table 1 (g = 3, 1.0x): stem 3x3 conv 24 /2, 3x3 max-pool /2, then
    # stage: output channels, units (the first with stride 2)
    #   2: 240, 4    3: 480, 8    4: 960, 4    -> global pool, fc
    # v2 Table 5 (1.0x): stem 24 /2, max-pool /2, stages 116 x 4, 232 x 8, 464 x 4, 1x1 conv 1024

Parameter counts at 1000 classes: v1 g=3 1.0x 1,865,728 (osmr imgclsmob ``shufflenet_g3_w1``;
the paper gives no parameter count, only 140 MFLOPs), v2 1.0x 2,278,604 and 0.5x 1,366,792
(torchvision; our v2 has torchvision's module names, so its weights load unchanged).

CIFAR variant of v2 (not in the paper): stride-1 stem and no max-pool, so 32x32 inputs are
downsampled 8x to 4x4 final maps instead of 32x (as kuangliu/pytorch-cifar's ShuffleNetV2).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_input
from .blocks import ConvNormAct, init_conv_bn_linear
from .registry import register_model
from .torchvision_compat import register_torchvision_equivalent

__all__ = [
    "ShuffleNetV1",
    "ShuffleNetV2",
    "ShuffleUnitV1",
    "ShuffleUnitV2",
    "channel_shuffle",
    "shufflenet_v1_g3",
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_cifar",
    "shufflenet_v1_g3_cifar",
]

STAGE_REPEATS = (4, 8, 4)  # units in stages 2, 3, 4 (both papers)

# v1 Table 1, 1.0x: output channels of stages 2, 3, 4 for each number of groups g.
SHUFFLENET_V1_CHANNELS: dict[int, tuple[int, int, int]] = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}

# v2 Table 5: output channels of the stem, stages 2, 3, 4 and conv5, per width.
SHUFFLENET_V2_CHANNELS: dict[float, tuple[int, int, int, int, int]] = {
    # stem, stage2, stage3, stage4, conv5
    0.5: (24, 48, 96, 192, 1024),
    1.0: (24, 116, 232, 464, 1024),
    1.5: (24, 176, 352, 704, 1024),
    2.0: (24, 244, 488, 976, 2048),
}


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Interleave the channels of ``groups`` groups: N x (g*k) x H x W, channel g_i*k + j -> j*g + g_i."""
    n, c, h, w = x.shape
    if c % groups:
        raise ValueError(f"channel_shuffle: {c} channels cannot be split into {groups} groups")
    x = x.view(n, groups, c // groups, h, w)  # N x g x C/g x H x W: row i = group i
    x = x.transpose(1, 2).contiguous()  # N x C/g x g x H x W: read the grid column by column
    return x.view(n, c, h, w)


# ----------------------------------------------------------------------------- blocks


class ShuffleUnitV1(nn.Module):
    """v1's unit (Fig. 2b, 2c): grouped 1x1 -> shuffle -> 3x3 depthwise -> grouped 1x1, add or concat."""

    def __init__(self, in_channels: int, out_channels: int, groups: int, stride: int, group_first: bool = True) -> None:
        super().__init__()
        self.stride = stride
        self.groups = groups
        mid = out_channels // 4  # bottleneck width: a quarter of the output (Sec. 3.3)
        branch_out = out_channels - in_channels if stride == 2 else out_channels  # concat supplies the rest
        # the very first unit's 1x1 is not grouped: its 24 input channels are too few (Sec. 3.3)
        self.compress = ConvNormAct(in_channels, mid, 1, groups=groups if group_first else 1)
        self.depthwise = ConvNormAct(mid, mid, 3, stride=stride, groups=mid, activation=None)  # no ReLU (Sec. 3.2)
        self.expand = ConvNormAct(mid, branch_out, 1, groups=groups, activation=None)
        self.shortcut = nn.AvgPool2d(3, stride=2, padding=1) if stride == 2 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = channel_shuffle(self.compress(x), self.groups)  # N x mid x H x W
        out = self.expand(self.depthwise(out))  # N x branch_out x H/s x W/s
        if self.stride == 2:
            return F.relu(torch.cat([self.shortcut(x), out], dim=1))  # N x out x H/2 x W/2
        return F.relu(out + x)


class ShuffleUnitV2(nn.Module):
    """v2's unit (Fig. 3c, 3d). Layers listed flat as torchvision's (``branch1.0`` ...), so its weights load."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        half = out_channels // 2
        if stride == 1 and in_channels != 2 * half:
            raise ValueError(f"a stride-1 ShuffleNet v2 unit keeps its width; got {in_channels} -> {out_channels}")
        if stride > 1:  # the left branch also works at stride 2: depthwise 3x3, then 1x1
            self.branch1 = nn.Sequential(
                nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False),
                nn.BatchNorm2d(in_channels),
                nn.Conv2d(in_channels, half, 1, bias=False),
                nn.BatchNorm2d(half),
                nn.ReLU(inplace=True),
            )
        else:  # the left half passes through untouched
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(in_channels if stride > 1 else half, half, 1, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(inplace=True),
            nn.Conv2d(half, half, 3, stride, 1, groups=half, bias=False),
            nn.BatchNorm2d(half),
            nn.Conv2d(half, half, 1, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 1:
            left, right = x.chunk(2, dim=1)  # channel split: two N x C/2 x H x W halves
            out = torch.cat([left, self.branch2(right)], dim=1)
        else:
            out = torch.cat([self.branch1(x), self.branch2(x)], dim=1)  # N x C_out x H/2 x W/2
        return channel_shuffle(out, 2)


# ----------------------------------------------------------------------------- models


class ShuffleNetV1(nn.Module):
    """ShuffleNet v1: 3x3 stem, max-pool, three stages of shuffle units, global pool, fc."""

    def __init__(self, groups: int = 3, num_classes: int = 1000, in_channels: int = 3, cifar: bool = False) -> None:
        super().__init__()
        if groups not in SHUFFLENET_V1_CHANNELS:
            raise ValueError(f"ShuffleNet v1 is defined for g in {sorted(SHUFFLENET_V1_CHANNELS)}; got {groups}")
        self.in_channels = in_channels
        self.min_size = 8 if cifar else 32
        channels = 24
        # CIFAR: stride-1 stem and no max-pool, the same convention as shufflenet_v2_cifar
        self.conv1 = ConvNormAct(in_channels, channels, 3, stride=1 if cifar else 2)
        self.maxpool = nn.Identity() if cifar else nn.MaxPool2d(3, stride=2, padding=1)
        stages = []
        for s, (out_channels, repeats) in enumerate(zip(SHUFFLENET_V1_CHANNELS[groups], STAGE_REPEATS)):
            units = []
            for i in range(repeats):
                units.append(
                    ShuffleUnitV1(
                        channels, out_channels, groups, stride=2 if i == 0 else 1, group_first=(s, i) != (0, 0)
                    )
                )
                channels = out_channels
            stages.append(nn.Sequential(*units))
        self.stage2, self.stage3, self.stage4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model=type(self).__name__, in_channels=self.in_channels, min_size=self.min_size)
        x = self.maxpool(self.conv1(x))  # N x 24 x H/4 x W/4  (CIFAR: H x W)
        x = self.stage2(x)  # N x 240 x H/8 x W/8  (g = 3)
        x = self.stage3(x)  # N x 480 x H/16 x W/16
        return self.stage4(x)  # N x 960 x H/32 x W/32

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """The last maps -> logits; ``pre_logits=True``: the globally averaged maps, N x 960 (g = 3), that
        ``fc`` receives."""
        x = torch.flatten(self.pool(x), 1)  # N x 960
        return x if pre_logits else self.fc(x)  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


class ShuffleNetV2(nn.Module):
    """ShuffleNet v2: stem, max-pool, three stages of v2 units, 1x1 conv5, global pool, fc.

    ``width`` picks a column of the paper's Table 5 (0.5, 1.0, 1.5 or 2.0): the widths there are
    the paper's own choices, not a rounded product, so other values are refused.
    """

    def __init__(self, width: float = 1.0, num_classes: int = 1000, cifar: bool = False, in_channels: int = 3) -> None:
        super().__init__()
        if width not in SHUFFLENET_V2_CHANNELS:
            widths = sorted(SHUFFLENET_V2_CHANNELS)
            raise ValueError(f"ShuffleNet v2 is defined for the widths of its Table 5, {widths}; got width={width}")
        stem, *stage_channels, last = SHUFFLENET_V2_CHANNELS[width]
        self.in_channels = in_channels
        self.min_size = 8 if cifar else 32
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, stem, 3, 1 if cifar else 2, 1, bias=False),
            nn.BatchNorm2d(stem),
            nn.ReLU(inplace=True),
        )
        self.maxpool = nn.Identity() if cifar else nn.MaxPool2d(3, stride=2, padding=1)
        channels = stem
        stages = []
        for out_channels, repeats in zip(stage_channels, STAGE_REPEATS):
            units = [ShuffleUnitV2(channels, out_channels, 2)] + [
                ShuffleUnitV2(out_channels, out_channels, 1) for _ in range(repeats - 1)
            ]
            stages.append(nn.Sequential(*units))
            channels = out_channels
        self.stage2, self.stage3, self.stage4 = stages
        self.conv5 = nn.Sequential(
            nn.Conv2d(channels, last, 1, bias=False), nn.BatchNorm2d(last), nn.ReLU(inplace=True)
        )
        self.fc = nn.Linear(last, num_classes)
        init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model=type(self).__name__, in_channels=self.in_channels, min_size=self.min_size)
        x = self.maxpool(self.conv1(x))  # N x 24 x H/4 x W/4  (CIFAR: H x W)
        x = self.stage2(x)  # N x 116 x H/8 x W/8  (1.0x)
        x = self.stage3(x)  # N x 232 x H/16 x W/16
        x = self.stage4(x)  # N x 464 x H/32 x W/32
        return self.conv5(x)  # N x 1024 x H/32 x W/32

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """The last maps -> logits; ``pre_logits=True``: the globally averaged maps, N x 1024, that ``fc`` receives."""
        x = x.mean([2, 3])  # global average pool: N x 1024
        return x if pre_logits else self.fc(x)  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def init_weights(model: nn.Module) -> None:
    """Kaiming normal (fan-out) convs, unit BN, N(0, 0.01) fc: the papers do not specify an init,
    so torchvision's MobileNet one (torchvision's ShuffleNetV2 keeps PyTorch's defaults)."""
    init_conv_bn_linear(model, zero_conv_bias=False)


# ----------------------------------------------------------------------------- builders


_V1 = "Zhang et al. 2017, https://arxiv.org/abs/1707.01083"
_V2 = "Ma et al. 2018, https://arxiv.org/abs/1807.11164"
_IMAGENET = dict(
    family="shufflenet", scale="imagenet", input_size=(3, 224, 224), num_classes=1000, test_size=(3, 64, 64)
)
# Every builder passes its other keyword arguments to the model's class.


@register_model(**_IMAGENET, first_conv="conv1.0", classifier="fc", gradcam_layer="stage4", paper=_V1)
def shufflenet_v1_g3(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> ShuffleNetV1:
    """ShuffleNet v1 1.0x, g = 3: 1,865,728 parameters (osmr imgclsmob ``shufflenet_g3_w1``)."""
    return ShuffleNetV1(groups=3, num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(
    **{**_IMAGENET, "scale": "cifar", "input_size": (3, 32, 32), "num_classes": 10, "test_size": (3, 32, 32)},
    first_conv="conv1.0",
    classifier="fc",
    gradcam_layer="stage4",
    paper=_V1,
)
def shufflenet_v1_g3_cifar(num_classes: int = 10, in_channels: int = 3, **kwargs) -> ShuffleNetV1:
    """ShuffleNet v1 1.0x, g = 3, for 32x32: 914,338 parameters (our adaptation, not a published figure).

    Minimal adaptation, the same as ``shufflenet_v2_cifar``: the stem conv has stride 1 instead of 2
    and the 3x3/2 max-pool is dropped, because the ImageNet model's 32x downsampling would leave a
    32 x 32 image at 1 x 1; with 8x (the three stride-2 stages) the final maps are 4 x 4. Widths
    (24, 240-480-960), group convolutions, channel shuffle and the 4/8/4 units are unchanged; only
    the fc layer differs (10 classes).
    """
    return ShuffleNetV1(groups=3, num_classes=num_classes, in_channels=in_channels, cifar=True, **kwargs)


@register_model(**_IMAGENET, first_conv="conv1.0", classifier="fc", gradcam_layer="conv5", paper=_V2)
def shufflenet_v2_x0_5(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> ShuffleNetV2:
    """ShuffleNet v2 0.5x: 1,366,792 parameters (torchvision ``shufflenet_v2_x0_5``, identical keys)."""
    return ShuffleNetV2(0.5, num_classes, in_channels=in_channels, **kwargs)


@register_model(**_IMAGENET, first_conv="conv1.0", classifier="fc", gradcam_layer="conv5", paper=_V2)
def shufflenet_v2_x1_0(num_classes: int = 1000, in_channels: int = 3, **kwargs) -> ShuffleNetV2:
    """ShuffleNet v2 1.0x: 2,278,604 parameters (torchvision ``shufflenet_v2_x1_0``, identical keys)."""
    return ShuffleNetV2(1.0, num_classes, in_channels=in_channels, **kwargs)


@register_model(
    **{**_IMAGENET, "scale": "cifar", "input_size": (3, 32, 32), "num_classes": 10, "test_size": (3, 32, 32)},
    first_conv="conv1.0",
    classifier="fc",
    gradcam_layer="conv5",
    paper=_V2,
)
def shufflenet_v2_cifar(num_classes: int = 10, width: float = 1.0, in_channels: int = 3, **kwargs) -> ShuffleNetV2:
    """ShuffleNet v2 for 32x32: stride-1 stem, no max-pool (8x downsampling, 4x4 final maps).

    ``width``: a column of the paper's Table 5 (0.5, 1.0, 1.5, 2.0).
    """
    return ShuffleNetV2(width, num_classes, cifar=True, in_channels=in_channels, **kwargs)


register_torchvision_equivalent("shufflenet_v2_x0_5", torchvision_name="shufflenet_v2_x0_5")
register_torchvision_equivalent("shufflenet_v2_x1_0", torchvision_name="shufflenet_v2_x1_0")
