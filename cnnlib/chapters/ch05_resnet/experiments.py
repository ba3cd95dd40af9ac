"""Experiments of chapter 05 (ResNet and its relatives), registered with :func:`cnnlib.experiments.experiment`
(``python -m cnnlib.experiments run NAME`` runs one and stores its result; see :mod:`cnnlib.experiments`).

- ``loss_landscape``: Li et al. 2018 (Fig. 5) on the zoo's CIFAR-10 checkpoints: the training loss on
  a 2-D slice through the weights of resnet56 and of plain56 (the same 56 layers without shortcuts),
  along two filter-normalised random directions, on a grid of ``LANDSCAPE_STEPS`` x ``LANDSCAPE_STEPS``
  points from -1 to 1 (the paper: 51 x 51 on all 50,000 training images; here a fixed subset of
  ``LANDSCAPE_IMAGES`` training images, to fit a CPU).
- ``stochastic_depth``: Huang et al. 2016 at a budget a CPU affords: ResNet-32 trained from scratch
  with and without stochastic depth (p_L = 0.5, linear decay), the zoo's CIFAR recipe shortened to
  ``SD_EPOCHS`` epochs on ``SD_IMAGES`` training images, evaluated on the zoo's 2,000-image test
  subset. A regulariser's effect needs long training (the paper: 500 epochs); this run shows what it
  does to a short one.
"""

from __future__ import annotations

from typing import Any

import torch

from ...experiments import experiment

LANDSCAPE_MODELS = ("resnet56", "plain56")
LANDSCAPE_STEPS = 21  # grid points per axis, from -LANDSCAPE_SPAN to +LANDSCAPE_SPAN (0 is a grid point)
LANDSCAPE_SPAN = 1.0
LANDSCAPE_IMAGES = 1000  # a fixed subset of the CIFAR-10 training images (seed 0)
SD_MODEL = "resnet32"
SD_EPOCHS = 8
SD_IMAGES = 10_000
SD_DROP_LAST = 0.5  # 1 - p_L


@experiment(
    "loss_landscape",
    description="Li et al. 2018 Fig. 5: training loss on a 2-D slice (filter-normalised directions) around the zoo's "
    "resnet56 and plain56",
)
def loss_landscape(quick: bool = False) -> dict[str, Any]:
    """Loss and accuracy on the grid for each model; the directions are seeded (seed 1 and 2 for every model)."""
    from ... import zoo
    from ...analysis.landscape import filter_normalized_direction, loss_along

    steps, images = (3, 20) if quick else (LANDSCAPE_STEPS, LANDSCAPE_IMAGES)
    grid = torch.linspace(-LANDSCAPE_SPAN, LANDSCAPE_SPAN, steps).tolist()
    result: dict[str, Any] = {
        "steps": steps,
        "span": LANDSCAPE_SPAN,
        "images": images,
        "coordinates": grid,
        "models": {},
    }
    for name in LANDSCAPE_MODELS:
        model, log = zoo.load(name)
        data = zoo.load_dataset(zoo.entry(name), "train").subset(images, seed=0)
        d1 = filter_normalized_direction(model, torch.Generator().manual_seed(1))
        d2 = filter_normalized_direction(model, torch.Generator().manual_seed(2))
        surface = loss_along(model, data, d1, grid, d2, grid)
        result["models"][name] = {
            "loss": [[round(v, 5) for v in row] for row in surface.loss.tolist()],  # rows: beta; columns: alpha
            "accuracy": [[round(v, 5) for v in row] for row in surface.accuracy.tolist()],
            "test_acc": log["stored"]["test_acc"],
            "data_source": data.source,
        }
    return result


@experiment(
    "stochastic_depth",
    description="Huang et al. 2016 in a short run: ResNet-32 with and without stochastic depth (p_L = 0.5), "
    "8 epochs on 10,000 CIFAR-10 training images",
)
def stochastic_depth(quick: bool = False) -> dict[str, Any]:
    """Per-epoch history of both runs, the same seed and data order; the final train/test accuracies."""
    from dataclasses import asdict, replace

    from ... import zoo
    from ...models import get_model
    from ...train import evaluate, fit

    epochs, images = (1, 256) if quick else (SD_EPOCHS, SD_IMAGES)
    entry = zoo.entry("resnet20")  # the zoo's CIFAR recipe and data
    config = replace(entry.config, epochs=epochs)
    train = zoo.load_dataset(entry, "train").subset(images, seed=0)
    test = zoo.ci_subset(zoo.load_dataset(entry, "test"))
    if quick:
        test = test.subset(100, seed=0)
    runs = {}
    for label, drop in (("constant depth", 0.0), ("stochastic depth", SD_DROP_LAST)):
        torch.manual_seed(config.seed)
        model = get_model(SD_MODEL, stochastic_depth_prob=drop)
        history = fit(model, train, test, config, progress=False)
        runs[label] = {
            "stochastic_depth_prob": drop,
            "epochs": history["epochs"],
            "train_seconds": history["train_seconds"],
            "train_acc_clean": evaluate(model, train)["acc"],
            "test_acc": history["epochs"][-1]["test_acc"],
        }
    return {
        "model": SD_MODEL,
        "epochs": epochs,
        "train_images": images,
        "test_images": len(test),
        "config": asdict(config),
        "runs": runs,
    }
