"""Per-layer statistics of a network: how strongly each layer responds, and how much gradient it gets.

- :func:`response_std`: the standard deviation of each layer's response on real images. He et al.
  2016 (https://arxiv.org/abs/1512.03385, Fig. 7) measure it on the output of every 3x3 layer,
  after batch norm and before the nonlinearity and the addition; residual functions respond less
  than the layers of a plain network, the smaller the deeper the net ("closer to zero").
  :func:`conv_bn_layers` names those batch-norm layers.
- :func:`gradient_norms`: the norm of the loss's gradient with respect to each layer's weights, on
  one batch: the measurement behind "vanishing gradients" (and behind its refutation for
  networks with batch norm).

Both leave the model as they found it: its mode, its weights, their ``.grad`` and their ``requires_grad``.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..data import ImageTensors, normalize
from .activations import eval_mode, forward_hooks, named_modules

__all__ = ["conv_bn_layers", "gradient_norms", "response_std", "weight_layers"]


def conv_bn_layers(model: nn.Module, kernel_size: int = 3) -> list[str]:
    """Names of the ``BatchNorm2d`` layers that directly follow a ``kernel_size`` x ``kernel_size`` convolution.

    "Directly follow" is in the order the modules are registered, which is the order of
    ``forward`` in every cnnlib CNN (``conv1``, ``bn1``, ``conv2``, ``bn2`` ...).
    """
    names, previous = [], None
    for name, module in model.named_modules():
        if isinstance(module, nn.BatchNorm2d) and isinstance(previous, nn.Conv2d):
            if previous.kernel_size == (kernel_size, kernel_size):
                names.append(name)
        if isinstance(module, (nn.Conv2d, nn.BatchNorm2d, nn.Linear)):
            previous = module
    return names


def weight_layers(model: nn.Module) -> list[str]:
    """Names of the convolutions and linear layers, in order (the layers :func:`gradient_norms` reports)."""
    return [name for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


@torch.no_grad()
def response_std(
    model: nn.Module, data: ImageTensors, layers: Sequence[str] | None = None, batch_size: int = 250
) -> dict[str, float]:
    """Standard deviation of each layer's output over every image, channel and position of ``data``.

    ``layers`` defaults to :func:`conv_bn_layers` (He et al.'s Fig. 7). The model runs in eval
    mode; the statistics are accumulated in float64 over batches (the same value as one pass over
    all the images at once).
    """
    layers = conv_bn_layers(model) if layers is None else list(layers)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no BatchNorm2d after a 3x3 convolution; pass layers=...")
    modules = named_modules(model, layers)
    sums = {name: torch.zeros(3, dtype=torch.float64) for name in layers}  # count, sum, sum of squares

    def keep(name: str):
        def hook(module: nn.Module, inputs, output: Tensor) -> None:
            out = output.detach().double()
            sums[name] += torch.stack(
                [torch.tensor(out.numel(), dtype=torch.float64), out.sum().cpu(), out.square().sum().cpu()]
            )

        return hook

    device = next(model.parameters()).device
    with eval_mode(model), forward_hooks([(modules[name], keep(name)) for name in layers]):
        for start in range(0, len(data), batch_size):
            model(normalize(data.images[start : start + batch_size].to(device), data.spec.mean, data.spec.std))
    out = {}
    for name, (n, s, sq) in sums.items():
        mean = s / n
        out[name] = float(torch.sqrt(torch.clamp(sq / n - mean * mean, min=0.0)))
    return out


def gradient_norms(
    model: nn.Module, x: Tensor, y: Tensor, layers: Sequence[str] | None = None, train_mode: bool = True
) -> dict[str, float]:
    """The L2 norm of d(cross-entropy on the batch ``(x, y)``) / d(weight) for each layer in ``layers``.

    ``layers`` defaults to :func:`weight_layers` (every conv and linear layer, input to output).
    ``train_mode=True`` runs the batch as training does (batch norm normalises with the batch's own
    statistics); the model's mode is restored afterwards, and its parameters' ``.grad`` are not
    touched (the gradient is taken with ``torch.autograd.grad``). ``x`` is already normalised.
    """
    layers = weight_layers(model) if layers is None else list(layers)
    modules = named_modules(model, layers)
    weights = []
    for name in layers:
        weight = getattr(modules[name], "weight", None)
        if not isinstance(weight, nn.Parameter):
            raise ValueError(f"layer {name!r} ({type(modules[name]).__name__}) has no weight parameter")
        weights.append(weight)
    was_training = model.training
    flags = [w.requires_grad for w in weights]
    try:
        model.train(train_mode)
        for w in weights:
            w.requires_grad_(True)
        with torch.enable_grad():
            loss = F.cross_entropy(model(x), y)
            grads = torch.autograd.grad(loss, weights)
    finally:
        model.train(was_training)
        for w, flag in zip(weights, flags):
            w.requires_grad_(flag)
    return {name: g.norm().item() for name, g in zip(layers, grads)}
