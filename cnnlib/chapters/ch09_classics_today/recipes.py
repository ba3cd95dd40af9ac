"""'ResNet strikes back' (Wightman, Touvron & Jégou 2021) as data, and the CIFAR-10 ablation built on the zoo's recipe.

The paper retrains a plain ResNet-50 with a 2021 procedure and gains 5.1 points of ImageNet top-1 over the
2015 recipe (75.3 % -> 80.4 %, Table 2; 4.3 over torchvision's 76.1 %) without touching the architecture.
Its tables are copied here as the paper prints them. The ablation does the same thing at a CPU's scale: the
zoo's ``resnet20`` recipe (``cnnlib.zoo.entries.CIFAR_RECIPE``: SGD with Nesterov momentum, one-cycle schedule
with a 15 % linear warm-up, crop + flip) is the baseline, shortened to ``ABLATION_EPOCHS`` epochs, and each
experiment adds one ingredient to it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

from ...train import TrainConfig

__all__ = [
    "ABLATION_EPOCHS",
    "ABLATION_SEEDS",
    "EMA_DECAY",
    "INGREDIENTS",
    "RSB_TABLE1",
    "RSB_TABLE2",
    "RSB_TABLE2_PROCEDURES",
    "ablation_config",
    "ablation_rows",
    "ablation_verdicts",
    "describe",
    "stored_ablation",
    "rsb_rows",
]

# Wightman et al., Table 1: the three procedures on ResNet-50 (4 V100 GPUs); top-1 at 224 px on ImageNet-1k
# val, ImageNet-ReaL and ImageNet-V2. The torchvision (pytorch-zoo) ResNet-50 of that time: 76.1 % val.
RSB_TABLE1: dict[str, dict[str, Any]] = {
    "A1": {
        "epochs": 600,
        "train_res": 224,
        "hours": 110,
        "peak_mb": 22_095,
        "gpus": 4,
        "val": 80.4,
        "real": 85.7,
        "v2": 68.7,
    },
    "A2": {
        "epochs": 300,
        "train_res": 224,
        "hours": 55,
        "peak_mb": 22_095,
        "gpus": 4,
        "val": 79.8,
        "real": 85.4,
        "v2": 67.9,
    },
    "A3": {
        "epochs": 100,
        "train_res": 160,
        "hours": 15,
        "peak_mb": 11_390,
        "gpus": 4,
        "val": 78.1,
        "real": 84.5,
        "v2": 66.1,
    },
}

# Wightman et al., Table 2 (ingredients and hyper-parameters for ResNet-50), the columns of He et al. 2016's
# original recipe, torchvision's ("PyTorch") and the paper's three; "✗" = not used.
RSB_TABLE2_PROCEDURES = ("ResNet (2015)", "PyTorch", "A1", "A2", "A3")
RSB_TABLE2: list[tuple[str, tuple[str, ...]]] = [
    ("train / test resolution", ("224 / 224", "224 / 224", "224 / 224", "224 / 224", "160 / 224")),
    ("epochs", ("90", "90", "600", "300", "100")),
    ("batch size", ("256", "256", "2048", "2048", "2048")),
    ("optimiser", ("SGD-M", "SGD-M", "LAMB", "LAMB", "LAMB")),
    ("learning rate", ("0.1", "0.1", "5e-3", "5e-3", "8e-3")),
    ("schedule", ("step", "step", "cosine", "cosine", "cosine")),
    ("weight decay", ("1e-4", "1e-4", "0.01", "0.02", "0.02")),
    ("warm-up epochs", ("✗", "✗", "5", "5", "5")),
    ("label smoothing ε", ("✗", "✗", "0.1", "✗", "✗")),
    ("stochastic depth", ("✗", "✗", "0.05", "0.05", "✗")),
    ("repeated augmentation", ("✗", "✗", "✓", "✓", "✗")),
    ("random resized crop", ("✗", "✓", "✓", "✓", "✓")),
    ("RandAugment", ("✗", "✗", "7/0.5", "7/0.5", "6/0.5")),
    ("mixup α", ("✗", "✗", "0.2", "0.1", "0.1")),
    ("CutMix α", ("✗", "✗", "1.0", "1.0", "1.0")),
    ("colour jitter / PCA lighting", ("PCA", "jitter", "✗", "✗", "✗")),
    ("EMA of weights", ("✗", "✗", "✗", "✗", "✗")),
    ("test crop ratio", ("0.875", "0.875", "0.95", "0.95", "0.95")),
    ("loss", ("CE", "CE", "BCE", "BCE", "BCE")),
    ("mixed precision", ("✗", "✗", "✓", "✓", "✓")),
    ("ImageNet top-1 (%)", ("75.3", "76.1", "80.4", "79.8", "78.1")),
]

ABLATION_EPOCHS = 4  # the zoo's 30-epoch recipe cut to 4 epochs, to fit a session of runs on 2 cores
ABLATION_SEEDS = (0, 1)
EMA_DECAY = 0.995  # per optimiser step: an average over the last ~200 steps (an epoch is 195 steps of 256 images)

# ingredient -> the fields of the baseline's TrainConfig it changes. EMA and test-time flip change nothing in
# training: every run keeps an EMA of its weights (it does not touch the optimiser) and is evaluated with and
# without the flip, so those two are read off the baseline's runs. Longer training is the zoo's own resnet20
# run: the same recipe at its full 30 epochs (``ablation_rows(..., longer=zoo.read_log("resnet20"))``), one seed.
INGREDIENTS: dict[str, dict[str, Any]] = {
    "baseline": {},
    "warmup_cosine": {"schedule": "warmup_cosine"},
    "label_smoothing": {"label_smoothing": 0.1},
    "mixup": {"mixup_alpha": 0.2},
    "cutmix": {"cutmix_alpha": 1.0},
}


def ablation_config(base: TrainConfig, ingredient: str, seed: int, epochs: int = ABLATION_EPOCHS) -> TrainConfig:
    """The baseline ``base`` (the zoo's resnet20 recipe) at ``epochs`` epochs with one ingredient added."""
    if ingredient not in INGREDIENTS:
        raise KeyError(f"unknown ingredient {ingredient!r}; choose from {sorted(INGREDIENTS)}")
    return replace(base, epochs=epochs, seed=seed, ema_decay=EMA_DECAY, **INGREDIENTS[ingredient])


def describe(ingredient: str) -> str:
    """What the ingredient changes in the baseline's config, as ``field = value`` pairs."""
    changes = INGREDIENTS[ingredient]
    return ", ".join(f"{k} = {v}" for k, v in changes.items()) or "nothing: the zoo's recipe"


def rsb_rows() -> list[dict[str, str]]:
    """Table 2 of the paper as rows (ingredient, then one column per procedure)."""
    return [{"ingredient": name, **dict(zip(RSB_TABLE2_PROCEDURES, values))} for name, values in RSB_TABLE2]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def ablation_rows(
    results: Mapping[str, Mapping[str, Any]], longer: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """One row per ingredient from the stored results (``{ingredient: result of recipe_<ingredient>}``).

    Each row: ``ingredient``, ``accs`` (test accuracy in % per seed), ``mean``, ``spread`` (max - min over the
    seeds), ``gain`` (mean minus the baseline's mean, in points), ``epochs`` and ``minutes`` (mean wall time
    of a training run, on whatever else the machine was doing).
    EMA and flip rows come from the baseline's runs (other evaluations of the same runs). ``longer``: a zoo log of
    the same recipe trained for longer (the zoo's ``resnet20``), added as a one-seed row.
    """
    if "baseline" not in results:
        raise KeyError("the ablation needs the baseline's result: python -m cnnlib.experiments run recipe_baseline")
    rows = []

    def row(name: str, accs: list[float], minutes: float, epochs: int) -> dict[str, Any]:
        return {"ingredient": name, "accs": accs, "mean": _mean(accs), "spread": max(accs) - min(accs),
                "minutes": minutes, "epochs": epochs}  # fmt: skip

    base_runs = results["baseline"]["runs"]
    base_minutes = _mean([r["train_seconds"] for r in base_runs]) / 60
    base_epochs = results["baseline"]["config"]["epochs"]
    rows.append(row("baseline", [100 * r["test_acc"] for r in base_runs], base_minutes, base_epochs))
    rows.append(row("EMA of weights", [100 * r["ema_test_acc"] for r in base_runs], base_minutes, base_epochs))
    rows.append(row("test-time flip", [100 * r["flip_test_acc"] for r in base_runs], base_minutes, base_epochs))
    for name in INGREDIENTS:
        if name != "baseline" and name in results:
            runs = results[name]["runs"]
            minutes = _mean([r["train_seconds"] for r in runs]) / 60
            rows.append(row(name, [100 * r["test_acc"] for r in runs], minutes, results[name]["config"]["epochs"]))
    if longer is not None:
        epochs = len(longer["epochs"])
        rows.append(row(f"longer: {epochs} epochs (zoo, 1 seed)", [100 * longer["stored"]["test_acc"]],
                        longer["train_seconds"] / 60, epochs))  # fmt: skip
    for r in rows:
        r["gain"] = r["mean"] - rows[0]["mean"]
    return rows


def stored_ablation() -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The stored results of the ablation's experiments (``{ingredient: result}``) and the ingredients not run yet
    (``python -m cnnlib.experiments run recipe_<ingredient>`` runs one)."""
    from ...experiments import ExperimentNotRunError, load_result

    results, missing = {}, []
    for name in INGREDIENTS:
        try:
            record = load_result(f"recipe_{name}")
            results[name] = {**record["result"], "hardware": record["hardware"], "wall_seconds": record["wall_seconds"]}
        except ExperimentNotRunError:
            missing.append(name)
    return results, missing


def ablation_verdicts(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """For each row of :func:`ablation_rows` after the baseline: its gain, the noise it is compared with (the larger
    of its own seed spread and the baseline's) and whether the gain is beyond it. With two seeds a rough yardstick,
    not a test."""
    base = rows[0]
    out = []
    for r in rows[1:]:
        noise = max(r["spread"], base["spread"])
        verdict = "beyond the seed spread" if abs(r["gain"]) > noise else "within the seed spread"
        out.append({"ingredient": r["ingredient"], "gain": r["gain"], "noise": noise, "verdict": verdict})
    return out
