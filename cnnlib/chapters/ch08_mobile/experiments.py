"""Experiments of chapter 08 (Mobile architectures), registered with :func:`cnnlib.experiments.experiment`
(``python -m cnnlib.experiments run NAME`` runs one and stores its result; see :mod:`cnnlib.experiments`).

- ``mobile_latency``: float32 CPU latency at batch 1 and batch 64 of the ImageNet-scale mobile models
  and three references at 224 x 224 (random weights: timing does not depend on them), and of the zoo's
  CIFAR-10 checkpoints at 32 x 32 beside their test accuracy; and, for MobileNet v1 at 224 px, the time
  of each kind of layer (depthwise, pointwise, ...) beside its share of the mult-adds. Every latency is
  the lowest of ``ROUNDS`` medians taken in separate rounds through all the models.
- ``shufflenet_guidelines``: Ma et al.'s four guideline benchmarks (Tables 1-4) on this CPU, at the
  paper's ARM channel counts x1, x2 and x4, one 56 x 56 image per pass.
"""

from __future__ import annotations

from typing import Any

from ...experiments import experiment

IMAGENET_MODELS = (
    "mobilenet_v1",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "squeezenet1_0",
    "squeezenet1_1",
    "sqnxt23_1x",
    "shufflenet_v1_g3",
    "shufflenet_v2_x1_0",
    "efficientnet_b0",
    "alexnet",
    "resnet18",
    "resnet50",
)
# The zoo's CIFAR-10 checkpoints of this chapter, and three of earlier chapters for reference
CIFAR_ENTRIES = (
    "mobilenet_v2",
    "shufflenet_v2",
    "efficientnet_b0",
    "squeezenet_cifar",
    "resnet20",
    "resnet56",
    "vgg11_bn_cifar",
)
KIND_MODEL = "mobilenet_v1"
ROUNDS = 2  # passes through all models; each model keeps its fastest median (as the zoo's latency table)


def _keep_fastest(results: dict[str, dict[str, Any]], name: str, new: dict[str, Any]) -> None:
    """Store ``new`` under ``name``, or keep the lower of each latency already there."""
    old = results.get(name)
    if old is None:
        results[name] = new
    else:
        old["batch1_ms"] = min(old["batch1_ms"], new["batch1_ms"])
        old["batch64_ms"] = min(old["batch64_ms"], new["batch64_ms"])


@experiment(
    "mobile_latency",
    description="CPU latency (batch 1 and 64) of mobile models at 224 px and of the zoo's CIFAR-10 checkpoints; "
    "MobileNet v1's time per layer kind",
)
def mobile_latency(quick: bool = False) -> dict[str, Any]:
    """``imagenet``: name -> params, mult_adds, batch1_ms, batch64_ms; ``cifar``: the same per zoo entry plus
    ``test_acc`` (the stored weights, full test set) and ``architecture`` (the registered model);
    ``kinds``: batch -> kind -> ms, mult_adds (:func:`~cnnlib.chapters.ch08_mobile.latency.time_by_kind`)."""
    from ... import zoo
    from ...runtime import use_all_cores
    from .latency import model_latency, time_by_kind

    use_all_cores()
    size = 64 if quick else 224
    names = IMAGENET_MODELS[:2] if quick else IMAGENET_MODELS
    repeats, repeats64 = (2, 1) if quick else (20, 5)
    rounds = 1 if quick else ROUNDS
    entries = {}
    for name in CIFAR_ENTRIES[:1] if quick else CIFAR_ENTRIES:
        log = zoo.read_log(name)
        if log is not None:
            entries[name] = (zoo.entry(name), log)
    imagenet: dict[str, dict[str, Any]] = {}
    cifar: dict[str, dict[str, Any]] = {}
    for _ in range(rounds):  # rounds through all models; each keeps its fastest (other load only adds time)
        for n in names:
            _keep_fastest(imagenet, n, model_latency(n, (3, size, size), repeats, repeats64))
        for name, (e, log) in entries.items():
            m = model_latency(e.model, (3, 32, 32), repeats, repeats64, **e.model_kwargs)
            _keep_fastest(cifar, name, {"architecture": e.model, **m, "test_acc": log["stored"]["test_acc"]})
    missing = [n for n in (CIFAR_ENTRIES[:1] if quick else CIFAR_ENTRIES) if n not in entries]
    from ...models import get_model

    kinds = {}
    for batch in (1,) if quick else (1, 64):
        runs = [
            time_by_kind(get_model(KIND_MODEL), (3, size, size), batch, repeats=2 if quick else 10)
            for _ in range(rounds)
        ]
        kinds[str(batch)] = min(runs, key=lambda r: sum(v["ms"] for v in r.values()))
    return {"resolution": size, "imagenet": imagenet, "cifar": cifar, "missing": missing, "kinds": kinds}


@experiment(
    "shufflenet_guidelines",
    description="Ma et al. 2018 Tables 1-4 on this CPU: the four ShuffleNet v2 guideline benchmarks, 56 x 56, "
    "batch 1, channels x1/x2/x4",
)
def shufflenet_guidelines(quick: bool = False) -> dict[str, Any]:
    """``rows``: :func:`cnnlib.chapters.ch08_mobile.guidelines.benchmark`'s rows (with the paper's figures)."""
    from ...runtime import use_all_cores
    from .guidelines import benchmark

    use_all_cores()
    rows = benchmark(scales=(1,), repeats=2) if quick else benchmark(repeats=30)
    return {"batch_size": 1, "size": 56, "rows": rows}
