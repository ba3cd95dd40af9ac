"""Chapter 07: DenseNet counted against the paper, and the feature reuse of a trained DenseNet-BC (Huang et al. Fig. 5).

Fig. 5 of the paper: for every convolutional layer l of a dense block and every earlier source s
(s = 0 is the block's input, s >= 1 the output of layer s), the average absolute weight of the
filters of l that read the k channels s produced. A layer that keeps large weights on old
sources reuses old features; the paper found that all layers spread their weights over many
inputs, and that the transition layers read most of the block.

In a DenseNet-B layer the concatenated inputs are read by the 1x1 bottleneck convolution (``conv1``),
so that is the weight used here, as in the paper's analysis of DenseNet-BC; the transition's 1x1
convolution is the block's last row.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ...analysis.summary import count_parameters
from ...models.densenet import DenseBlock, DenseNet, Transition
from ...models.registry import get_model

__all__ = ["DENSENET_PUBLISHED", "densenet_count_rows", "feature_reuse"]

# name, registry builder and keyword arguments, the published parameter count, where it is published.
DENSENET_PUBLISHED = (
    ("DenseNet-121 (k=32)", "densenet121", {}, 7_978_856, "torchvision"),
    ("DenseNet-169 (k=32)", "densenet169", {}, 14_149_480, "torchvision"),
    ("DenseNet-201 (k=32)", "densenet201", {}, 20_013_928, "torchvision"),
    ("DenseNet-BC-100 (k=12), CIFAR", "densenet_bc100", {}, 800_000, "paper Table 2: 0.8 M"),
    ("DenseNet-BC-250 (k=24), CIFAR", "densenet_bc_cifar", {"depth": 250, "growth_rate": 24}, 15_300_000,
     "paper Table 2: 15.3 M"),
    ("DenseNet-BC-190 (k=40), CIFAR", "densenet_bc_cifar", {"depth": 190, "growth_rate": 40}, 25_600_000,
     "paper Table 2: 25.6 M"),
)  # fmt: skip


def densenet_count_rows() -> list[dict]:
    """Each DenseNet of :data:`DENSENET_PUBLISHED`, built and counted, beside its published count."""
    rows = []
    for label, name, kwargs, published, source in DENSENET_PUBLISHED:
        counted = count_parameters(get_model(name, **kwargs))
        rows.append(
            {
                "model": label,
                "counted": counted,
                "published": published,
                "difference": (counted - published) / published,
                "source": source,
            }
        )
    return rows


def _sources(in_channels: int, layers: int, growth: int) -> list[int]:
    return [in_channels] + [growth] * layers


@torch.no_grad()
def feature_reuse(model: DenseNet) -> list[torch.Tensor]:
    """Per dense block, a ``(layers + 1) x (layers + 1)`` matrix: row l (target), column s (source), NaN where s > l.

    Rows 0..L-1 are the block's layers (their ``conv1``), row L the transition after the block (or, for the
    last block, the classifier's input is not a convolution and that row is left out: the matrix is L x (L+1)).
    Entry (l, s) is the mean |w| of the weights of target l that read the channels of source s.
    """
    features = getattr(model, "features", None)
    blocks = [m for m in features if isinstance(m, DenseBlock)] if isinstance(features, nn.Sequential) else []
    if not blocks:
        raise ValueError(f"{type(model).__name__} has no DenseBlock: load a DenseNet (densenet_bc40)")
    following = list(features)
    maps = []
    for block in blocks:
        layers = list(block.values())
        growth = layers[0].conv2.out_channels
        in_channels = layers[0].conv1.in_channels
        n = len(layers)
        position = following.index(block)
        after = following[position + 1] if position + 1 < len(following) else None
        targets: list[nn.Conv2d] = [layer.conv1 for layer in layers]
        if isinstance(after, Transition):
            targets.append(after.conv)
        heat = torch.full((len(targets), n + 1), float("nan"))
        sizes = _sources(in_channels, n, growth)
        for row, conv in enumerate(targets):
            w = conv.weight.abs().float()  # out x in x 1 x 1
            start = 0
            for s, size in enumerate(sizes[: row + 1]):
                heat[row, s] = w[:, start : start + size].mean()
                start += size
            if start != conv.in_channels:
                raise ValueError(f"{conv}: reads {conv.in_channels} channels, the sources add up to {start}")
        maps.append(heat)
    return maps
