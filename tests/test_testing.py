"""cnnlib.testing: rounding tolerances follow the arithmetic, hold across kernels and still catch real errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnlib.testing import accumulated_terms, assert_close_up_to_rounding, randomise_batch_norm, rounding_tolerance


def test_tolerance_follows_terms_scale_and_dtype():
    x = torch.tensor([1.0, -4.0])
    base = rounding_tolerance(x, 100)
    assert base == pytest.approx(8 * 10 * torch.finfo(torch.float32).eps * 4)
    assert rounding_tolerance(x, 400) == pytest.approx(2 * base)  # sqrt(terms)
    assert rounding_tolerance(10 * x, 100) == pytest.approx(10 * base)  # the outputs' scale
    assert rounding_tolerance(x, 100, dtype=torch.bfloat16) == pytest.approx(base * 2.0**16)  # eps 2^-7 vs 2^-23
    with pytest.raises(ValueError, match="terms must be at least 1"):
        rounding_tolerance(x, 0)


def test_a_convolution_computed_another_way_passes_and_a_wrong_one_fails():
    torch.manual_seed(0)
    x, w = torch.randn(2, 64, 12, 12), torch.randn(32, 64, 3, 3)
    direct = F.conv2d(x, w, padding=1)
    # the same convolution as an explicit GEMM in float64, then rounded: another summation order
    cols = F.unfold(x.double(), 3, padding=1)  # (2, 64*9, 144)
    gemm = (w.double().flatten(1) @ cols).view(2, 32, 12, 12).float()
    assert_close_up_to_rounding(direct, gemm, terms=64 * 9, what="direct vs GEMM convolution")
    wrong = w.clone()
    wrong[0, 0, 1, 1] *= 1.01  # one weight of 18,432 off by 1 %
    with pytest.raises(AssertionError, match="more than rounding explains"):
        assert_close_up_to_rounding(F.conv2d(x, wrong, padding=1), gemm, terms=64 * 9)


def test_shapes_and_nan_are_refused():
    a = torch.zeros(2, 3)
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_close_up_to_rounding(a, torch.zeros(3, 2), terms=1)
    with pytest.raises(AssertionError, match="more than rounding explains"):
        assert_close_up_to_rounding(torch.full((2, 3), float("nan")), torch.ones(2, 3), terms=1)


def test_accumulated_terms_sums_the_fan_in_of_every_layer():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 1), nn.Flatten(), nn.Linear(16, 10))
    assert accumulated_terms(model) == 3 * 9 + 8 + 16
    assert accumulated_terms(nn.ReLU()) == 1


def test_randomise_batch_norm_moves_every_bn_off_the_identity_reproducibly():
    def net() -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.BatchNorm2d(8, affine=False))

    a = randomise_batch_norm(net(), torch.Generator().manual_seed(0)).eval()
    b = randomise_batch_norm(net(), torch.Generator().manual_seed(0))
    for m in (a[1], a[3]):
        assert ((m.running_mean >= -0.5) & (m.running_mean < 0.5)).all() and m.running_mean.abs().sum() > 0
        assert ((m.running_var >= 0.5) & (m.running_var < 1.5)).all()
    assert ((a[1].weight >= 0.5) & (a[1].weight < 1.5)).all() and ((a[1].bias >= -0.3) & (a[1].bias < 0.3)).all()
    for i in (1, 3):  # the same generator draws the same statistics
        assert all(torch.equal(x, y) for x, y in zip(a[i].state_dict().values(), b[i].state_dict().values()))
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        fresh = net().eval()
        fresh[0].load_state_dict(a[0].state_dict())
        assert not torch.allclose(a(x), fresh(x))  # the BNs now change the outputs by O(1)
