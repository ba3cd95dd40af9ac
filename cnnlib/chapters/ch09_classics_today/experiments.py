"""Experiments of chapter 09 (The classics today), registered with :func:`cnnlib.experiments.experiment`
(``python -m cnnlib.experiments run NAME`` runs one and stores its result; see :mod:`cnnlib.experiments`).

- ``recipe_<ingredient>`` for every ingredient of :data:`.recipes.INGREDIENTS` ("ResNet strikes back" at a CPU's
  scale): ResNet-20 trained from scratch on all 50,000 CIFAR-10 training images with the zoo's recipe at
  ``ABLATION_EPOCHS`` epochs plus one ingredient, once per seed of ``ABLATION_SEEDS``; each run is evaluated on
  all 10,000 test images after every epoch (in the precision the speed rule chose for training) and at the end
  in float32: plain, through its EMA weights, and with the test-time flip (:func:`cnnlib.analysis.tta.flip_predict`).
- ``kernel_density``: the RepVGG paper's Table 1 on this CPU: one k x k convolution (k = 1, 3, 5, 7) in
  GFLOP/s (two per multiply-add, the paper's unit), float32 and bfloat16 (:func:`.speed.kernel_density`).
- ``repvgg_speed``: RepVGG-A0 at 224 px and the zoo's CIFAR variant (width 0.5), multi-branch, BN folded and
  fused, at batch 1 and 64: time and peak activation memory (:func:`.speed.repvgg_speed`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

import torch

from ...experiments import experiment
from .recipes import ABLATION_EPOCHS, ABLATION_SEEDS, INGREDIENTS, ablation_config

ABLATION_MODEL = "resnet20"


def run_ingredient(ingredient: str, quick: bool = False) -> dict[str, Any]:
    """Train ResNet-20 with the baseline plus ``ingredient`` once per seed; the per-epoch test accuracy, the final
    test accuracy plain, through the EMA weights and with the flip, and the training time of each run."""
    from ... import zoo
    from ...analysis.tta import flip_predict
    from ...models import get_model
    from ...train import fit, predict

    entry = zoo.entry(ABLATION_MODEL)  # the zoo's CIFAR recipe and data
    train, test = zoo.load_dataset(entry, "train"), zoo.load_dataset(entry, "test")
    epochs, seeds = ABLATION_EPOCHS, ABLATION_SEEDS
    if quick:
        train, test, epochs, seeds = train.subset(512, seed=0), test.subset(200, seed=0), 1, seeds[:1]
    runs = []
    for seed in seeds:
        config = ablation_config(entry.config, ingredient, seed, epochs)
        if quick:  # the tests' code-path check: skip the speed rule's timing (about 10 s)
            config = replace(config, precision="fp32")
        torch.manual_seed(seed)
        model, averaged = get_model(ABLATION_MODEL), []
        history = fit(model, train, test, config, progress=False, ema_model=averaged)

        def accuracy(logits: torch.Tensor) -> float:
            return (logits.argmax(1) == test.labels).float().mean().item()

        # the final figures all in float32, whatever precision the speed rule chose for training (the per-epoch
        # curves are evaluated in that precision): the flip and the EMA change one thing, not the precision too
        runs.append(
            {
                "seed": seed,
                "test_acc": accuracy(predict(model, test)),
                "ema_test_acc": accuracy(predict(averaged[0], test)),
                "flip_test_acc": accuracy(flip_predict(model, test)),
                "train_seconds": history["train_seconds"],
                "speed": history["speed"],
                "epochs": [
                    {k: e[k] for k in ("epoch", "lr", "train_loss", "train_acc", "test_acc", "ema_test_acc")}
                    for e in history["epochs"]
                ],
            }
        )
    return {
        "ingredient": ingredient,
        "changes": INGREDIENTS[ingredient],
        "model": ABLATION_MODEL,
        "train_images": len(train),
        "test_images": len(test),
        "data_source": {"train": train.source, "test": test.source},
        "config": asdict(ablation_config(entry.config, ingredient, seeds[0], epochs)),
        "runs": runs,
    }


def _register(ingredient: str) -> None:
    changes = INGREDIENTS[ingredient] or "nothing: the zoo's recipe"
    experiment(
        f"recipe_{ingredient}",
        description=f"'ResNet strikes back' at a CPU's scale: ResNet-20 on CIFAR-10, {ABLATION_EPOCHS} epochs of the "
        f"zoo's recipe plus {changes}, seeds {ABLATION_SEEDS}",
    )(lambda quick=False: run_ingredient(ingredient, quick))


for _name in INGREDIENTS:
    _register(_name)


@experiment(
    "kernel_density",
    description="RepVGG Table 1 on this CPU: GFLOP/s of one k x k convolution, k = 1, 3, 5, 7, float32 and bfloat16",
)
def kernel_density_experiment(quick: bool = False) -> dict[str, Any]:
    from .speed import DENSITY_SHAPE, kernel_density

    shape = dict(DENSITY_SHAPE, channels=32, size=16) if quick else DENSITY_SHAPE
    return {"shape": shape, "rows": kernel_density(**shape, repeats=2 if quick else 10)}


@experiment(
    "repvgg_speed",
    description="RepVGG-A0 (224 px) and the zoo's repvgg_a0_cifar (32 px, width 0.5): multi-branch, BN folded and "
    "fused, batch 1 and 64, time and peak activation memory",
)
def repvgg_speed_experiment(quick: bool = False) -> dict[str, Any]:
    from .speed import repvgg_speed

    if quick:
        return {"rows": repvgg_speed((("repvgg_a0_cifar", 32, {"width": 0.5}),), batches=(1, 2), repeats=1)}
    return {"rows": repvgg_speed(batches=(1, 64), repeats=5)}


# --------------------------------------------------------------------------- the CPU speed-run (issue: 94 % in 15 min)

SPEEDRUN_SEEDS = (0, 1, 2)
SPEEDRUN_ABLATION_SEEDS = (0, 1)


def _speedrun_setup(quick: bool, peaks: bool = True):
    from ... import data as cdata
    from ...train import cpu_has_bf16
    from .speedrun import SpeedrunConfig, conv_peak_tflops

    train, test = cdata.load("cifar10", "train"), cdata.load("cifar10", "test")
    config = SpeedrunConfig()
    if quick:
        config = replace(config, epochs=1, batch_size=256, train_images=1024, test_images=500)
    if not peaks:
        return train, test, config, None
    bf16 = cpu_has_bf16()
    repeats = 1 if quick else 5
    measured = {
        "float32": conv_peak_tflops(torch.float32, repeats),
        "bfloat16": conv_peak_tflops(torch.bfloat16, repeats) if bf16 else None,
    }
    return train, test, config, measured


def _summary(runs: list[dict[str, Any]], peaks: dict[str, Any] | None) -> dict[str, Any]:
    accs = torch.tensor([r["test_acc"] for r in runs], dtype=torch.float64)
    summary = {
        "test_acc_mean": accs.mean().item(),
        "test_acc_std": accs.std().item() if len(runs) > 1 else 0.0,
        "train_seconds_mean": sum(r["train_seconds"] for r in runs) / len(runs),
        "train_pflop_mean": sum(r["train_pflop"] for r in runs) / len(runs),
        "achieved_tflops_mean": sum(r["achieved_tflops"] for r in runs) / len(runs),
    }
    if peaks:
        best_peak = max(v for p in peaks.values() if p for v in p.values())
        summary |= {"peak_tflops_best": best_peak, "share_of_peak": summary["achieved_tflops_mean"] / best_peak}
    return summary


@experiment(
    "speedrun_cifar10",
    description="The CPU speed-run: airbench94's network and recipe trained from scratch on CIFAR-10, three seeds; "
    "test accuracy, wall time, counted PFLOP and the TFLOP/s achieved against this CPU's measured convolution peak",
)
def speedrun_cifar10(quick: bool = False) -> dict[str, Any]:
    return speedrun_runs(SPEEDRUN_SEEDS[:1] if quick else SPEEDRUN_SEEDS, quick=quick)


@experiment(
    "speedrun_float32",
    description="The CPU speed-run's recipe in float32 (no autocast), seed 0: the precision the speed rule keeps on "
    "a CPU without bfloat16 instructions, read beside speedrun_cifar10's runs and the ablation rows trained in "
    "float32; with this CPU's float32 convolution peak",
)
def speedrun_float32(quick: bool = False) -> dict[str, Any]:
    return speedrun_runs(SPEEDRUN_SEEDS[:1], quick=quick, precision="fp32")


def speedrun_runs(seeds: Sequence[int], quick: bool = False, precision: str | None = None) -> dict[str, Any]:
    """The speed-run's record for these seeds: this CPU's convolution peak, every run, their summary and
    airbench's published figures (the experiment ``speedrun_cifar10`` is this for seeds 0, 1, 2).
    ``precision`` ("fp32", "bf16") overrides the recipe's "auto" (the speed rule's measured choice)."""
    from .speedrun import AIRBENCH_ABLATION_PUBLISHED, AIRBENCH_PUBLISHED, speedrun

    train, test, config, peaks = _speedrun_setup(quick)
    if precision is not None:
        config = replace(config, precision=precision)
    runs = [speedrun(train, test, config, seed=seed) for seed in seeds]
    return {
        "config": runs[0]["config"],
        "peak_tflops": peaks,
        "runs": runs,
        "summary": _summary(runs, peaks),
        "published": AIRBENCH_PUBLISHED,
        "published_ablation": AIRBENCH_ABLATION_PUBLISHED,
    }


@experiment(
    "speedrun_profile",
    description="Where a training step of the CPU speed-run spends its time (torch.profiler), and one epoch's "
    "data augmentation",
)
def speedrun_profile(quick: bool = False) -> dict[str, Any]:
    from .speedrun import SpeedrunConfig, step_profile

    config = SpeedrunConfig(batch_size=128) if quick else SpeedrunConfig()
    return step_profile(config, steps=1 if quick else 3)


def _register_speedrun_ablation(label: str) -> None:
    from .speedrun import ABLATIONS, ablation_experiment

    name = ablation_experiment(label)

    @experiment(name, description=f"The CPU speed-run without one ingredient ({label}: {ABLATIONS[label]}), two seeds")
    def run(quick: bool = False) -> dict[str, Any]:
        from .speedrun import speedrun

        train, test, config, _ = _speedrun_setup(quick, peaks=False)
        changed = replace(config, **ABLATIONS[label])
        seeds = SPEEDRUN_ABLATION_SEEDS[:1] if quick else SPEEDRUN_ABLATION_SEEDS
        runs = [speedrun(train, test, changed, seed=seed, eval_every_epoch=False) for seed in seeds]
        return {"removed": label, "change": ABLATIONS[label], "config": runs[0]["config"], "runs": runs,
                "summary": _summary(runs, None)}  # fmt: skip


def _register_speedrun_ablations() -> None:
    from .speedrun import ABLATIONS

    for label in ABLATIONS:
        _register_speedrun_ablation(label)


_register_speedrun_ablations()
