"""Gradient flow through a deep stack, with and without identity shortcuts (chapter 05).

Seed 002's two formulas, for one layer ``y = f(x)`` and one residual block ``y = f(x) + x``:

    dL/dx = dL/dy * f'(x)              (plain: a product of factors, one per layer)
    dL/dx = dL/dy * (f'(x) + 1)        (residual: the "+ 1" passes dL/dy on unchanged)

A deep plain stack multiplies the gradient by one factor per layer on its way to the input; if
the factors are below 1 it vanishes, above 1 it explodes. :func:`toy_stack` builds the same stack
of 3x3 convolutions with or without the shortcuts, with or without batch norm, so that
:func:`gradient_flow` can measure the gradient's norm at every layer at initialisation.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ...analysis.responses import gradient_norms, weight_layers

__all__ = ["INITS", "ToyBlock", "gradient_flow", "toy_stack"]

INITS = ("pytorch", "he")  # PyTorch's default init of nn.Conv2d, or He et al.'s (fan-in, gain sqrt(2))


class ToyBlock(nn.Module):
    """Two 3x3 convolutions (each optionally followed by BN) with a ReLU between them and after.

    ``residual=True``: ``relu(F(x) + x)`` (He et al.'s basic block); ``False``: ``relu(F(x))``.
    """

    def __init__(self, width: int, residual: bool, batch_norm: bool) -> None:
        super().__init__()
        self.residual = residual
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(width) if batch_norm else nn.Identity()
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=not batch_norm)
        self.bn2 = nn.BatchNorm2d(width) if batch_norm else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + x) if self.residual else F.relu(out)


def toy_stack(
    blocks: int, *, residual: bool, batch_norm: bool, init: str = "pytorch", width: int = 16, seed: int = 0
) -> nn.Sequential:
    """A 3x3 stem, ``blocks`` :class:`ToyBlock` (``2 * blocks`` convolutions), global pooling, a linear layer.

    ``init="pytorch"`` keeps PyTorch's default initialisation (uniform, variance 1/(3 fan-in): each
    layer shrinks the signal); ``"he"`` uses He et al.'s normal fan-in initialisation, which keeps
    the variance of a plain ReLU stack constant. The same ``seed`` gives the same weights with and
    without shortcuts.
    """
    if blocks < 1:
        raise ValueError(f"blocks must be at least 1; got {blocks}")
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}; got {init!r}")
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),
        *[ToyBlock(width, residual, batch_norm) for _ in range(blocks)],
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, 10),
    )
    if init == "he":
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
    return model


def gradient_flow(
    x: Tensor, y: Tensor, blocks: int, init: str = "pytorch", width: int = 16, seed: int = 0
) -> dict[tuple[bool, bool], list[float]]:
    """The gradient norm of every convolution (input to output) in the four stacks of ``blocks`` blocks.

    Keys ``(residual, batch_norm)``; values: one norm per convolution, the stem first (see
    :func:`cnnlib.analysis.responses.gradient_norms`; one batch ``(x, y)``, training mode).
    """
    flows = {}
    for batch_norm in (False, True):
        for residual in (False, True):
            model = toy_stack(blocks, residual=residual, batch_norm=batch_norm, init=init, width=width, seed=seed)
            convs = [name for name in weight_layers(model) if isinstance(model.get_submodule(name), nn.Conv2d)]
            flows[(residual, batch_norm)] = list(gradient_norms(model, x, y, convs).values())
    return flows
