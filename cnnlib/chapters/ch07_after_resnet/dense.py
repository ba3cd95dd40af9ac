"""Chapter 07: DenseNet counted against the paper, and the feature reuse of a trained DenseNet-BC (Huang et al. Fig. 5).

Fig. 5 of the paper: for every convolutional layer l of a dense block and every earlier source s
(s = 0 is the block's input, s >= 1 the output of layer s), the average absolute weight of the
filters of l that read the k channels s produced. A layer that keeps large weights on old
sources reuses old features; the paper found that all layers spread their weights over many
inputs, and that the transition layers read most of the block.

In a DenseNet-B layer the concatenated inputs are read by the 1x1 bottleneck convolution (``conv1``),
so that is the weight used here (the paper's Fig. 5 is a DenseNet without bottlenecks, L = 40, k = 12,
whose 3x3 convolutions read the concatenation); the transition's 1x1 convolution, or the classifier
after the last block, is the block's last row.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ...analysis.summary import count_parameters
from ...models.densenet import DenseBlock, DenseNet, Transition
from ...models.registry import get_model

__all__ = ["DENSENET_PUBLISHED", "ReuseMap", "densenet_count_rows", "feature_reuse"]

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


@dataclass(frozen=True)
class ReuseMap:
    """One dense block: ``heat[row, s]`` is the mean |w| with which target ``targets[row]`` reads source s
    (column 0: the block's input, column s >= 1: layer s's k channels); NaN where the target cannot read s."""

    heat: torch.Tensor
    targets: tuple[str, ...]


@torch.no_grad()
def feature_reuse(model: DenseNet) -> list[ReuseMap]:
    """Per dense block, the mean absolute weight from each source to each target (Huang et al. Fig. 5).

    Targets: the block's layers (their ``conv1``, the 1x1 bottleneck that reads the concatenation), then
    what reads the whole block: the transition's 1x1 convolution, or after the last block the linear
    classifier (on the globally pooled maps).
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
        after = [m for m in following[following.index(block) + 1 :] if isinstance(m, (DenseBlock, Transition))]
        weights = [layer.conv1.weight for layer in layers]
        targets = [str(i + 1) for i in range(n)]
        if after and isinstance(after[0], Transition):
            weights.append(after[0].conv.weight)
            targets.append("trans.")
        elif not after and isinstance(getattr(model, "classifier", None), nn.Linear):
            weights.append(model.classifier.weight)
            targets.append("classifier")
        heat = torch.full((len(weights), n + 1), float("nan"))
        sizes = _sources(in_channels, n, growth)
        for row, weight in enumerate(weights):
            w = weight.abs().float().flatten(1)  # out x in (a 1x1 convolution or a linear layer)
            start = 0
            for s, size in enumerate(sizes[: row + 1]):
                heat[row, s] = w[:, start : start + size].mean()
                start += size
            if start != w.shape[1]:
                raise ValueError(f"target {targets[row]}: reads {w.shape[1]} channels, the sources add up to {start}")
        maps.append(ReuseMap(heat, tuple(targets)))
    return maps
