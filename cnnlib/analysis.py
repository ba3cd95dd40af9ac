"""Looking inside a trained model: activations of named layers, misclassified examples.

Hooks are registered in a context manager and always removed, whatever happens.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
import torch.nn as nn
from torch import Tensor

__all__ = ["capture_activations", "record_activations", "misclassified"]


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
