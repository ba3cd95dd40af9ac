"""Looking inside a trained model and reading its numbers: activations of named layers,
misclassified examples, when a curve first crosses a threshold, the noise in an error rate.

Hooks are registered in a context manager and always removed, whatever happens.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
import torch.nn as nn
from torch import Tensor

__all__ = ["capture_activations", "first_crossing", "misclassified", "record_activations", "standard_error"]


@contextmanager
def record_activations(model: nn.Module, layers: Sequence[str]) -> Iterator[dict[str, Tensor]]:
    """Inside the ``with`` block, every forward pass stores the outputs of ``layers`` (dotted names) in the yielded dict."""
    modules = dict(model.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        raise KeyError(f"no layer(s) {missing} in {type(model).__name__}; its layers are {[n for n in modules if n]}")
    store: dict[str, Tensor] = {}
    handles = []
    try:
        for name in layers:
            handles.append(modules[name].register_forward_hook(lambda _m, _i, out, name=name: store.__setitem__(name, out.detach())))
        yield store
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def capture_activations(model: nn.Module, x: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
    """Outputs of ``layers`` for the batch ``x`` (already normalised), in the order given."""
    was_training = model.training
    model.eval()
    try:
        with record_activations(model, layers) as store:
            model(x)
    finally:
        model.train(was_training)
    return {name: store[name] for name in layers}


def misclassified(logits: Tensor, labels: Tensor) -> Tensor:
    """Indices of the wrong predictions, most confident mistakes first."""
    probs = logits.softmax(1)
    pred = probs.argmax(1)
    wrong = (pred != labels).nonzero().flatten()
    confidence = probs[wrong, pred[wrong]]
    return wrong[confidence.argsort(descending=True)]


def first_crossing(points: Sequence[dict[str, float]], target: float, key: str = "train_error") -> float | None:
    """The ``step`` of the first point whose ``key`` is at or below ``target``; None if never reached.

    ``points`` as a training history records them: ``[{"step": ..., "train_loss": ..., ...}, ...]``.
    """
    for point in points:
        if point[key] <= target:
            return point["step"]
    return None


def standard_error(rate: float, n: int) -> float:
    """The standard error of an error (or accuracy) ``rate`` measured on ``n`` independent examples:
    sqrt(rate (1 - rate) / n), the binomial estimate. A difference of one standard error between
    two such rates is what chance alone gives about one time in three."""
    if n < 1 or not 0.0 <= rate <= 1.0:
        raise ValueError(f"need a rate in [0, 1] and n >= 1, not {rate} and {n}")
    return math.sqrt(rate * (1.0 - rate) / n)
