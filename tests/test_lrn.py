"""LRN written from the paper's formula (Krizhevsky et al. 2012, Sec. 3.3) against PyTorch's module."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from cnnlib.models.alexnet import local_response_norm, lrn_formula
from cnnlib.testing import assert_close_up_to_rounding


def lrn_loop(a: torch.Tensor, n: int, k: float, alpha: float, beta: float) -> torch.Tensor:
    """The formula as written, one channel at a time (a second, independent transcription)."""
    C = a.shape[1]
    out = torch.empty_like(a)
    for i in range(C):
        lo, hi = max(0, i - n // 2), min(C - 1, i + n // 2)
        out[:, i] = a[:, i] / (k + alpha * (a[:, lo : hi + 1] ** 2).sum(1)) ** beta
    return out


@pytest.mark.parametrize(
    "C, n, k, alpha, beta",
    [(12, 5, 2.0, 1e-4, 0.75), (7, 3, 1.0, 1e-2, 0.5), (3, 5, 0.5, 0.1, 1.0), (8, 1, 1.0, 0.1, 0.75)],
)
def test_formula_equals_torch_module_with_alpha_times_n(C, n, k, alpha, beta):
    torch.manual_seed(0)
    a = torch.rand(2, C, 4, 3) * 50
    torch_lrn = nn.LocalResponseNorm(n, alpha=alpha * n, beta=beta, k=k)
    # each output sums n squares, then a power and a division add a few roundings (safety 8 covers them)
    ours = lrn_formula(a, n, k, alpha, beta)
    assert_close_up_to_rounding(ours, torch_lrn(a), terms=n, what="lrn_formula and nn.LocalResponseNorm")
    assert_close_up_to_rounding(ours, lrn_loop(a, n, k, alpha, beta), terms=n, what="lrn_formula and the loop")
    # without the scaling, torch's module would divide alpha by n: a different answer when alpha matters
    # (in each case some output moves by 17 % or more; rtol 1e-3 is far above rounding)
    if alpha * 2500 > 0.1 and n > 1:
        assert not torch.allclose(ours, nn.LocalResponseNorm(n, alpha, beta, k)(a), rtol=1e-3)


def test_paper_constants_module():
    a = torch.rand(1, 10, 2, 2) * 100
    assert_close_up_to_rounding(
        local_response_norm()(a), lrn_formula(a), terms=5, what="the paper's LRN module and lrn_formula"
    )


def test_window_is_clipped_at_the_edges():
    a = torch.zeros(1, 6, 1, 1)
    a[0, 5] = 10.0  # the last channel: its window is channels 3, 4, 5 only
    b = lrn_formula(a, n=5, k=1.0, alpha=0.01, beta=1.0)
    assert b[0, 5, 0, 0].item() == pytest.approx(10.0 / (1.0 + 0.01 * 100.0))
    assert torch.all(b[0, :5] == 0)


def test_neighbours_damp_a_channel_and_alpha_zero_is_a_constant_scale():
    lone = torch.zeros(1, 5, 1, 1)
    lone[0, 2] = 100.0
    crowd = torch.full((1, 5, 1, 1), 100.0)
    assert (
        lrn_formula(crowd)[0, 2] < lrn_formula(lone)[0, 2]
    )  # the same activation, more active neighbours: smaller output
    a = torch.rand(2, 6, 3, 3)
    # elementwise: the power may round 2 ** 0.75 differently by an ulp; allclose's rtol 1e-5 is ~100 ulps
    assert torch.allclose(lrn_formula(a, alpha=0.0, k=2.0, beta=0.75), a / 2.0**0.75)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="odd"):
        lrn_formula(torch.rand(1, 6, 2, 2), n=4)
    with pytest.raises(ValueError, match="N x C x H x W"):
        lrn_formula(torch.rand(6, 2, 2))
