"""Experiments of chapter 06 (Why ResNet works), registered with :func:`cnnlib.experiments.experiment`
(``python -m cnnlib.experiments run NAME`` runs one and stores its result; see :mod:`cnnlib.experiments`).

- ``lesions``: Veit, Wilber, Belongie 2016 (Fig. 3 and 5) on the zoo's CIFAR-10 checkpoints, on the
  zoo's fixed 2,000-image CI subset of the test set:
  - every single block of resnet56 and of plain56 deleted in turn (the block replaced by the
    identity; a stage's first, downsampling block changes the shape and cannot be deleted), and
    every single shape-preserving layer (conv + BN + ReLU) of vgg11_bn_cifar;
  - ``k`` random blocks deleted at once, ``LESION_REPEATS`` random draws per ``k``;
  - the blocks of each stage shuffled by ``s`` random swaps of two blocks, ``LESION_REPEATS`` draws
    per ``s``, each with the Kendall tau of the new order.
"""

from __future__ import annotations

import random
from typing import Any

from ...experiments import experiment

LESION_MODELS = ("resnet56", "plain56")
LESION_REPEATS = 5
LESION_K = (1, 2, 4, 6, 8, 10, 12, 16, 20)
LESION_SWAPS = (1, 2, 4, 8, 12, 16, 24)
STAGES = ("layer1", "layer2", "layer3")
PATH_IMAGES = 128
PATH_SAMPLES = 10


def _deletable_blocks(model) -> list[str]:
    """The blocks whose output has their input's shape: all but each stage's first from stage 2 on."""
    names = []
    for stage in STAGES:
        for i, block in enumerate(model.get_submodule(stage)):
            downsamples = getattr(block, "downsample", None) is not None or getattr(block, "stride", 1) != 1
            if not (i == 0 and (stage != "layer1" or downsamples)):
                names.append(f"{stage}.{i}")
    return names


def _vgg_layers(model) -> list[tuple[str, list[str]]]:
    """(label, module names) of every conv + BN + ReLU layer of a VGG whose output has its input's shape;
    the label numbers the convolutions from 1 (VGG-11 has 8)."""
    import torch.nn as nn

    layers, convs = [], 0
    for i, m in enumerate(model.features):
        convs += isinstance(m, nn.Conv2d)
        if isinstance(m, nn.Conv2d) and m.in_channels == m.out_channels and m.stride == (1, 1):
            layers.append((f"conv{convs}", [f"features.{j}" for j in (i, i + 1, i + 2)]))  # conv4: the 4th conv
    return layers


@experiment(
    "lesions",
    description="Veit et al. 2016 Fig. 3 and 5: deleting single blocks (resnet56, plain56), layers (vgg11_bn_cifar), "
    "k random blocks, and shuffled blocks, on 2,000 CIFAR-10 test images",
)
def lesions(quick: bool = False) -> dict[str, Any]:
    from ... import zoo
    from ...analysis.lesion import reordered, swapped_order, without
    from ...analysis.metrics import kendall_tau
    from ...train import evaluate

    repeats = 1 if quick else LESION_REPEATS
    ks, swaps = ((1, 2), (1,)) if quick else (LESION_K, LESION_SWAPS)
    result: dict[str, Any] = {"repeats": repeats, "models": {}}
    for name in LESION_MODELS + ("vgg11_bn_cifar",):
        model, log = zoo.load(name)
        test = zoo.ci_subset(zoo.load_dataset(zoo.entry(name), "test"))
        if quick:
            test = test.subset(50, seed=0)
        record: dict[str, Any] = {"images": len(test), "intact": evaluate(model, test)["acc"]}
        if name.startswith("vgg"):
            record["single"] = {
                label: evaluate(without(model, names), test)["acc"] for label, names in _vgg_layers(model)
            }
            result["models"][name] = record
            continue
        blocks = _deletable_blocks(model)
        record["single"] = {b: evaluate(without(model, [b]), test)["acc"] for b in (blocks[:3] if quick else blocks)}
        rng = random.Random(0)
        record["k_deleted"] = {
            str(k): [evaluate(without(model, rng.sample(blocks, k)), test)["acc"] for _ in range(repeats)] for k in ks
        }
        shuffled = []
        for s in swaps:
            for _ in range(repeats):
                copy, taus = model, []
                for stage in STAGES:
                    n = len(model.get_submodule(stage))
                    order = swapped_order(n, s, rng, fixed_first=stage != "layer1")
                    copy, taus = reordered(copy, stage, order), taus + [kendall_tau(order)]
                shuffled.append({"swaps": s, "kendall_tau": sum(taus) / len(taus), "acc": evaluate(copy, test)["acc"]})
        record["shuffled"] = shuffled
        result["models"][name] = record
    return result


@experiment(
    "path_gradients",
    description="Veit et al. 2016 Fig. 6: the gradient that paths of each length send through the zoo's resnet56",
)
def path_gradients(quick: bool = False) -> dict[str, Any]:
    from ... import zoo
    from ...analysis.paths import gradient_by_path_length, path_length_counts
    from ...data import normalize

    model, _ = zoo.load("resnet56")
    blocks = [f"{stage}.{i}" for stage in STAGES for i in range(len(model.get_submodule(stage)))]
    images, samples = (16, 1) if quick else (PATH_IMAGES, PATH_SAMPLES)
    train = zoo.load_dataset(zoo.entry("resnet56"), "train").subset(images, seed=0)
    x, y = normalize(train.images, train.spec.mean, train.spec.std), train.labels
    lengths = list(range(0, len(blocks) + 1, 9 if quick else 1))
    norms = gradient_by_path_length(model, blocks, x, y, lengths, samples=samples, seed=0)
    counts = path_length_counts(len(blocks))
    return {
        "blocks": len(blocks),
        "images": images,
        "samples": samples,
        "data_source": train.source,
        "lengths": lengths,
        "gradient_norm": [norms[k] for k in lengths],  # mean over the sampled paths of that length
        "path_count": [counts[k] for k in lengths],
    }
