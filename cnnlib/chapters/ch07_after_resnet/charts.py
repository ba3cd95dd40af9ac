"""Chapter 07: accuracy against cost, in the style of Canziani et al. 2016 and Bianco et al. 2018.

Two sources of points:

- :func:`imagenet_rows`: every architecture of the course that torchvision ships weights for, with
  the figures torchvision documents for its first ImageNet weights (``IMAGENET1K_V1``: the original
  recipe, closest to the papers): top-1 accuracy, multiply-adds (torchvision's "GFLOPS" column
  counts multiply-adds, as chapter 05 checked for ResNet) and parameters. Nothing is downloaded:
  the figures are part of torchvision's code.
- :func:`zoo_rows`: the course's own CIFAR-10 checkpoints, from their training logs (test
  accuracy, parameters, multiply-adds) and from ``data/zoo/latency.json`` (CPU latency).
"""

from __future__ import annotations

import statistics

import torch.nn as nn

from ...models.registry import get_model, model_info
from ...models.torchvision_compat import TORCHVISION_EQUIVALENTS
from ...zoo import ENTRIES, read_log, trained
from ...zoo.verification import read_latencies

__all__ = ["family_span", "imagenet_rows", "latency_per_mult_add", "zoo_rows"]


def imagenet_rows() -> list[dict]:
    """One row per course model with a torchvision equivalent: name, family, top-1 %, G mult-adds, parameters."""
    import torchvision

    rows = []
    for ours, eq in sorted(TORCHVISION_EQUIVALENTS.items()):
        weights = list(torchvision.models.get_model_weights(eq.torchvision_name))[0]
        meta = weights.meta
        rows.append(
            {
                "model": ours,
                "family": model_info(ours).family,
                "top1": meta["_metrics"]["ImageNet-1K"]["acc@1"],
                "gmult_adds": meta["_ops"],
                "params": meta["num_params"],
                "weights": str(weights),
            }
        )
    return rows


def zoo_rows(names: list[str] | None = None) -> list[dict]:
    """The trained CIFAR-10 entries: test accuracy, parameters, M mult-adds, CPU latency at batch 1 and 64 (ms),
    and whether the model has grouped or depthwise convolutions (``grouped``).

    Latency is ``None`` for an entry not measured yet (``python -m cnnlib.zoo table --bench`` measures all).
    """
    latencies = read_latencies()["entries"]
    rows = []
    for name in names or trained():
        if ENTRIES[name].dataset != "cifar10":
            continue
        log = read_log(name)
        lat = latencies.get(name, {})
        e = ENTRIES[name]
        convs = [m for m in get_model(e.model, **e.model_kwargs).modules() if isinstance(m, nn.Conv2d)]
        rows.append(
            {
                "entry": name,
                "family": model_info(ENTRIES[name].model).family,
                "test_acc": 100 * log["stored"]["test_acc"],
                "params": log["parameters"],
                "mmult_adds": log["mult_adds"] / 1e6,
                "latency1_ms": lat.get("batch1_ms"),
                "latency64_ms": lat.get("batch64_ms"),
                "latency_hardware": lat.get("hardware"),
                "grouped": any(c.groups > 1 for c in convs),  # has depthwise or grouped convolutions
            }
        )
    return rows


def latency_per_mult_add(rows: list[dict], batch: int = 1) -> dict[str, float]:
    """Median microseconds per million multiply-adds (per image) of the timed rows of :func:`zoo_rows`, split into
    models with grouped or depthwise convolutions (``"grouped"``) and models without (``"dense"``)."""
    key = {1: "latency1_ms", 64: "latency64_ms"}[batch]
    out = {}
    for label, grouped in (("grouped", True), ("dense", False)):
        values = [
            1000 * r[key] / batch / r["mmult_adds"] for r in rows if r[key] is not None and r["grouped"] == grouped
        ]
        if values:
            out[label] = statistics.median(values)
    return out


def family_span(rows: list[dict], family: str) -> dict[str, tuple[float, float]]:
    """The (lowest, highest) top-1, G mult-adds and M parameters of one family's rows of :func:`imagenet_rows`."""
    chosen = [r for r in rows if r["family"] == family]
    if not chosen:
        raise KeyError(f"no {family!r} rows; families: {sorted({r['family'] for r in rows})}")

    def span(key: str, scale: float = 1.0) -> tuple[float, float]:
        values = [r[key] / scale for r in chosen]
        return min(values), max(values)

    return {"top1": span("top1"), "gmult_adds": span("gmult_adds"), "mparams": span("params", 1e6)}
