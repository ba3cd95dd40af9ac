"""SqueezeNet (Iandola, Han, Moskewicz, Ashraf, Dally, Keutzer 2016).

SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size.
https://arxiv.org/abs/1602.07360

Three strategies (Sec. 3.1): replace 3x3 filters by 1x1 filters; feed the 3x3
filters fewer input channels (squeeze layers); downsample late. The Fire module
does the first two: a *squeeze* 1x1 convolution to s channels, then an *expand*
layer of e1 1x1 and e3 3x3 filters whose outputs are concatenated (e1 + e3
channels), with s < e1 + e3. No fully connected layer: a 1x1 convolution to one
map per class (conv10) and global average pooling classify.

Table 1 of the paper (SqueezeNet 1.0, 224 x 224 input; s, e1, e3 per Fire):

    layer     output        s    e1   e3
    conv1     111x111x96    7x7/2, 96 filters
    maxpool1  55x55x96      3x3/2
    fire2     55x55x128     16   64   64
    fire3     55x55x128     16   64   64
    fire4     55x55x256     32   128  128
    maxpool4  27x27x256     3x3/2
    fire5     27x27x256     32   128  128
    fire6     27x27x384     48   192  192
    fire7     27x27x384     48   192  192
    fire8     27x27x512     64   256  256
    maxpool8  13x13x512     3x3/2
    fire9     13x13x512     64   256  256
    conv10    13x13x1000    1x1, dropout 0.5 before it
    avgpool   1x1x1000      global

(The paper's sizes fit a 227 x 227 input; at 224 x 224, conv1 gives 109x109 and
fire9 13x13, as in the shape comments of ``forward_features``.)

SqueezeNet 1.1 (the authors' repository, SqueezeNet_v1.1/README): conv1 3x3/2
with 64 filters and the max pools moved earlier (after conv1, fire3, fire5):
the same accuracy with 2.4x less computation. Parameters: 1,248,424 (1.0) and
1,235,496 (1.1), torchvision's counts; the paper's "1.2 M" (Table 2, 4.8 MB).
The module layout (``features.3.squeeze`` ... ``classifier.1``) is torchvision's,
so its ``state_dict`` loads unchanged.

The classifier is conv10, a 1x1 convolution (registry metadata
``classifier="classifier.1"``), not a linear layer: that is the architecture.

``squeezenet_cifar`` is our adaptation for 3 x 32 x 32 images (the paper has no
CIFAR design): SqueezeNet 1.1 with a 3x3 stride-1 padded conv1, so its three
max pools take 32x32 to 4x4 instead of shrinking the image to 1x1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_input
from .blocks import init_conv_bn_linear
from .registry import register_model
from .torchvision_compat import register_torchvision_equivalent

__all__ = ["Fire", "FireSpec", "SqueezeNet", "SqueezeNetConfig", "squeezenet1_0", "squeezenet1_1", "squeezenet_cifar"]


@dataclass(frozen=True)
class FireSpec:
    squeeze: int  # s_1x1
    expand1x1: int  # e_1x1
    expand3x3: int  # e_3x3


M = "M"  # 3x3 max pool, stride 2 (ceil mode, as the Caffe original)


@dataclass(frozen=True)
class SqueezeNetConfig:
    stem_channels: int  # conv1 filters
    stem_kernel: int
    stem_stride: int
    stem_padding: int
    layers: tuple[FireSpec | str, ...]  # Fire modules and max pools ("M") after conv1
    min_size: int  # smallest input side that leaves every layer a non-empty map


SQUEEZENET_CONFIGS: dict[str, SqueezeNetConfig] = {
    # Table 1 of the paper
    "1_0": SqueezeNetConfig(
        stem_channels=96,
        stem_kernel=7,
        stem_stride=2,
        stem_padding=0,
        min_size=21,
        layers=(
            M,
            FireSpec(squeeze=16, expand1x1=64, expand3x3=64),  # fire2
            FireSpec(squeeze=16, expand1x1=64, expand3x3=64),  # fire3
            FireSpec(squeeze=32, expand1x1=128, expand3x3=128),  # fire4
            M,
            FireSpec(squeeze=32, expand1x1=128, expand3x3=128),  # fire5
            FireSpec(squeeze=48, expand1x1=192, expand3x3=192),  # fire6
            FireSpec(squeeze=48, expand1x1=192, expand3x3=192),  # fire7
            FireSpec(squeeze=64, expand1x1=256, expand3x3=256),  # fire8
            M,
            FireSpec(squeeze=64, expand1x1=256, expand3x3=256),  # fire9
        ),
    ),
    # SqueezeNet v1.1 (github.com/forresti/SqueezeNet, SqueezeNet_v1.1)
    "1_1": SqueezeNetConfig(
        stem_channels=64,
        stem_kernel=3,
        stem_stride=2,
        stem_padding=0,
        min_size=17,
        layers=(
            M,
            FireSpec(squeeze=16, expand1x1=64, expand3x3=64),  # fire2
            FireSpec(squeeze=16, expand1x1=64, expand3x3=64),  # fire3
            M,
            FireSpec(squeeze=32, expand1x1=128, expand3x3=128),  # fire4
            FireSpec(squeeze=32, expand1x1=128, expand3x3=128),  # fire5
            M,
            FireSpec(squeeze=48, expand1x1=192, expand3x3=192),  # fire6
            FireSpec(squeeze=48, expand1x1=192, expand3x3=192),  # fire7
            FireSpec(squeeze=64, expand1x1=256, expand3x3=256),  # fire8
            FireSpec(squeeze=64, expand1x1=256, expand3x3=256),  # fire9
        ),
    ),
}
# our CIFAR adaptation: v1.1 with a stride-1 3x3 conv1
SQUEEZENET_CONFIGS["cifar"] = SqueezeNetConfig(
    stem_channels=64, stem_kernel=3, stem_stride=1, stem_padding=1, min_size=8, layers=SQUEEZENET_CONFIGS["1_1"].layers
)


class Fire(nn.Module):
    """Squeeze 1x1 (s) - ReLU, then concat[expand 1x1 (e1) - ReLU, expand 3x3 (e3) - ReLU]: e1 + e3 channels.

    ``norm=True`` puts a batch norm after each of the three convolutions (which then have no bias): not in
    the paper, an option for training without the original's fragile start (see ``squeezenet_cifar``).
    """

    def __init__(
        self,
        in_channels: int,
        *,
        squeeze_channels: int,
        expand1x1_channels: int,
        expand3x3_channels: int,
        norm: bool = False,
    ) -> None:
        super().__init__()

        def bn(c: int) -> nn.Module:
            return nn.BatchNorm2d(c) if norm else nn.Identity()  # Identity: no parameters, torchvision's keys

        self.squeeze = nn.Conv2d(in_channels, squeeze_channels, kernel_size=1, bias=not norm)
        self.squeeze_norm = bn(squeeze_channels)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_channels, expand1x1_channels, kernel_size=1, bias=not norm)
        self.expand1x1_norm = bn(expand1x1_channels)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_channels, expand3x3_channels, kernel_size=3, padding=1, bias=not norm)
        self.expand3x3_norm = bn(expand3x3_channels)
        self.expand3x3_activation = nn.ReLU(inplace=True)
        self.out_channels = expand1x1_channels + expand3x3_channels

    def forward(self, x: Tensor) -> Tensor:
        x = self.squeeze_activation(self.squeeze_norm(self.squeeze(x)))  # N x s x H x W
        return torch.cat(
            [
                self.expand1x1_activation(self.expand1x1_norm(self.expand1x1(x))),
                self.expand3x3_activation(self.expand3x3_norm(self.expand3x3(x))),
            ],
            1,
        )  # N x (e1 + e3) x H x W


class SqueezeNet(nn.Module):
    """conv1, Fire modules and max pools (``features``), then dropout - conv10 - ReLU - global average pool.

    Args:
        config: the architecture table (``SQUEEZENET_CONFIGS``).
        num_classes: filters of conv10, one map per class.
        in_channels: image channels.
        dropout: before conv10 (paper: 0.5 after fire9).
        norm: batch norm inside every Fire module (not in the paper; see :class:`Fire`).
    """

    def __init__(
        self,
        config: SqueezeNetConfig,
        num_classes: int = 1000,
        in_channels: int = 3,
        dropout: float = 0.5,
        norm: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.min_size = config.min_size
        c = config.stem_channels
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, c, config.stem_kernel, stride=config.stem_stride, padding=config.stem_padding),
            nn.ReLU(inplace=True),
        ]
        for spec in config.layers:
            if spec == M:
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True))
            else:
                fire = Fire(
                    c,
                    squeeze_channels=spec.squeeze,
                    expand1x1_channels=spec.expand1x1,
                    expand3x3_channels=spec.expand3x3,
                    norm=norm,
                )
                layers.append(fire)
                c = fire.out_channels
        self.features = nn.Sequential(*layers)
        self.num_features = c
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Conv2d(c, num_classes, kernel_size=1),  # conv10: the classifier is a 1x1 convolution
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
        )
        init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model=type(self).__name__, in_channels=self.in_channels, min_size=self.min_size)
        # SqueezeNet 1.0 on N x 3 x 224 x 224: conv1 N x 96 x 109 x 109 -> maxpool N x 96 x 54 x 54
        # -> fire2-4 N x 256 x 54 x 54 -> maxpool N x 256 x 27 x 27 -> fire5-8 N x 512 x 27 x 27
        # -> maxpool N x 512 x 13 x 13 -> fire9 N x 512 x 13 x 13
        # (1.1: conv1 N x 64 x 111 x 111 -> ... -> fire9 N x 512 x 13 x 13; CIFAR: ... N x 512 x 4 x 4)
        return self.features(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """fire9's maps -> logits: dropout, conv10, ReLU, global average pool.

        ``pre_logits=True`` returns the globally averaged fire9 maps, N x 512: the vector a linear
        classifier in place of conv10 would receive (conv10 itself sees the maps before pooling; a 1x1
        convolution and the average commute, up to the ReLU between them).
        """
        if pre_logits:
            return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)  # N x 512
        x = self.classifier(x)  # N x num_classes x 1 x 1
        return torch.flatten(x, 1)  # N x num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def init_weights(model: SqueezeNet) -> None:
    """He uniform convolutions, conv10 normal with std 0.01, zero biases: torchvision's choice.

    The Caffe original used Xavier for all layers and Gaussian std 0.01 for conv10.
    """
    init_conv_bn_linear(model.features, conv="kaiming_uniform", conv_mode="fan_in", linear=None)
    conv10 = model.classifier[1]
    nn.init.normal_(conv10.weight, mean=0.0, std=0.01)
    nn.init.zeros_(conv10.bias)


def _squeezenet(version: str, num_classes: int, in_channels: int, dropout: float, **kwargs) -> SqueezeNet:
    config = SQUEEZENET_CONFIGS[version]
    return SqueezeNet(config, num_classes=num_classes, in_channels=in_channels, dropout=dropout, **kwargs)


_PAPER = "Iandola et al. 2016, https://arxiv.org/abs/1602.07360"
# Every builder passes its other keyword arguments to :class:`SqueezeNet`.
_META = dict(
    family="squeezenet",
    first_conv="features.0",
    classifier="classifier.1",  # conv10, a 1x1 convolution
    gradcam_layer="features.12",  # fire9
    paper=_PAPER,
)


@register_model(**_META, scale="imagenet", input_size=(3, 224, 224), num_classes=1000, test_size=(3, 64, 64))
def squeezenet1_0(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, **kwargs) -> SqueezeNet:
    """SqueezeNet 1.0 (Table 1 of the paper): 1,248,424 parameters, torchvision's squeezenet1_0."""
    return _squeezenet("1_0", num_classes, in_channels, dropout, **kwargs)


