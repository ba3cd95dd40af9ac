"""ShuffleNet v1's point, computed: which input channels can reach which output channels through a stack of
grouped 1x1 convolutions, with and without a channel shuffle between them (Zhang et al. 2018, Fig. 1)."""

from __future__ import annotations

import torch
import torch.nn as nn
from torch import Tensor

from ...models.shufflenet import channel_shuffle

__all__ = ["group_reach"]


def group_reach(channels: int = 12, groups: int = 3, layers: int = 2, shuffle: bool = True) -> Tensor:
    """C x C boolean matrix: ``[o, i]`` is True when output channel o depends on input channel i.

    The stack is ``layers`` grouped 1x1 convolutions (all weights 1, so no dependency cancels), with
    ``channel_shuffle`` after each but the last when ``shuffle``; the dependencies are read off the
    Jacobian of the stack at a random input.
    """
    convs = [nn.Conv2d(channels, channels, 1, groups=groups, bias=False) for _ in range(layers)]
    for conv in convs:
        nn.init.ones_(conv.weight)

    def stack(x: Tensor) -> Tensor:
        for i, conv in enumerate(convs):
            x = conv(x)
            if shuffle and i < layers - 1:
                x = channel_shuffle(x, groups)
        return x

    x = torch.randn(1, channels, 1, 1)
    jac = torch.autograd.functional.jacobian(lambda v: stack(v.view(1, channels, 1, 1)).flatten(), x.flatten())
    return jac != 0
