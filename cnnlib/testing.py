"""Comparing two floating-point computations of the same quantity, with a tolerance from the arithmetic.

Two correct computations of one convolution (AVX2 or AVX-512 or NEON kernels, direct or
Winograd or GEMM, a folded BatchNorm, a fused RepVGG branch) round differently, and the
difference grows with the number of rounded terms summed into each output and with the
outputs' size. A fixed ``atol=1e-5`` holds on one CPU and fails on another: the suite failed
on an AVX2-only EPYC with 1.14e-5 for RepVGG's fused form. :func:`rounding_tolerance` derives
the tolerance instead; :func:`assert_close_up_to_rounding` applies it with a message that says
what was compared and why the bound is what it is.

:func:`randomise_batch_norm` gives a model's batch norms non-trivial statistics first: fresh ones
(mean 0, variance 1, scale 1, shift 0) are the identity in eval mode, so a comparison of two
models would not notice a misplaced or missing BatchNorm.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "ReLU6SeenAsReLU",
    "accumulated_terms",
    "assert_close_up_to_rounding",
    "randomise_batch_norm",
    "relu6_visible_to_captum",
    "rounding_tolerance",
]


def rounding_tolerance(expected: Tensor, terms: int, dtype: torch.dtype | None = None, safety: float = 8.0) -> float:
    """The largest difference that rounding alone explains when ``expected`` is computed another way.

    ``terms``: how many rounded products are summed into each output (the fan-in of a layer,
    ``in_channels * k * k`` for a convolution; for a network, :func:`accumulated_terms`).
    Summed in another order, such a sum moves by about ``sqrt(terms)`` units of rounding
    (independent rounding errors add like a random walk; ``terms`` units is the worst case,
    Higham, *Accuracy and Stability of Numerical Algorithms*, 2002, §3.1), each unit being the
    dtype's machine epsilon times the size of the summed products. That size is taken as the
    largest ``|expected|``, so the tolerance follows the outputs' scale; ``safety`` (8) covers
    products larger than the sum they cancel into. For float32 and 1,000 terms this is
    ``8 * sqrt(1000) * 1.19e-7 = 3.0e-5`` times the largest output. Measured on the suite's
    RepVGG tests: the AVX2 and AVX-512 kernels used at most 2.2 % of the tolerance, while a
    wrong BatchNorm epsilon exceeded it 40-83 times and a missing 1x1 branch over 4,000 times.
    """
    if terms < 1:
        raise ValueError(f"terms must be at least 1, not {terms}")
    eps = torch.finfo(dtype or (expected.dtype if expected.is_floating_point() else torch.float32)).eps
    scale = max(expected.detach().abs().max().item(), torch.finfo(torch.float32).tiny) if expected.numel() else 0.0
    return safety * math.sqrt(terms) * eps * scale


def accumulated_terms(model: nn.Module) -> int:
    """The summed fan-in of every convolution and linear layer of ``model``: how many rounded
    products lie on the way to each output, counted along the layers (errors from earlier
    layers are carried forward through each later layer's sums). A heuristic, generous for a
    deep network: ResNet-50's 55k terms give 2e-4 of the largest output at float32, so a
    whole-network comparison catches a wrong layer or a wrong BatchNorm epsilon everywhere,
    not one weight off by 1 %; compare single layers for that. At least 1."""
    total = 0
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            total += m.weight[0].numel()
    return max(total, 1)


def assert_close_up_to_rounding(
    actual: Tensor,
    expected: Tensor,
    *,
    terms: int,
    dtype: torch.dtype | None = None,
    safety: float = 8.0,
    what: str = "the two computations",
) -> None:
    """Assert that ``actual`` equals ``expected`` up to the rounding of ``terms`` summed products.

    Shapes must match exactly; values within :func:`rounding_tolerance`. The error names the
    largest difference, the tolerance and the figures it was derived from.
    """
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shapes differ, {tuple(actual.shape)} vs {tuple(expected.shape)}")
    tol = rounding_tolerance(expected, terms, dtype, safety)
    diff = (actual.detach().double() - expected.detach().double()).abs()
    worst = diff.max().item() if diff.numel() else 0.0
    if not worst <= tol:  # also fails on NaN
        scale = expected.detach().abs().max().item()
        eps = tol / (safety * math.sqrt(terms) * scale) if scale else float("nan")
        raise AssertionError(
            f"{what} differ by up to {worst:.3g}, more than rounding explains: tolerance {tol:.3g} = "
            f"{safety:g} * sqrt({terms} terms) * eps {eps:.3g} * scale {scale:.3g}"
        )


@torch.no_grad()
def randomise_batch_norm(model: nn.Module, generator: torch.Generator | None = None) -> nn.Module:
    """Give every ``BatchNorm2d`` of ``model`` random statistics and affine parameters, in place; returns ``model``.

    Running mean in U(-0.5, 0.5), running variance in U(0.5, 1.5), scale (gamma) in U(0.5, 1.5), shift
    (beta) in U(-0.3, 0.3): far enough from the identity that a BN in the wrong place, a missing one or
    a wrong epsilon changes a network's outputs by much more than rounding, and close enough to it
    that activations keep an ordinary size through a deep network. ``generator`` makes the draw
    independent of the global seed.
    """
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            if m.track_running_stats:
                m.running_mean.copy_(torch.rand(c, generator=generator) - 0.5)
                m.running_var.copy_(torch.rand(c, generator=generator) + 0.5)
            if m.affine:
                m.weight.copy_(torch.rand(c, generator=generator) + 0.5)
                m.bias.copy_(0.6 * torch.rand(c, generator=generator) - 0.3)
    return model


class ReLU6SeenAsReLU(nn.ReLU):
    """ReLU6 as an ``nn.ReLU`` subclass, so that captum, which hooks ``isinstance(m, nn.ReLU)``, applies its rule.

    captum then passes ``max(grad_input, 0)`` (guided) or ``max(grad_output, 0)`` (DeconvNet) down, where the
    gradient of ReLU6 is masked to ``0 < x < 6``: exactly :mod:`cnnlib.interpret.backprop`'s rule for ReLU6.
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.relu6(x)


def relu6_visible_to_captum(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` whose ``nn.ReLU6`` modules are :class:`ReLU6SeenAsReLU` (same forward)."""
    probe = copy.deepcopy(model)
    for parent in list(probe.modules()):
        for child_name, child in parent.named_children():
            if isinstance(child, nn.ReLU6):
                setattr(parent, child_name, ReLU6SeenAsReLU())
    return probe
