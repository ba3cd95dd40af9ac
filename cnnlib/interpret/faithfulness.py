"""Do the pixels a map points at matter to the model? Deletion and insertion curves.

Petsiuk, Das, Saenko 2018 (RISE, https://arxiv.org/abs/1806.07421, Sec. 4.1): remove pixels in the
order a map ranks them, most important first, and watch the class probability; a faithful map
makes it fall fast (a small area under the *deletion* curve). Conversely, start from a blurred
image and put the pixels back in that order: it should rise fast (a large area under the
*insertion* curve). A random order is the baseline every method must beat.

Removed pixels are set to ``fill`` (0 = the mean colour in normalised space); the insertion canvas
is the image blurred with a Gaussian of ``blur_sigma`` pixels. All channels of a pixel go together.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch import Tensor

from .base import AttributionError, preserved
from .class_model import gaussian_blur

__all__ = ["area_under_curve", "deletion_curve"]


def deletion_curve(
    model: nn.Module,
    x: Tensor,
    target: Tensor,
    maps: Tensor,
    steps: int = 20,
    mode: str = "deletion",
    fill: float = 0.0,
    blur_sigma: float = 5.0,
    batch_size: int = 32,
) -> dict[str, Tensor]:
    """Class probability and correctness as pixels are deleted (or inserted) in the maps' order.

    ``x``: N x C x H x W; ``target``: N class indices (the labels, or the predictions); ``maps``:
    N x H x W, larger = more important. Returns ``fraction`` (steps + 1 values from 0 to 1),
    ``probability`` and ``correct`` (N x (steps + 1): softmax of the target, and whether it is the
    top class).
    """
    if mode not in ("deletion", "insertion"):
        raise AttributionError(f"mode must be 'deletion' or 'insertion', got {mode!r}")
    target = torch.as_tensor(target, device=x.device).flatten()
    if x.dim() != 4 or maps.shape != (x.shape[0], *x.shape[2:]) or len(target) != len(x):
        raise AttributionError(
            f"need x N x C x H x W, maps N x H x W and N targets; got {tuple(x.shape)}, {tuple(maps.shape)}, "
            f"{len(target)}"
        )
    n, _, h, w = x.shape
    fractions = torch.linspace(0, 1, steps + 1)
    ranks = torch.empty(n, h * w, dtype=torch.long, device=x.device)
    order = maps.reshape(n, -1).argsort(1, descending=True)
    ranks.scatter_(1, order, torch.arange(h * w, device=x.device).expand(n, -1))
    start = gaussian_blur(x, blur_sigma) if mode == "insertion" else torch.full_like(x, fill)
    probability = torch.empty(n, steps + 1)
    correct = torch.empty(n, steps + 1, dtype=torch.bool)
    jobs = [(i, k) for i in range(n) for k in range(steps + 1)]
    with preserved(model), torch.no_grad():
        for s in range(0, len(jobs), batch_size):
            chunk = jobs[s : s + batch_size]
            batch = []
            for i, k in chunk:
                changed = (ranks[i] < round(float(fractions[k]) * h * w)).view(1, h, w)
                batch.append(torch.where(changed, start[i], x[i]) if mode == "deletion"
                             else torch.where(changed, x[i], start[i]))  # fmt: skip
            probs = model(torch.stack(batch).contiguous(memory_format=torch.channels_last)).softmax(1)
            for (i, k), p in zip(chunk, probs):
                probability[i, k] = p[target[i]].item()
                correct[i, k] = bool(p.argmax() == target[i])
    return {"fraction": fractions, "probability": probability, "correct": correct}


def area_under_curve(fraction: Tensor, values: Tensor) -> Tensor:
    """Trapezoidal area under ``values`` (... x steps+1) over ``fraction`` (steps + 1 points in [0, 1])."""
    return torch.trapezoid(values.float(), fraction.float(), dim=-1)
