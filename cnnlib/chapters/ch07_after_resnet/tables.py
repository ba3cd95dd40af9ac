"""Chapter 07: the zoo's checkpoints of the chapter, their logs beside a re-evaluation here."""

from __future__ import annotations

from ...train import evaluate
from ...zoo import ci_subset, entry, load, load_dataset

__all__ = ["CHAPTER_ENTRIES", "zoo_check_rows"]

CHAPTER_ENTRIES = ("xception_cifar", "se_resnet20", "resnext29", "densenet_bc40")


def zoo_check_rows(names: tuple[str, ...] = CHAPTER_ENTRIES, subset_size: int | None = None) -> list[dict]:
    """Each entry loaded from the zoo: parameters, M mult-adds, epochs, test accuracy of its log, and the accuracy
    on the zoo's fixed test subset, from the log and re-measured here (percent)."""
    rows = []
    for name in names:
        model, log = load(name)
        subset = ci_subset(load_dataset(entry(name), "test"), subset_size)
        rows.append(
            {
                "entry": name,
                "params": log["parameters"],
                "mmult_adds": log["mult_adds"] / 1e6,
                "epochs": len(log["epochs"]),
                "test_acc": 100 * log["stored"]["test_acc"],
                "subset_log": 100 * log["stored"]["ci_subset_acc"],
                "subset_here": 100 * evaluate(model, subset)["acc"],
                "images": len(subset),
            }
        )
    return rows
