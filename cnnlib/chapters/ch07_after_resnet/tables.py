"""Chapter 07: the zoo's checkpoints of the chapter, their logs beside a re-evaluation here."""

from __future__ import annotations

from ...train import evaluate
from ...zoo import ci_subset, entry, load, load_dataset

__all__ = ["CHAPTER_ENTRIES", "zoo_check_rows"]

CHAPTER_ENTRIES = ("xception_cifar", "se_resnet20", "resnext29", "densenet_bc40")


def zoo_check_rows(
    names: tuple[str, ...] = CHAPTER_ENTRIES, reevaluate: tuple[str, ...] | None = None, subset_size: int | None = None
) -> list[dict]:
    """Each entry loaded from the zoo: parameters, M mult-adds, epochs, test accuracy of its log, and the accuracy
    on the zoo's fixed test subset, from the log and re-measured here (percent) for the entries in ``reevaluate``
    (default: all; ``None`` in ``subset_here`` for the others)."""
    reevaluate = names if reevaluate is None else reevaluate
    subsets: dict[str, object] = {}
    rows = []
    for name in names:
        model, log = load(name)
        if name in reevaluate:
            dataset = entry(name).dataset
            if dataset not in subsets:
                subsets[dataset] = ci_subset(load_dataset(entry(name), "test"), subset_size)
            subset = subsets[dataset]
        rows.append(
            {
                "entry": name,
                "params": log["parameters"],
                "mmult_adds": log["mult_adds"] / 1e6,
                "epochs": len(log["epochs"]),
                "test_acc": 100 * log["stored"]["test_acc"],
                "subset_log": 100 * log["stored"]["ci_subset_acc"],
                "subset_here": 100 * evaluate(model, subset)["acc"] if name in reevaluate else None,
                "images": len(subset) if name in reevaluate else None,
            }
        )
    return rows
