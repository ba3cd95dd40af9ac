"""Experiments of chapter 02 (AlexNet and ZFNet), registered with :func:`cnnlib.experiments.experiment`
(``python -m cnnlib.experiments run NAME`` runs one and stores its result; see :mod:`cnnlib.experiments`).

- ``relu_vs_tanh``: the paper's Fig. 1 re-measured: how many SGD iterations a four-layer CNN needs to
  reach 25 % *training* error on CIFAR-10 with ReLU and with tanh (each with its own best learning rate).
- ``dropout_augmentation``: a small AlexNet-style net on a 2,000-image CIFAR-10 subset, trained with
  and without dropout and augmentation: training vs test accuracy, i.e. the generalisation gap.
- ``ten_crop_tta``: AlexNet's 10-crop test-time augmentation on the zoo's ``alexnet_cifar`` (and, as a
  second model, ``resnet20``): every view's accuracy, the 2-, 5- and 10-view averages and McNemar's
  paired tests between them, on all 10,000 CIFAR-10 test images; plus a check that the dataset's images
  are oriented as the official release (a flipped copy would bias the mirror's result).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import torch
import torch.nn as nn

from ... import data as cdata
from ...analysis.metrics import first_crossing, mcnemar
from ...experiments import experiment
from ...models import get_model
from ...models.alexnet import Fig1CNN
from ...runtime import seed_everything
from ...train import TrainConfig, choose_speed_settings, evaluate, fit, train_one_epoch

__all__ = ["ErrorRace"]

TARGET_ERROR = 0.25  # the paper's Fig. 1 threshold: 25 % training error


class ErrorRace:
    """Train with plain SGD (momentum 0.9, constant ``lr``, no weight decay, no augmentation), one epoch at
    a time, recording the running training error, until it reaches ``target``.

    The training error is measured as the paper's Fig. 1 plots it: on the training batches as they are
    seen (while the weights change), averaged over windows of ``1 / windows_per_epoch`` epoch.
    Each epoch is :func:`cnnlib.train.train_one_epoch`; no second training loop.
    """

    def __init__(
        self,
        model: nn.Module,
        train: cdata.ImageTensors,
        lr: float,
        *,
        target: float = TARGET_ERROR,
        batch_size: int = 128,
        windows_per_epoch: int = 10,
        seed: int = 0,
    ) -> None:
        if not 0 < target < 1:
            raise ValueError(f"target is a training error in (0, 1), got {target}")
        self.model, self.train, self.lr, self.target = model, train, lr, target
        self.steps_per_epoch = len(train) // batch_size
        if self.steps_per_epoch < 1:
            raise ValueError(f"{len(train)} training images do not fill one batch of {batch_size}")
        log_every = max(1, self.steps_per_epoch // windows_per_epoch)
        self.config = TrainConfig(
            batch_size=batch_size,
            lr=lr,
            optimizer="sgd",
            momentum=0.9,
            weight_decay=0.0,
            schedule="constant",
            seed=seed,
            precision="fp32",
            log_every=log_every,
        )
        self.generator = seed_everything(seed)
        self.speed = choose_speed_settings(
            model, train.shape, batch_size, torch.device("cpu"), "fp32", channels_last=False
        )
        # plain momentum as in the paper (v <- 0.9 v - lr * grad), not TrainConfig's Nesterov default
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: 1.0)
        self.curve: list[dict[str, float]] = []
        self.epochs, self.seconds = 0, 0.0

    @property
    def steps_to_target(self) -> float | None:
        return first_crossing(self.curve, self.target)

    def run(self, max_epochs: int) -> "ErrorRace":
        """Train until the target is reached (checked after each epoch) or ``max_epochs`` have been run in all."""
        while self.epochs < max_epochs and self.steps_to_target is None:
            t0 = time.perf_counter()
            result = train_one_epoch(
                self.model, self.train, self.optimizer, self.scheduler, self.config, self.speed, self.generator
            )
            for window in result["steps"]:
                self.curve.append(
                    {
                        "step": self.epochs * self.steps_per_epoch + window["step_in_epoch"],
                        "train_error": 1 - window["train_acc"],
                        "train_loss": window["train_loss"],
                    }
                )
            self.epochs += 1
            self.seconds += time.perf_counter() - t0
        return self

    def to_record(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "steps_to_target": self.steps_to_target,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs_trained": self.epochs,
            "seconds": round(self.seconds, 1),
            "curve": self.curve,
        }


@experiment(
    "relu_vs_tanh",
    description=(
        "Krizhevsky et al. 2012, Fig. 1: iterations of a four-layer CNN to 25 % training error on CIFAR-10, "
        "ReLU vs tanh"
    ),
)
def relu_vs_tanh(quick: bool = False) -> dict[str, Any]:
    """For each activation: one pilot epoch at each learning rate of the grid; the run with the lowest
    running training error after it continues until 25 % training error (or the cap)."""
    train = cdata.load("cifar10", "train")
    lrs = (0.01, 0.03)
    max_epochs = 14
    if quick:
        train, lrs, max_epochs = train.subset(256), (0.01, 0.03), 1
    results: dict[str, Any] = {}
    for name, activation in (("relu", nn.ReLU), ("tanh", nn.Tanh)):
        races = {}
        for lr in lrs:
            torch.manual_seed(0)  # identical initial weights in every run (ReLU and tanh nets have the same shapes)
            races[lr] = ErrorRace(Fig1CNN(activation), train, lr).run(max_epochs=1)
        pilot = {str(lr): race.curve[-1]["train_error"] for lr, race in races.items()}
        best = min(races.values(), key=lambda race: (race.steps_to_target is None, race.curve[-1]["train_error"]))
        best.run(max_epochs)
        others = [race for race in races.values() if race is not best]
        results[name] = {
            "lr_grid": list(lrs),
            "pilot_error_after_one_epoch": pilot,
            **best.to_record(),
            "other_pilots": [race.to_record() for race in others],
        }
    relu_steps, tanh_steps = results["relu"]["steps_to_target"], results["tanh"]["steps_to_target"]
    return {
        "target_error": TARGET_ERROR,
        "network": (
            "Fig1CNN(width=32): conv5x5-32, conv5x5-32, conv5x5-64 (each + activation + 2x2 max pool), linear 1024->10"
        ),
        "optimizer": (
            "SGD, momentum 0.9 (not Nesterov), constant learning rate, batch 128, no weight decay, no augmentation"
        ),
        "train_images": len(train),
        "seeds": [0],
        "relu": results["relu"],
        "tanh": results["tanh"],
        "ratio": (tanh_steps / relu_steps) if relu_steps and tanh_steps else None,
        "paper_ratio": 6,
    }


@experiment(
    "dropout_augmentation",
    description=(
        "alexnet_cifar (width 0.25) on 2,000 CIFAR-10 images with and without dropout and augmentation: "
        "train vs test accuracy"
    ),
)
def dropout_augmentation(quick: bool = False) -> dict[str, Any]:
    """Four runs of the same small AlexNet-style net, the same recipe, the same 2,000 training images."""
    train = cdata.load("cifar10", "train").subset(2000, seed=0)
    test = cdata.load("cifar10", "test")
    curve_test = test.subset(2000, seed=0)  # per-epoch test curve on a fixed subset (cheap); final on all 10,000
    # lr 0.05 and 30 epochs: enough for the plain net to fit all 2,000 images (a first try with lr 0.01 and
    # 15 epochs left every variant under 26 % accuracy: underfitting, no gap to regularise).
    base = TrainConfig(
        epochs=30, batch_size=64, lr=0.05, weight_decay=5e-4, schedule="onecycle", seed=0, precision="fp32"
    )
    model_kwargs: dict[str, Any] = {"width": 0.25, "hidden": 256}
    if quick:
        train, test, curve_test = train.subset(128), test.subset(128), test.subset(64)
        base = replace(base, epochs=1)
    variants = {
        "neither": dict(dropout=0.0, crop_padding=0, flip=False),
        "dropout": dict(dropout=0.5, crop_padding=0, flip=False),
        "augmentation": dict(dropout=0.0, crop_padding=4, flip=True),
        "both": dict(dropout=0.5, crop_padding=4, flip=True),
    }
    runs = {}
    for name, v in variants.items():
        config = replace(base, crop_padding=v["crop_padding"], flip=v["flip"])
        model = get_model("alexnet_cifar", dropout=v["dropout"], **model_kwargs)
        history = fit(model, train, curve_test, config, device="cpu", progress=False)
        clean_train = evaluate(model, train)  # without dropout or augmentation: what the net has fitted
        final_test = evaluate(model, test)
        runs[name] = {
            **v,
            "train_acc": clean_train["acc"],
            "test_acc": final_test["acc"],
            "gap": clean_train["acc"] - final_test["acc"],
            "epochs": [{k: e[k] for k in ("epoch", "train_loss", "train_acc", "test_acc")} for e in history["epochs"]],
            "train_seconds": round(history["train_seconds"], 1),
        }
    return {
        "model": "alexnet_cifar(width=0.25, hidden=256)",
        "train_images": len(train),
        "test_images": len(test),
        "recipe": (
            f"SGD Nesterov momentum 0.9, lr {base.lr} one-cycle, weight decay 5e-4, batch {base.batch_size}, "
            f"{base.epochs} epochs, seed 0"
        ),
        "augmentation": "random crop of the 4-pixel zero-padded image + horizontal flip",
        "dropout": "p = 0.5 on the inputs of fc6 and fc7 (as torchvision; Caffe's reference model drops their outputs)",
        "runs": runs,
    }


TTA_MODELS = ("alexnet_cifar", "resnet20")  # the chapter's own model first; then the model of the first edition
TTA_ANSWERS = (  # the ways of combining the views, by name
    "single_centre",
    "mirror_centre",
    "centre_and_mirror",
    "five_crops_no_mirror",
    "five_mirrored_crops",
    "ten_crop_logits",
    "ten_crop_softmax",
)
TTA_COMPARISONS = (  # (A, B) pairs of answers compared with McNemar's test on the same images
    *(("single_centre", answer) for answer in TTA_ANSWERS[1:]),  # every way against the image alone
    ("centre_and_mirror", "ten_crop_logits"),  # what the eight other views add to the pair
    ("ten_crop_logits", "ten_crop_softmax"),  # the paper's average against ours
)


@experiment(
    "ten_crop_tta",
    description=(
        "AlexNet's 10-crop test-time augmentation on the zoo's alexnet_cifar and resnet20: every view and "
        "their averages on all 10,000 CIFAR-10 test images, McNemar's paired tests, the images' orientation"
    ),
)
def ten_crop_tta(quick: bool = False) -> dict[str, Any]:
    """Every view's logits once per model; single-view, 2-view (mirror), 5- and 10-view accuracies from
    them, and McNemar's test for each pair in :data:`TTA_COMPARISONS`."""
    from ... import zoo
    from ...analysis.tta import VIEW_NAMES, ten_crop_outputs

    test = cdata.load("cifar10", "test")
    if quick:
        test = test.subset(50, seed=0)
    labels = test.labels
    centre, mirror = VIEW_NAMES.index("centre"), VIEW_NAMES.index("mirror centre")
    models = {}
    for name in TTA_MODELS[:1] if quick else TTA_MODELS:
        model, log = zoo.load(name)
        padding = log["recipe"]["crop_padding"]  # the training crops' padding (4)
        outputs = ten_crop_outputs(model, test, padding=padding)  # 10 x N x classes
        answers = {
            "single_centre": outputs[centre],
            "mirror_centre": outputs[mirror],
            "centre_and_mirror": outputs[[centre, mirror]].mean(0),
            "five_crops_no_mirror": outputs[:5].mean(0),
            "five_mirrored_crops": outputs[5:].mean(0),
            "ten_crop_logits": outputs.mean(0),
            "ten_crop_softmax": outputs.softmax(-1).mean(0),
        }
        assert tuple(answers) == TTA_ANSWERS
        correct = {key: logits.argmax(-1) == labels for key, logits in answers.items()}
        models[name] = {
            "zoo_test_acc_all_10000": log["final"]["test_acc_float32_weights"],
            "padding": padding,
            "per_view_acc": {
                view: (outputs[i].argmax(-1) == labels).float().mean().item() for i, view in enumerate(VIEW_NAMES)
            },
            **{key: right.float().mean().item() for key, right in correct.items()},
            "mcnemar": {f"{a} vs {b}": mcnemar(correct[a], correct[b]) for a, b in TTA_COMPARISONS},
            "changed_by_ten_crop": {
                "fixed": int((~correct["single_centre"] & correct["ten_crop_logits"]).sum()),
                "broken": int((correct["single_centre"] & ~correct["ten_crop_logits"]).sum()),
            },
        }
    return {
        "test_images": len(test),
        "orientation": cdata.cifar10_orientation(cdata.load("cifar10", "train")),
        "models": models,
    }
