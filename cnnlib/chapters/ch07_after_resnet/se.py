"""Chapter 07: the squeeze-and-excitation block from its three formulas, and the channel weights of a trained SE-ResNet.

Hu et al. 2018 (https://arxiv.org/abs/1709.01507), Eq. 2-4, for a feature map ``U`` (N x C x H x W):

    squeeze     z_c = 1/(H W) sum_{i,j} u_c(i, j)                  global average pooling, N x C
    excitation  s = sigmoid(W_2 ReLU(W_1 z))                        W_1: C/r x C, W_2: C x C/r
    scale       x~_c = s_c * u_c                                     each channel times its weight

The seed's "code minute" writes the same block with ``nn.AdaptiveAvgPool2d``, two bias-free
``nn.Linear`` layers and ``x * y.expand_as(x)``; :class:`SeedSELayer` transcribes it so that the
lecture can check the formulas against it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch import Tensor

from ...analysis.activations import eval_mode
from ...data import ImageTensors
from ...data.augment import normalize
from ...models.blocks import SqueezeExcitation

__all__ = [
    "ExcitationStats",
    "SeedSELayer",
    "class_specificity",
    "excitations_by_class",
    "se_from_formulas",
]


def se_from_formulas(u: Tensor, w1: Tensor, w2: Tensor) -> Tensor:
    """Eq. 2-4 written out: squeeze (mean over H, W), excitation (W_1, ReLU, W_2, sigmoid), scale (per channel)."""
    z = u.mean(dim=(2, 3))  # squeeze: N x C
    s = torch.sigmoid(torch.relu(z @ w1.T) @ w2.T)  # excitation: N x C/r, then N x C
    return u * s[:, :, None, None]  # scale: N x C x H x W


class SeedSELayer(nn.Module):
    """The SE layer of the seed lecture's "code minute" (two bias-free linear layers), transcribed unchanged."""

    def __init__(self, channel: int, reduction: int = 16) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channel, channel // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(channel // reduction, channel, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        b, c, _, _ = x.size()
        y = self.avg_pool(x).view(b, c)
        y = self.fc(y).view(b, c, 1, 1)
        return x * y.expand_as(x)


@dataclass(frozen=True)
class ExcitationStats:
    """The excitations ``s`` of every SE block of a model over a labelled set of images.

    ``means[block]`` is ``classes x C``: the mean excitation of each channel over the images of each
    class; ``overall[block]`` (C) the mean over all images; ``specificity[block]`` the block's
    :func:`class_specificity` (a share of variance, blind to its size); ``spread[block]`` the size: the
    standard deviation of the class means, averaged over the channels. Blocks are in forward order,
    named by module path.
    """

    blocks: tuple[str, ...]
    means: dict[str, Tensor]
    overall: dict[str, Tensor]
    specificity: dict[str, float]
    spread: dict[str, float]
    classes: tuple[str, ...]
    images: int


def class_specificity(s: Tensor, labels: Tensor, num_classes: int) -> float:
    """How much of the excitations' variance the class explains: the between-class share, eta squared.

    ``s`` is N x C (one excitation per image and channel). For each channel, eta^2 = (variance of
    the class means, weighted by class size) / (total variance over the images); the result is its
    mean over the channels. 0: every class gets the same weights (class-agnostic); 1: the weights
    are a function of the class alone (class-specific). Channels that never vary count as 0.
    """
    if s.ndim != 2 or labels.shape != (s.shape[0],):
        raise ValueError(f"s must be N x C and labels N; got {tuple(s.shape)} and {tuple(labels.shape)}")
    s = s.double()
    mean = s.mean(0)
    total = ((s - mean) ** 2).sum(0)
    between = torch.zeros_like(mean)
    for k in range(num_classes):
        rows = s[labels == k]
        if len(rows):
            between += len(rows) * (rows.mean(0) - mean) ** 2
    eta2 = torch.where(total > 0, between / total.clamp_min(1e-30), torch.zeros_like(total))
    return float(eta2.mean())


@torch.no_grad()
def excitations_by_class(model: nn.Module, data: ImageTensors, batch_size: int = 500) -> ExcitationStats:
    """Run ``model`` over ``data`` and record the excitations of every :class:`SqueezeExcitation` block."""
    blocks = [(name, m) for name, m in model.named_modules() if isinstance(m, SqueezeExcitation)]
    if not blocks:
        raise ValueError(f"{type(model).__name__} has no SqueezeExcitation block: load an SE model (se_resnet20)")
    recorded: dict[str, list[Tensor]] = {name: [] for name, _ in blocks}

    def record(name: str, module: SqueezeExcitation):
        def hook(mod: nn.Module, args: tuple, output: Tensor) -> None:
            recorded[name].append(mod.scale(args[0]).flatten(1).float().cpu())

        return hook

    hooks = [m.register_forward_hook(record(name, m)) for name, m in blocks]
    device = next(model.parameters()).device
    try:
        with eval_mode(model):
            for start in range(0, len(data), batch_size):
                x = data.images[start : start + batch_size]
                model(normalize(x, data.spec.mean, data.spec.std).to(device))
    finally:
        for h in hooks:
            h.remove()
    labels = data.labels
    n = len(data.classes)
    means, overall, specificity, spread = {}, {}, {}, {}
    for name, _ in blocks:
        s = torch.cat(recorded[name])
        means[name] = torch.stack([s[labels == k].mean(0) for k in range(n)])
        overall[name] = s.mean(0)
        specificity[name] = class_specificity(s, labels, n)
        spread[name] = float(means[name].std(0).mean())
    names = tuple(name for name, _ in blocks)
    return ExcitationStats(names, means, overall, specificity, spread, tuple(data.classes), len(data))
