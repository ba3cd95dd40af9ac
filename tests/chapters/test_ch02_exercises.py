"""Chapter 02 checkers: a right answer passes, wrong ones fail."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from cnnlib.chapters.ch02_alexnet import exercises
from cnnlib.models.alexnet import lrn_formula


def test_lrn_checker():
    assert exercises.check_lrn(lambda a, n, k, alpha, beta: lrn_formula(a, n, k, alpha, beta))
    wrong = [
        lambda a, n, k, alpha, beta: lrn_formula(a, n, k, alpha / n, beta),  # torch's alpha / n convention
        lambda a, n, k, alpha, beta: a / (k + alpha * (a**2).sum(1, keepdim=True)) ** beta,  # sums every channel
        lambda a, n, k, alpha, beta: a / (k + alpha * a**2) ** beta,  # no neighbours
        lambda a, n, k, alpha, beta: a[:, :1],  # wrong shape
    ]
    for fn in wrong:
        with pytest.raises(AssertionError):
            exercises.check_lrn(fn)


class Towers(nn.Module):
    def __init__(self, cin, cout, k, p, swap=False):
        super().__init__()
        self.a = nn.Conv2d(cin // 2, cout // 2, k, padding=p)
        self.b = nn.Conv2d(cin // 2, cout // 2, k, padding=p)
        self.swap = swap

    def forward(self, x):
        h = x.shape[1] // 2
        ya, yb = self.a(x[:, :h]), self.b(x[:, h:])
        return torch.cat([yb, ya] if self.swap else [ya, yb], 1)


def test_two_tower_checker():
    assert exercises.check_two_tower_conv(Towers)
    assert exercises.check_two_tower_conv(lambda cin, cout, k, p: nn.Conv2d(cin, cout, k, padding=p, groups=2))
    with pytest.raises(AssertionError, match="parameters"):
        exercises.check_two_tower_conv(lambda cin, cout, k, p: nn.Conv2d(cin, cout, k, padding=p))
    with pytest.raises(AssertionError):
        exercises.check_two_tower_conv(lambda cin, cout, k, p: Towers(cin, cout, k, p, swap=True))
    with pytest.raises(AssertionError, match="shape"):
        exercises.check_two_tower_conv(lambda cin, cout, k, p: nn.Conv2d(cin, cout, k, padding=0, groups=2))
