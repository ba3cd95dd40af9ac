"""MobileNetV2's Fig. 1 at small scale: what ReLU does to a low-dimensional manifold (Sandler et al. 2018, Sec. 3.2).

A 2-D spiral (the "manifold of interest") is embedded into n dimensions by a random matrix T (n x 2),
passed through ReLU, and projected back to 2-D with the pseudo-inverse T^+. With n = 2 or 3 most of
the spiral collapses (ReLU zeroes whole coordinates, and too few are left to recover the point);
with n = 15 or 30 the spiral comes back almost intact: ReLU keeps the information when the manifold
lies in a low-dimensional subspace of a much wider activation space. Hence MobileNetV2's design:
expand before the ReLU, and keep the narrow bottleneck *linear*.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["recoverable_fraction", "relu_roundtrip", "roundtrip_error", "spiral"]


def spiral(points: int = 600, turns: float = 2.5) -> Tensor:
    """``points`` x 2 points of an Archimedean spiral centred on the origin (radius up to 1), colour = index."""
    t = torch.linspace(0.05, 1.0, points, dtype=torch.float64)
    angle = 2 * math.pi * turns * t
    return torch.stack([t * torch.cos(angle), t * torch.sin(angle)], 1)


def relu_roundtrip(points: Tensor, n: int, seed: int = 0) -> Tensor:
    """``T^+ ReLU(T x)`` for every 2-D point x: a random n x 2 Gaussian embedding, ReLU, the pseudo-inverse."""
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must be P x 2; got {tuple(points.shape)}")
    if n < 1:
        raise ValueError(f"n must be at least 1; got {n}")
    gen = torch.Generator().manual_seed(seed)
    T = torch.randn(n, 2, generator=gen, dtype=points.dtype)
    return torch.relu(points @ T.T) @ torch.linalg.pinv(T).T  # P x n -> P x 2


def roundtrip_error(points: Tensor, n: int, seeds: int = 20) -> float:
    """How much of the spiral's shape is lost: mean distance between each point and its round trip after the
    best 2 x 2 linear map (least squares), relative to the mean radius, averaged over ``seeds`` draws of T.

    The best linear map is allowed because ReLU's lost half is, for large n, a uniform shrinking
    (``T^+ ReLU(T x)`` tends to ``x / 2``): a linear layer after it undoes that, not the collapse of the
    points whose coordinates ReLU zeroed.
    """
    errors = []
    for seed in range(seeds):
        back = relu_roundtrip(points, n, seed)
        fitted = back @ torch.linalg.lstsq(back, points).solution
        errors.append((fitted - points).norm(dim=1).mean() / points.norm(dim=1).mean())
    return float(torch.stack(errors).mean())


def recoverable_fraction(points: Tensor, n: int, seeds: int = 20) -> float:
    """Share of the points that ``ReLU(T x)`` still determines, averaged over ``seeds`` draws of T.

    ReLU keeps the coordinates ``i`` with ``t_i . x > 0`` and zeroes the rest; x can be solved for from
    the kept ones exactly when their rows of T have rank 2, that is (for a Gaussian T, whose rows are in
    general position) when at least two coordinates stay positive (Sandler et al., Sec. 3.2: information
    survives where enough of the activation space stays positive). Otherwise the point has collapsed onto
    a line or onto 0, together with its neighbours.
    """
    shares = []
    for seed in range(seeds):
        gen = torch.Generator().manual_seed(seed)
        T = torch.randn(n, 2, generator=gen, dtype=points.dtype)
        kept = ((points @ T.T) > 0).sum(1)  # P: positive coordinates of each embedded point
        shares.append(float((kept >= 2).double().mean()))
    return sum(shares) / len(shares)
