"""The chapter's photos and models: the ImageNet MobileNetV2 on Imagenette, and helpers to pick examples.

Every figure of the chapter explains the same kind of thing: one class score of one image. The
helpers here pick photos the model gets right and wrong (from a fixed random subset, so every run
shows the same ones), normalise them, and name classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch import Tensor

from ...data import load
from ...data.augment import normalize
from ...data.imagenet import imagenet_classes, imagenette_targets
from ...data.sources import ImageTensors
from ...pretrained import pretrained_mobilenet_v2
from ...runtime import reuse_freed_memory

__all__ = ["Examples", "imagenet_model", "pick_examples", "short_name"]


def short_name(name: str, width: int = 16) -> str:
    """A class name cut to ``width`` characters for a caption (``"English springer"`` stays whole)."""
    return name if len(name) <= width else name[: width - 1] + "…"


def imagenet_model() -> tuple[nn.Module, str, ImageTensors]:
    """(MobileNetV2 with ImageNet weights in eval mode, which weights, Imagenette's validation photos)."""
    model, source = pretrained_mobilenet_v2()
    return model, source, load("imagenette", "val")


@dataclass
class Examples:
    """Photos picked for a figure: uint8 ``images``, normalised ``x``, ImageNet ``labels`` and ``predictions``."""

    images: Tensor
    x: Tensor
    labels: Tensor
    predictions: Tensor
    confidence: Tensor
    indices: list[int]  # positions in the pool (``photos.subset(pool, seed)``)

    @property
    def correct(self) -> Tensor:
        return self.predictions == self.labels

    def caption(self, i: int) -> str:
        names = imagenet_classes()
        truth, guess = names[int(self.labels[i])], names[int(self.predictions[i])]
        mark = "right" if bool(self.correct[i]) else f"wrong (true: {short_name(truth)})"
        return f"{short_name(guess)} {100 * float(self.confidence[i]):.0f} %\n{mark}"


def _first(candidates: list[int], labels: Tensor, k: int, distinct: bool) -> list[int]:
    """The first ``k`` candidates; with ``distinct``, one per class first, in order, then the rest."""
    if not distinct:
        return candidates[:k]
    first, seen = [], set()
    for i in candidates:
        if int(labels[i]) not in seen:
            first.append(i)
            seen.add(int(labels[i]))
    return (first + [i for i in candidates if i not in first])[:k]


@torch.no_grad()
def pick_examples(
    model: nn.Module,
    photos: ImageTensors,
    right: int,
    wrong: int,
    pool: int = 96,
    seed: int = 0,
    distinct: bool = False,
) -> Examples:
    """The first ``right`` correctly and ``wrong`` wrongly classified photos (1,000-way) of a fixed random
    ``pool`` of Imagenette's photos, right ones first; raises when the pool holds too few.

    ``distinct=True`` takes photos of different true classes first (the pool is in class order).
    """
    reuse_freed_memory()  # many same-sized batches: keep freed memory (see cnnlib.runtime)
    subset = photos.subset(pool, seed=seed)
    x = normalize(subset.images, subset.spec.mean, subset.spec.std)
    model.eval()
    probs = torch.cat([model(chunk).softmax(1) for chunk in x.split(32)])
    labels = imagenette_targets(subset)
    confidence, predictions = probs.max(1)
    hit = (predictions == labels).nonzero().flatten().tolist()
    miss = (predictions != labels).nonzero().flatten().tolist()
    if len(hit) < right or len(miss) < wrong:
        raise ValueError(f"a pool of {pool} photos has {len(hit)} right and {len(miss)} wrong: enlarge the pool")
    chosen = _first(hit, labels, right, distinct) + _first(miss, labels, wrong, distinct)
    return Examples(subset.images[chosen], x[chosen], labels[chosen], predictions[chosen], confidence[chosen], chosen)
