"""Chapter 07: ResNeXt's aggregated transformation in its three equivalent forms (Xie et al. 2017, Fig. 3).

One set of weights, three ways to compute ``sum_i T_i(x)`` for C paths (the cardinality), each
path ``T_i`` = 1x1 conv (in -> d), ReLU, 3x3 conv (d -> d), ReLU, 1x1 conv (d -> out):

(a) C separate paths, their outputs summed;
(b) the C paths' 3x3 outputs concatenated (C*d channels), then one 1x1 convolution: a sum of the
    paths' last 1x1 convolutions is one 1x1 convolution over their concatenation;
(c) one 1x1 convolution to C*d channels, one *grouped* 3x3 convolution with C groups, one 1x1:
    the stacked first convolutions are one convolution; a grouped convolution is the C 3x3
    convolutions side by side.

The paper's block has batch norm after each convolution; it is left out here since it is
per-channel and would not change the argument.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["AggregatedWeights"]


class AggregatedWeights:
    """Random weights of C paths, and the three forms that use them.

    Attributes: ``first`` (C tensors d x in x 1 x 1), ``middle`` (C tensors d x d x 3 x 3),
    ``last`` (C tensors out x d x 1 x 1).
    """

    def __init__(
        self,
        in_channels: int = 64,
        cardinality: int = 8,
        width: int = 4,
        out_channels: int | None = None,
        seed: int = 0,
    ) -> None:
        g = torch.Generator().manual_seed(seed)
        out = in_channels if out_channels is None else out_channels
        self.cardinality, self.width = cardinality, width

        def w(*shape: int) -> Tensor:
            return torch.randn(*shape, generator=g) / (shape[1] * shape[2] * shape[3]) ** 0.5

        self.first = [w(width, in_channels, 1, 1) for _ in range(cardinality)]
        self.middle = [w(width, width, 3, 3) for _ in range(cardinality)]
        self.last = [w(out, width, 1, 1) for _ in range(cardinality)]

    def form_a(self, x: Tensor) -> Tensor:
        """(a) Split, transform, merge: C paths, summed."""
        out = 0
        for first, middle, last in zip(self.first, self.middle, self.last):
            h = F.relu(F.conv2d(x, first))  # N x d x H x W
            h = F.relu(F.conv2d(h, middle, padding=1))  # N x d x H x W
            out = out + F.conv2d(h, last)  # N x out x H x W
        return out

    def form_b(self, x: Tensor) -> Tensor:
        """(b) The paths up to their 3x3, concatenated, then one 1x1 over all C*d channels."""
        hs = [F.relu(F.conv2d(F.relu(F.conv2d(x, f)), m, padding=1)) for f, m in zip(self.first, self.middle)]
        return F.conv2d(torch.cat(hs, 1), torch.cat(self.last, 1))  # (N x C*d x H x W) -> N x out x H x W

    def form_c(self, x: Tensor) -> Tensor:
        """(c) 1x1 to C*d channels, a grouped 3x3 (C groups), 1x1 back: the block as ResNeXt implements it."""
        h = F.relu(F.conv2d(x, torch.cat(self.first, 0)))  # N x C*d x H x W
        h = F.relu(F.conv2d(h, torch.cat(self.middle, 0), padding=1, groups=self.cardinality))
        return F.conv2d(h, torch.cat(self.last, 1))  # N x out x H x W
