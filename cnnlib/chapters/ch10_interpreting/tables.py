"""Chapter 10's computations for its tables: every method's maps at once, the deletion/insertion
table, the sanity check's summary, and the receptive fields of a network's stages."""

from __future__ import annotations

import copy
import time
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn as nn
from torch import Tensor

from ...interpret import effective_receptive_field, field_extent, theoretical_receptive_field

__all__ = ["compute_maps", "faithfulness_rows", "leaders", "receptive_rows", "sanity_summary", "two_class_maps"]


def compute_maps(
    factories: Mapping[str, Callable[[nn.Module], Any]], model: nn.Module, x: Tensor, target
) -> tuple[dict[str, Tensor], dict[str, float]]:
    """(name -> N x H x W maps, name -> seconds per image) for every method of ``factories``."""
    maps, seconds = {}, {}
    for name, factory in factories.items():
        start = time.perf_counter()
        maps[name] = factory(model).attribute(x, target)
        seconds[name] = (time.perf_counter() - start) / len(x)
    return maps, seconds


def faithfulness_rows(result: Mapping) -> list[dict[str, Any]]:
    """One row per method of a stored ``interpret_faithfulness`` result, best deletion area first."""
    rows = [
        {
            "method": name,
            "deletion": row["deletion"]["auc"],
            "deletion_se": row["deletion"]["auc_se"],
            "insertion": row["insertion"]["auc"],
            "insertion_se": row["insertion"]["auc_se"],
            "seconds": row["seconds_per_photo"],
        }
        for name, row in result["methods"].items()
    ]
    return sorted(rows, key=lambda r: r["deletion"])


def sanity_summary(result: Mapping, after: str = "features.15") -> dict[str, dict[str, float]]:
    """Per method: the rank correlation (of absolute maps) after the logits alone, and after ``after``."""
    stages = result["stages"]
    out = {}
    for name, rows in result["rows"].items():
        by_stage = {r["layer"]: r["spearman_abs"] for r in rows}
        out[name] = {"logits": by_stage[stages[1]], after: by_stage[after], "all": rows[-1]["spearman_abs"]}
    return out


def receptive_rows(
    model: nn.Module, layers: Sequence[str], x: Tensor, mass: float = 0.9, seed: int = 0
) -> tuple[list[dict[str, Any]], dict[str, list[Tensor]]]:
    """Theoretical and effective (``mass`` of the gradient) receptive field of each layer's centre unit,
    for the trained ``model`` and for a copy with freshly initialised weights (Luo et al., Sec. 4.3).

    Returns the table's rows and the ERF maps (label -> one map per layer) for the figure.
    """
    fresh = copy.deepcopy(model)
    torch.manual_seed(seed)
    for m in fresh.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)):
            m.reset_parameters()
    maps: dict[str, list[Tensor]] = {"trained": [], "random init": []}
    rows = []
    for layer in layers:
        row = {"layer": layer, "theoretical": theoretical_receptive_field(model, layer)}
        for label, net in (("trained", model), ("random init", fresh)):
            erf = effective_receptive_field(net, layer, x)
            maps[label].append(erf)
            row[label] = field_extent(erf, mass)
        rows.append(row)
    return rows, maps


def leaders(rows: Sequence[Mapping[str, Any]], key: str, higher: bool) -> list[str]:
    """The methods whose ``key`` is within one standard error (``key + "_se"``) of the best one's.

    With 32 photos, methods closer than that cannot be ranked; identical values (CAM and Grad-CAM
    order the pixels alike wherever Grad-CAM is positive) are all listed.
    """
    best = (max if higher else min)(rows, key=lambda r: r[key])
    return [r["method"] for r in rows if abs(r[key] - best[key]) <= best[key + "_se"] and r["method"] != "random"]


def two_class_maps(
    method: Any, x: Tensor, predictions: Tensor, labels: Tensor, candidates: Sequence[int]
) -> tuple[int, float, Tensor]:
    """Among the ``candidates`` (wrongly classified images), the one whose maps for the predicted and for
    the true class differ most: (its index, the two maps' Spearman correlation, the maps ``2 x H x W``)."""
    from ...analysis.metrics import spearman

    best = None
    for i in candidates:
        two = method.attribute(x[[i, i]], torch.stack([predictions[i], labels[i]]))
        rho = spearman(two[0], two[1])
        if best is None or rho < best[1]:
            best = (i, rho, two)
    if best is None:
        raise ValueError("no candidate images: pass the indices of the wrongly classified ones")
    return best
