"""Loss landscapes: the loss of a trained network along random directions in weight space (Li et al. 2018).

H. Li, Z. Xu, G. Taylor, C. Studer, T. Goldstein, "Visualizing the Loss Landscape of Neural Nets",
NeurIPS 2018, https://arxiv.org/abs/1712.09913. A direction is a random Gaussian tensor per weight,
rescaled *filter by filter* to the norm of the weights it perturbs (Sec. 4, "filter-wise
normalization"): without it, a network whose weights are small would look sharp and one whose
weights are large flat, whatever the loss really does, because batch norm makes a layer's function
independent of its weights' scale. Biases and batch-norm parameters are left where they are (the
paper's "ignore BN" setting: their direction is zero).

- :func:`filter_normalized_direction`: one such direction for a model;
- :func:`loss_along`: loss and accuracy at ``theta + alpha * d1`` (a 1-D slice) or
  ``theta + alpha * d1 + beta * d2`` (a 2-D slice, on a grid), evaluated in eval mode (batch norm
  uses its running statistics, which are not moved). The model's weights are restored afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..data import ImageTensors, normalize
from .activations import eval_mode

__all__ = ["LossSlice", "filter_normalized_direction", "loss_along", "surface_statistics"]

Direction = dict[str, Tensor]  # parameter name -> a tensor of its shape


def filter_normalized_direction(model: nn.Module, generator: torch.Generator | None = None) -> Direction:
    """A random direction in ``model``'s weight space, normalised filter by filter (Li et al. 2018, Sec. 4).

    For every parameter with two or more dimensions (conv and linear weights), each filter (each
    slice along the first dimension: an output channel, or a neuron of a linear layer) is drawn
    from N(0, 1) and rescaled so that its norm equals the norm of that filter's weights. Parameters
    of one dimension (biases, batch-norm scales and shifts) get a zero direction.
    """
    direction = {}
    for name, p in model.named_parameters():
        if p.dim() <= 1:
            direction[name] = torch.zeros_like(p, requires_grad=False)
            continue
        d = torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device)
        dims = tuple(range(1, p.dim()))
        norm = torch.linalg.vector_norm
        scale = norm(p.detach(), dim=dims, keepdim=True) / norm(d, dim=dims, keepdim=True).clamp_min(1e-10)
        direction[name] = d * scale
    return direction


@dataclass(frozen=True)
class LossSlice:
    """Loss and accuracy on a grid of ``alphas`` (and ``betas``): arrays of shape ``len(betas) x len(alphas)``
    (a 1-D slice has one row, beta = 0)."""

    alphas: tuple[float, ...]
    betas: tuple[float, ...]
    loss: Tensor
    accuracy: Tensor
    images: int


def _check_direction(model: nn.Module, direction: Direction) -> None:
    params = dict(model.named_parameters())
    if set(direction) != set(params):
        missing, extra = sorted(set(params) - set(direction)), sorted(set(direction) - set(params))
        raise ValueError(
            f"the direction does not match the model's parameters (missing {missing[:3]}, extra {extra[:3]})"
        )
    for name, d in direction.items():
        if d.shape != params[name].shape:
            raise ValueError(
                f"direction {name!r} has shape {tuple(d.shape)}, the parameter {tuple(params[name].shape)}"
            )


@torch.no_grad()
def _loss_and_accuracy(model: nn.Module, data: ImageTensors, batch_size: int) -> tuple[float, float]:
    device = next(model.parameters()).device
    total_loss, correct = 0.0, 0
    for start in range(0, len(data), batch_size):
        x = normalize(data.images[start : start + batch_size].to(device), data.spec.mean, data.spec.std)
        y = data.labels[start : start + batch_size].to(device)
        logits = model(x).float()
        total_loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
    return total_loss / len(data), correct / len(data)


@torch.no_grad()
def loss_along(
    model: nn.Module,
    data: ImageTensors,
    d1: Direction,
    alphas: Sequence[float],
    d2: Direction | None = None,
    betas: Sequence[float] = (0.0,),
    batch_size: int = 500,
) -> LossSlice:
    """Mean cross-entropy loss and accuracy of ``model`` on ``data`` at ``theta + alpha d1 + beta d2``.

    ``alpha = beta = 0`` is the model itself. Without ``d2`` only ``beta = 0`` is allowed (a 1-D
    slice). The weights are moved in place and restored exactly afterwards, whatever happens; the
    model is evaluated in eval mode and left in the mode it was in.
    """
    if not alphas or not betas:
        raise ValueError("give at least one alpha and one beta")
    if d2 is None and any(b != 0 for b in betas):
        raise ValueError("betas other than 0 need a second direction d2")
    _check_direction(model, d1)
    if d2 is not None:
        _check_direction(model, d2)
    params = dict(model.named_parameters())
    saved = {name: p.detach().clone() for name, p in params.items()}
    loss = torch.empty(len(betas), len(alphas), dtype=torch.float64)
    accuracy = torch.empty_like(loss)
    try:
        with eval_mode(model):
            for i, beta in enumerate(betas):
                for j, alpha in enumerate(alphas):
                    for name, p in params.items():
                        step = alpha * d1[name] + (beta * d2[name] if d2 is not None else 0)
                        p.copy_(saved[name] + step)
                    loss[i, j], accuracy[i, j] = _loss_and_accuracy(model, data, batch_size)
    finally:
        for name, p in params.items():
            p.copy_(saved[name])
    return LossSlice(tuple(float(a) for a in alphas), tuple(float(b) for b in betas), loss, accuracy, len(data))


_RAYS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1))


def surface_statistics(loss: Tensor, accuracy: Tensor, low_loss: float = 1.0) -> dict[str, float | int]:
    """Numbers that describe a square 2-D loss grid centred on the trained weights (odd side).

    ``basin_points``: grid points where the accuracy is above 50 %; ``low_loss_points``: where the
    loss is below ``low_loss``; ``falling_steps`` / ``ray_steps``: along the 8 rays from the centre
    (rows, columns, diagonals), how many steps outward *lower* the loss (0 for a convex bowl);
    ``other_minima``: interior points, other than the centre, lower than their 4 neighbours.
    """
    loss, accuracy = torch.as_tensor(loss, dtype=torch.float64), torch.as_tensor(accuracy, dtype=torch.float64)
    n = loss.shape[0]
    if loss.shape != (n, n) or n % 2 == 0 or accuracy.shape != loss.shape:
        raise ValueError(
            f"expected two square grids with an odd side, got {tuple(loss.shape)} and {tuple(accuracy.shape)}"
        )
    c = n // 2
    falling = steps = 0
    for di, dj in _RAYS:
        ray = torch.stack([loss[c + k * di, c + k * dj] for k in range(c + 1)])
        falling += int((ray[1:] < ray[:-1]).sum())
        steps += c
    inner = loss[1:-1, 1:-1]
    lower = (inner < loss[:-2, 1:-1]) & (inner < loss[2:, 1:-1]) & (inner < loss[1:-1, :-2]) & (inner < loss[1:-1, 2:])
    lower[c - 1, c - 1] = False  # the centre itself
    return {
        "centre_loss": float(loss[c, c]),
        "centre_accuracy": float(accuracy[c, c]),
        "max_loss": float(loss.max()),
        "basin_points": int((accuracy > 0.5).sum()),
        "low_loss_points": int((loss < low_loss).sum()),
        "points": n * n,
        "falling_steps": falling,
        "ray_steps": steps,
        "other_minima": int(lower.sum()),
    }
