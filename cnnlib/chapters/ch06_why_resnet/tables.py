"""Chapter 06's published tables and the seed's architecture table, counted from cnnlib.

Sources: He, Zhang, Ren, Sun, *Deep Residual Learning for Image Recognition*, CVPR 2016 (arXiv
1512.03385), Table 2; seed 002's table "fewer dense layers" (after the AWS Machine Learning
University slides); the zoo's logs.
"""

from __future__ import annotations

from typing import Any

import torch.nn as nn

from ...analysis.summary import count_parameters
from ...models import build_on_meta

__all__ = [
    "ARCHITECTURES",
    "IMAGENET_TABLE2",
    "SEED_TABLE",
    "architecture_table",
    "layer_counts",
    "lesion_rows",
    "stage_drops",
]

# Table 2: ImageNet top-1 error (%, 10-crop testing) of nets with and without shortcuts (same parameters)
IMAGENET_TABLE2: dict[str, dict[int, float]] = {
    "plain": {18: 27.94, 34: 28.54},
    "ResNet": {18: 27.88, 34: 25.03},
}
# The seed's table: parameters, convolutional layers, dense layers (ResNets: 1x1 shortcut convs not counted)
SEED_TABLE: dict[str, tuple[str, int, int]] = {
    "LeNet": ("60 k", 2, 3),
    "AlexNet": ("62 M", 5, 3),
    "VGG16": ("138 M", 13, 3),
    "VGG19": ("144 M", 16, 3),
    "ResNet50": ("25.6 M", 49, 1),
    "ResNet101": ("44.5 M", 100, 1),
    "ResNet152": ("60.3 M", 151, 1),
}
# seed's row -> cnnlib's registry name (AlexNet: the paper's single-tower layout that the seed counts)
ARCHITECTURES = {
    "LeNet": "lenet5",
    "AlexNet": "alexnet_paper",
    "VGG16": "vgg16",
    "VGG19": "vgg19",
    "ResNet50": "resnet50",
    "ResNet101": "resnet101",
    "ResNet152": "resnet152",
}


def layer_counts(model: nn.Module) -> tuple[int, int]:
    """(convolutions, linear layers) of a model; convolutions on a shortcut (``downsample``) not counted."""
    convs = sum(isinstance(m, nn.Conv2d) and "downsample" not in name for name, m in model.named_modules())
    return convs, sum(isinstance(m, nn.Linear) for m in model.modules())


def architecture_table() -> list[dict[str, Any]]:
    """The seed's table counted on cnnlib's models (meta device): one row per architecture, with the
    seed's figures beside (``seed_params``, ``seed_convs``, ``seed_dense``)."""
    rows = []
    for label, name in ARCHITECTURES.items():
        model = build_on_meta(name)
        convs, dense = layer_counts(model)
        seed_params, seed_convs, seed_dense = SEED_TABLE[label]
        rows.append(
            {
                "name": label,
                "model": name,
                "params": count_parameters(model),
                "convs": convs,
                "dense": dense,
                "seed_params": seed_params,
                "seed_convs": seed_convs,
                "seed_dense": seed_dense,
            }
        )
    return rows


def lesion_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per model of a ``lesions`` result: the single deletions' mean and worst accuracy drop
    (points), and the block or layer whose deletion hurt most."""
    rows = []
    for name, record in result["models"].items():
        drops = {where: 100 * (record["intact"] - acc) for where, acc in record["single"].items()}
        worst = max(drops, key=drops.get)
        rows.append(
            {
                "net": name,
                "deletions": len(drops),
                "intact": 100 * record["intact"],
                "mean_drop": sum(drops.values()) / len(drops),
                "worst_drop": drops[worst],
                "worst_at": worst,
            }
        )
    return rows


def stage_drops(record: dict[str, Any]) -> dict[str, float]:
    """Mean accuracy drop (points) of the single deletions in each stage of one ``lesions`` model record
    (block names ``layerN.i``)."""
    drops: dict[str, list[float]] = {}
    for where, acc in record["single"].items():
        drops.setdefault(where.split(".")[0], []).append(100 * (record["intact"] - acc))
    return {stage: sum(v) / len(v) for stage, v in drops.items()}
