"""Checkers for chapter 02 (AlexNet and ZFNet).

The reference answers come from PyTorch itself: ``nn.LocalResponseNorm`` for the LRN formula,
``nn.Conv2d(groups=2)`` for the two GPU towers.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
from torch import Tensor

from .. import passed as _passed

__all__ = ["check_lrn", "check_two_tower_conv"]


def check_lrn(fn: Callable[..., Tensor]) -> bool:
    """Exercise 02.1: ``fn(a, n, k, alpha, beta)`` must compute the paper's LRN for ``N x C x H x W`` activations.

    Reference: ``nn.LocalResponseNorm(n, alpha * n, beta, k)`` (PyTorch divides its alpha by n).
    """
    gen = torch.Generator().manual_seed(0)
    cases = [  # (channels, n, k, alpha, beta): the paper's constants, then others that expose mistakes
        (12, 5, 2.0, 1e-4, 0.75),
        (7, 3, 1.0, 1e-2, 0.5),
        (6, 5, 2.0, 1e-1, 1.0),  # a large alpha: the sum matters
        (3, 5, 0.5, 1e-1, 0.75),  # fewer channels than the window: clipped at both ends
        (10, 1, 1.0, 1e-1, 0.75),  # n = 1: each channel normalised by itself only
    ]
    for c, n, k, alpha, beta in cases:
        a = torch.rand(2, c, 4, 5, generator=gen) * 10
        expected = nn.LocalResponseNorm(n, alpha=alpha * n, beta=beta, k=k)(a)
        got = fn(a.clone(), n, k, alpha, beta)
        assert isinstance(got, Tensor) and got.shape == a.shape, (
            f"for activations of shape {tuple(a.shape)} return a tensor of the same shape, got "
            f"{type(got).__name__} {tuple(got.shape) if isinstance(got, Tensor) else ''}"
        )
        if not torch.allclose(got, expected, rtol=1e-4, atol=1e-6):
            hint = (
                "Hint: the sum runs over the n channels centred on channel i (i - n//2 ... i + n//2), "
                "clipped to 0 ... C-1, at the same pixel; square the activations; alpha multiplies the sum, "
                "not the mean."
            )
            worst = (got - expected).abs().max().item()
            raise AssertionError(
                f"C={c}, n={n}, k={k}, alpha={alpha}, beta={beta}: "
                f"largest difference from nn.LocalResponseNorm {worst:.3g}. {hint}"
            )
    return _passed(
        f"{len(cases)} settings of (C, n, k, alpha, beta) agree with nn.LocalResponseNorm(n, alpha * n, beta, k)"
    )


def check_two_tower_conv(cls: Callable[..., nn.Module]) -> bool:
    """Exercise 02.2: ``cls(in_channels, out_channels, kernel_size, padding)`` must act as AlexNet's two towers.

    Checked: the parameter count equals ``nn.Conv2d(..., groups=2)``'s (half the weights of a full
    convolution), the output shape, and that each half of the output depends on its own half of the
    input only (and does depend on it).
    """
    cin, cout, k, p = 96, 256, 5, 2  # AlexNet's conv2
    model = cls(cin, cout, k, p)
    reference = nn.Conv2d(cin, cout, k, padding=p, groups=2)
    full = nn.Conv2d(cin, cout, k, padding=p)
    n_params = sum(q.numel() for q in model.parameters())
    n_ref, n_full = sum(q.numel() for q in reference.parameters()), sum(q.numel() for q in full.parameters())
    assert n_params == n_ref, (
        f"your module has {n_params:,} parameters, two towers have {n_ref:,} (one full convolution: {n_full:,}). "
        "Hint: each tower maps in_channels/2 inputs to out_channels/2 outputs, with its own biases."
    )
    x = torch.randn(2, cin, 13, 13, generator=torch.Generator().manual_seed(0))
    model.eval()
    with torch.no_grad():
        y = model(x)
        assert y.shape == (2, cout, 13, 13), f"expected output shape (2, {cout}, 13, 13), got {tuple(y.shape)}"
        h_in, h_out = cin // 2, cout // 2
        for tower, (own, other) in enumerate([(slice(0, h_in), slice(h_in, cin)), (slice(h_in, cin), slice(0, h_in))]):
            outs = slice(0, h_out) if tower == 0 else slice(h_out, cout)
            x_other = x.clone()
            x_other[:, other] += 1.0  # change the other tower's input maps only
            # outputs of size ~1 (fixed input, default initialisation): atol 1e-5 is far above their rounding (~1e-6
            # if the student's kernels sum in another order) and far below a leak from the other half (~0.1 or more)
            assert torch.allclose(model(x_other)[:, outs], y[:, outs], atol=1e-5), (
                f"output maps {outs.start}..{outs.stop - 1} change when only input maps "
                f"{other.start}..{other.stop - 1} "
                f"change: tower {tower + 1} must see only its own half of the input (the other GPU's maps)."
            )
            x_own = x.clone()
            x_own[:, own] += 1.0
            assert not torch.allclose(model(x_own)[:, outs], y[:, outs]), (
                f"output maps {outs.start}..{outs.stop - 1} do not react to their own input maps "
                f"{own.start}..{own.stop - 1}; "
                "Hint: concatenate the two towers' outputs in order, tower 1 first."
            )
    return _passed(
        f"{n_params:,} parameters (a full convolution: {n_full:,}), output {tuple(y.shape)}, "
        "each tower sees only its own half"
    )
