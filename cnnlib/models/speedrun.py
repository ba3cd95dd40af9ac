"""The speed-run network for CIFAR-10: a small, wide VGG-like net built to be trained fast.

After K. Jordan, *94% on CIFAR-10 in 3.29 Seconds on a Single GPU* (2024, arXiv:2404.00498), whose
``airbench94`` network this re-implements from the paper's description:

    whitening   2x2 convolution, 3 -> 24 maps, no padding, weights fixed (set from the data), then GELU
    block 1     3x3 conv 24 -> 64,   2x2 max pool, BN, GELU, 3x3 conv 64 -> 64,   BN, GELU   (31 -> 15)
    block 2     3x3 conv 64 -> 256,  2x2 max pool, BN, GELU, 3x3 conv 256 -> 256, BN, GELU  (15 -> 7)
    block 3     3x3 conv 256 -> 256, 2x2 max pool, BN, GELU, 3x3 conv 256 -> 256, BN, GELU  (7 -> 3)
    head        3x3 max pool (3 -> 1), linear 256 -> 10 without bias, output scaled by 1/9

What makes it train fast, besides its size:

- **patch whitening** (:func:`whitening_init_`): the first layer's 24 filters are the eigenvectors of
  the covariance of 2x2 image patches, each scaled by 1/sqrt(eigenvalue), with their negatives; its
  output patches are decorrelated with unit variance, and its weights are never trained;
- **identity initialisation**: every 3x3 convolution starts with its first ``in_channels`` filters
  as the identity (``torch.nn.init.dirac_``), so a fresh block passes its input on;
- **batch norm without a trained scale** (:class:`ShiftOnlyBatchNorm`): only the shift is
  learned (with a larger learning rate, see :mod:`cnnlib.train.speedrun`); eps 1e-12;
- no bias in the convolutions (batch norm follows each), and a small output scale (1/9), which
  together with label smoothing keeps the logits tame early on.

The training recipe (schedule, data order, lookahead, test-time augmentation) is in
:mod:`cnnlib.train.speedrun`.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
from torch import Tensor

from ._checks import check_input
from .registry import register_model

__all__ = ["ShiftOnlyBatchNorm", "SpeedrunBlock", "SpeedrunNet", "speedrun_cifar", "whitening_init_"]


class ShiftOnlyBatchNorm(nn.BatchNorm2d):
    """Batch norm whose scale stays 1 (not trained) and whose shift is trained.

    ``momentum`` is PyTorch's: the weight of the new batch in the running statistics.
    """

    def __init__(self, num_features: int, momentum: float = 0.4, eps: float = 1e-12) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.weight.requires_grad_(False)


def _identity_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A 3x3 "same" convolution without bias whose first ``in_channels`` filters are the identity."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)
    with torch.no_grad():
        nn.init.dirac_(conv.weight[: min(in_channels, out_channels)])
    return conv


class SpeedrunBlock(nn.Module):
    """conv 3x3 -> max pool 2x2 -> BN -> GELU -> conv 3x3 -> BN -> GELU: halves the map."""

    def __init__(self, in_channels: int, out_channels: int, bn_momentum: float = 0.4) -> None:
        super().__init__()
        self.conv1 = _identity_conv(in_channels, out_channels)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = ShiftOnlyBatchNorm(out_channels, bn_momentum)
        self.conv2 = _identity_conv(out_channels, out_channels)
        self.norm2 = ShiftOnlyBatchNorm(out_channels, bn_momentum)
        self.act = nn.GELU()

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        return self.act(self.norm2(self.conv2(x)))


class SpeedrunNet(nn.Module):
    """The speed-run network (see the module's docstring).

    Args:
        widths: output channels of the three blocks.
        num_classes: outputs of the linear layer.
        whiten_kernel: side of the whitening layer's patches (2: 2 x 3 x 2 x 2 = 24 filters for RGB).
        bn_momentum: PyTorch's batch-norm momentum (the paper's 0.6 is 1 - 0.4 in its convention).
        output_scale: the logits are multiplied by it.
        in_channels: image channels (the whitening layer has 2 x in_channels x whiten_kernel^2 filters).
    """

    def __init__(
        self,
        widths: Sequence[int] = (64, 256, 256),
        num_classes: int = 10,
        whiten_kernel: int = 2,
        bn_momentum: float = 0.4,
        output_scale: float = 1 / 9,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        whiten_width = 2 * in_channels * whiten_kernel**2
        self.whiten = nn.Conv2d(in_channels, whiten_width, kernel_size=whiten_kernel, padding=0, bias=True)
        self.whiten.weight.requires_grad_(False)  # set from the data by whitening_init_, never trained
        self.act = nn.GELU()
        channels = [whiten_width, *widths]
        self.blocks = nn.Sequential(*(SpeedrunBlock(a, b, bn_momentum) for a, b in zip(channels, channels[1:])))
        self.pool = nn.MaxPool2d(3)
        self.classifier = nn.Linear(widths[-1], num_classes, bias=False)
        self.output_scale = output_scale
        self.in_channels = in_channels

    def forward_features(self, x: Tensor) -> Tensor:
        check_input(x, model="SpeedrunNet", in_channels=self.in_channels, exact_size=(32, 32))
        # N x 3 x 32 x 32 -> whiten N x 24 x 31 x 31 -> blocks 64 @ 15, 256 @ 7, 256 @ 3
        return self.blocks(self.act(self.whiten(x)))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = torch.flatten(self.pool(x), 1)  # N x 256 (the 3 x 3 map's maximum)
        if pre_logits:
            return x
        return self.output_scale * self.classifier(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@torch.no_grad()
def whitening_init_(conv: nn.Conv2d, images: Tensor, eps: float = 5e-4) -> Tensor:
    """Set ``conv``'s filters to whiten the ``k x k`` patches of ``images`` (normalised, N x 3 x H x W).

    The (uncentred) covariance of all patches, ``P^T P / n``, has eigenvectors ``v_i`` and eigenvalues
    ``l_i``; filter ``i`` is ``v_i / sqrt(l_i + eps)`` and filter ``i + 3k^2`` its negative (so that the
    GELU after the layer keeps both signs). The first half of the layer's output then has, over these
    patches, a covariance of about the identity. Returns the eigenvalues, largest first.
    """
    k = conv.kernel_size[0]
    c = images.shape[1]
    if conv.in_channels != c or conv.out_channels != 2 * c * k * k or conv.kernel_size != (k, k):
        raise ValueError(
            f"a whitening layer for {c}-channel {k}x{k} patches has {2 * c * k * k} output channels; "
            f"got {conv.in_channels} -> {conv.out_channels} with kernel {conv.kernel_size}"
        )
    patches = images.float().unfold(2, k, 1).unfold(3, k, 1)  # N x C x H' x W' x k x k
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k)  # n x (C k k)
    covariance = patches.T @ patches / patches.shape[0]
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)  # largest first
    filters = (eigenvectors / torch.sqrt(eigenvalues + eps)).T.reshape(c * k * k, c, k, k)
    conv.weight.copy_(torch.cat([filters, -filters]))
    if conv.bias is not None:
        conv.bias.zero_()
    return eigenvalues


@register_model(
    family="speedrun",
    scale="cifar",
    input_size=(3, 32, 32),
    first_conv="whiten",
    classifier="classifier",
    gradcam_layer="blocks.2",
    paper="K. Jordan, 94% on CIFAR-10 in 3.29 Seconds on a Single GPU, 2024, https://arxiv.org/abs/2404.00498",
)
def speedrun_cifar(num_classes: int = 10, **kwargs) -> SpeedrunNet:
    """The speed-run network of airbench94 (about 1.97 M parameters for 10 classes); see :class:`SpeedrunNet`."""
    return SpeedrunNet(num_classes=num_classes, **kwargs)