@register_model(**_META, scale="imagenet", input_size=(3, 224, 224), num_classes=1000, test_size=(3, 64, 64))
def squeezenet1_1(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5, **kwargs) -> SqueezeNet:
    """SqueezeNet 1.1 (2.4x less computation than 1.0): 1,235,496 parameters, torchvision's squeezenet1_1."""
    return _squeezenet("1_1", num_classes, in_channels, dropout, **kwargs)


@register_model(**_META, scale="cifar", input_size=(3, 32, 32), num_classes=10)
def squeezenet_cifar(
    num_classes: int = 10, in_channels: int = 3, dropout: float = 0.5, norm: bool = False, **kwargs
) -> SqueezeNet:
    """Our SqueezeNet 1.1 for 32 x 32 images (stride-1 3x3 conv1; see the module docstring).

    ``norm=True`` adds batch norm inside the Fire modules: the zoo trains that form, since the original
    (no BN) died at the authors' learning rate and learned slowly at a quarter of it (``cnnlib/zoo/entries.py``).
    """
    return _squeezenet("cifar", num_classes, in_channels, dropout, norm=norm, **kwargs)


register_torchvision_equivalent("squeezenet1_0", torchvision_name="squeezenet1_0")
register_torchvision_equivalent("squeezenet1_1", torchvision_name="squeezenet1_1")
