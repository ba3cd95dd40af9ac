"""LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998), in the modified form most courses use.

Gradient-Based Learning Applied to Document Recognition, Proc. IEEE 86(11), 1998.
http://yann.lecun.com/exdb/publis/pdf/lecun-98.pdf

Layers in the paper's C@H x W notation (channels @ height x width), for a
1 x 32 x 32 input:

    layer  kind                     output       parameters
    C1     conv 5x5, 6 maps         6@28x28      6*(1*25+1)    =    156
    S2     pool 2x2                 6@14x14      0
    C3     conv 5x5, 16 maps        16@10x10     16*(6*25+1)   =  2,416
    S4     pool 2x2                 16@5x5       0
    C5     conv 5x5, 120 maps       120@1x1      120*(16*25+1) = 48,120
    F6     linear                   84           84*(120+1)    = 10,164
    output linear                   10           10*(84+1)     =    850
                                                 total         = 61,706

C5 sees a 5x5 map with a 5x5 kernel, so it is equally a fully connected layer
(400 -> 120): "the third layer can be read as convolutional or as dense".

Differences from the 1998 paper, all standard in modern re-implementations:
- C3 connects to all six S2 maps (the paper used a hand-made connection table,
  1,516 weights instead of 2,416);
- S2 and S4 are plain average (or max) pooling, without the paper's trainable
  coefficient and bias per map;
- the output layer is linear with a cross-entropy loss, not the paper's
  Euclidean RBF units; the scaled tanh 1.7159 tanh(2x/3) is a plain tanh.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch import Tensor

from ._checks import check_input
from .registry import register_model

__all__ = ["LeNet5", "lenet5"]


class LeNet5(nn.Module):
    """LeNet-5 for 1 x 32 x 32 images.

    Args:
        num_classes: size of the output layer.
        in_channels: image channels (1 for MNIST).
        activation: the non-linearity after every hidden layer (paper: tanh).
        pool: the subsampling layer (paper: average pooling).
    """

    input_size = (32, 32)

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        activation: type[nn.Module] = nn.Tanh,
        pool: type[nn.Module] = nn.AvgPool2d,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5),  # C1
            activation(),
            pool(kernel_size=2),  # S2
            nn.Conv2d(6, 16, kernel_size=5),  # C3
            activation(),
            pool(kernel_size=2),  # S4
            nn.Conv2d(16, 120, kernel_size=5),  # C5
            activation(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(120, 84),  # F6
            activation(),
            nn.Linear(84, num_classes),  # output
        )

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model="LeNet5", in_channels=self.in_channels, exact_size=self.input_size)
        # N x 1 x 32 x 32 -> C1 N x 6 x 28 x 28 -> S2 N x 6 x 14 x 14
        # -> C3 N x 16 x 10 x 10 -> S4 N x 16 x 5 x 5 -> C5 N x 120 x 1 x 1
        return self.features(x)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """C5's maps -> logits; ``pre_logits=True``: the flattened N x 120 vector that the classifier (F6,
        then the output layer) receives."""
        x = torch.flatten(x, 1)  # N x 120
        if pre_logits:
            return x
        return self.classifier(x)  # N x num_classes (logits; softmax lives in the loss)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model(
    family="lenet",
    scale="mnist",
    input_size=(1, 32, 32),
    first_conv="features.0",
    classifier="classifier.2",
    gradcam_layer="features.6",
    paper="LeCun et al. 1998, http://yann.lecun.com/exdb/publis/pdf/lecun-98.pdf",
)
def lenet5(
    num_classes: int = 10,
    in_channels: int = 1,
    activation: type[nn.Module] = nn.Tanh,
    pool: type[nn.Module] = nn.AvgPool2d,
    **kwargs,
) -> LeNet5:
    """LeNet-5 with tanh and average pooling, as in the paper (61,706 parameters for 10 classes).

    Other keyword arguments go to :class:`LeNet5`.
    """
    return LeNet5(num_classes=num_classes, in_channels=in_channels, activation=activation, pool=pool, **kwargs)
