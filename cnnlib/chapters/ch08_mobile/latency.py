"""Where the time goes: latency of whole models and of each kind of layer, measured on this CPU.

:func:`time_by_kind` runs a model once with hooks that keep the input of every convolution and linear
layer, then times each of those layers alone on its own input and the whole model; the rest of the
model's time (batch norm, activations, pooling, additions, copies) is reported as ``"other"``. The
mult-adds come from :func:`cnnlib.analysis.summary.layer_table`, so each kind's share of the time can
stand beside its share of the arithmetic (Howard et al.'s Table 2 gives only the latter).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from ...analysis.summary import count_mult_adds, count_parameters, layer_table, measure_latency, median_seconds
from ...models import get_model
from .tables import conv_kind

__all__ = ["OTHER", "model_latency", "time_by_kind"]

OTHER = "other (BN, activations, pooling, add, copies)"


@torch.inference_mode()
def time_by_kind(
    model: nn.Module, input_shape: tuple[int, int, int], batch_size: int = 1, repeats: int = 10
) -> dict[str, dict[str, float]]:
    """kind -> {"ms": summed median time of its layers, "mult_adds": per image} for one eval-mode pass.

    Kinds are :func:`~cnnlib.chapters.ch08_mobile.tables.conv_kind`'s, plus :data:`OTHER` (the whole
    model's time minus its layers', never below 0).
    """
    model.eval()
    macs = {row.name: row.mult_adds for row in layer_table(model, input_shape).rows}
    inputs: dict[str, torch.Tensor] = {}
    handles = []
    for name, module in model.named_modules():
        if conv_kind(module) is not None:
            handles.append(module.register_forward_hook(lambda m, i, o, name=name: inputs.__setitem__(name, i[0])))
    x = torch.randn(batch_size, *input_shape)
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    out: dict[str, dict[str, float]] = {}
    for name, tensor in inputs.items():
        module = model.get_submodule(name)
        ms = 1000 * median_seconds(lambda m=module, t=tensor: m(t), warmup=2, repeats=repeats)
        entry = out.setdefault(conv_kind(module), {"ms": 0.0, "mult_adds": 0.0})
        entry["ms"] += ms
        entry["mult_adds"] += macs.get(name, 0)
    total = measure_latency(model, input_shape, batch_size, warmup=2, repeats=repeats)
    out[OTHER] = {"ms": max(0.0, total - sum(v["ms"] for v in out.values())), "mult_adds": 0.0}
    return out


def model_latency(
    name: str, input_shape: tuple[int, int, int] = (3, 224, 224), repeats: int = 20, batch64_repeats: int = 5, **kwargs
) -> dict[str, Any]:
    """Parameters, mult-adds and float32 CPU latency (ms, median) at batch 1 and batch 64 of a registered
    model with random weights (timing does not depend on the values)."""
    torch.manual_seed(0)
    model = get_model(name, **kwargs).eval()
    return {
        "params": count_parameters(model),
        "mult_adds": count_mult_adds(model, input_shape),
        "batch1_ms": measure_latency(model, input_shape, 1, warmup=3, repeats=repeats),
        "batch64_ms": measure_latency(model, input_shape, 64, warmup=1, repeats=batch64_repeats),
    }
