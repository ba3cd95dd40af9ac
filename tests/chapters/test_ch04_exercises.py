"""Chapter 04's exercise checkers accept right answers and reject wrong ones with a hint."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.nn as nn

from cnnlib.chapters.ch04_googlenet import exercises
from cnnlib.models.googlenet import InceptionModule


class Module(nn.Module):
    """A configurable answer to exercise 1: the right module, or one of the typical mistakes."""

    def __init__(
        self,
        *,
        in_channels,
        ch1x1,
        ch3x3_reduce,
        ch3x3,
        ch5x5_reduce,
        ch5x5,
        pool_proj,
        k5=5,
        order=(0, 1, 2, 3),
        relu=True,
        pool_padding=1,
    ) -> None:
        super().__init__()
        act = nn.ReLU if relu else nn.Identity
        self.branches = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(in_channels, ch1x1, 1), act()),
                nn.Sequential(
                    nn.Conv2d(in_channels, ch3x3_reduce, 1), act(), nn.Conv2d(ch3x3_reduce, ch3x3, 3, padding=1), act()
                ),
                nn.Sequential(
                    nn.Conv2d(in_channels, ch5x5_reduce, 1),
                    act(),
                    nn.Conv2d(ch5x5_reduce, ch5x5, k5, padding=k5 // 2),
                    act(),
                ),
                nn.Sequential(
                    nn.MaxPool2d(3, stride=1, padding=pool_padding), nn.Conv2d(in_channels, pool_proj, 1), act()
                ),
            ]
        )
        self.order = order

    def forward(self, x):
        return torch.cat([self.branches[i](x) for i in self.order], dim=1)


def test_inception_module_checker_accepts_right_answers():
    assert exercises.check_inception_module(Module)
    assert exercises.check_inception_module(partial(InceptionModule, norm_layer=None))


@pytest.mark.parametrize(
    "mistake, message",
    [
        ({"k5": 3}, "parameters"),  # torchvision's 3x3 "5x5" branch
        ({"order": (0, 2, 1, 3)}, "branch"),  # branches concatenated in another order
        ({"relu": False}, "negative"),  # no ReLU
        ({"pool_padding": 0}, "keep H x W"),  # the pool shrinks the maps
    ],
)
def test_inception_module_checker_rejects_mistakes(mistake, message):
    with pytest.raises(AssertionError, match=message):
        exercises.check_inception_module(partial(Module, **mistake))


def test_inception_module_checker_rejects_a_wrong_signature():
    class Positional(nn.Module):
        def __init__(self, in_channels, widths):
            super().__init__()

    with pytest.raises(AssertionError, match="keyword arguments"):
        exercises.check_inception_module(Positional)


def _cost(in_channels, ch1x1, ch3x3_reduce, ch3x3, ch5x5_reduce, ch5x5, pool_proj, size, k5=5, biases=True):
    convs = [
        (in_channels, ch1x1, 1),
        (in_channels, ch3x3_reduce, 1),
        (ch3x3_reduce, ch3x3, 3),
        (in_channels, ch5x5_reduce, 1),
        (ch5x5_reduce, ch5x5, k5),
        (in_channels, pool_proj, 1),
    ]
    return {
        "params": sum((c * k * k + biases) * o for c, o, k in convs),
        "mult_adds": sum(c * k * k * o for c, o, k in convs) * size * size,
    }


def test_inception_cost_checker():
    assert exercises.check_inception_cost(_cost)
    with pytest.raises(AssertionError, match="Hint: a conv has"):
        exercises.check_inception_cost(
            partial(_cost, biases=False)
        )  # weights only: the paper's convention, not the module's
    with pytest.raises(AssertionError, match="params"):
        exercises.check_inception_cost(partial(_cost, k5=3))
    with pytest.raises(AssertionError, match="mult_adds"):
        exercises.check_inception_cost(
            lambda **kw: {"params": _cost(**kw)["params"], "mult_adds": _cost(**kw)["mult_adds"] // kw["size"]}
        )
    with pytest.raises(AssertionError, match="missing"):
        exercises.check_inception_cost(lambda **kw: {"params": _cost(**kw)["params"]})


def test_inception_module_checker_is_deterministic_and_leaves_the_random_state_alone():
    # A student's right answer must pass whatever the notebook's random state (a narrow branch whose ReLUs
    # all die would show no reach); the checker seeds its own draws and restores the caller's state.
    for seed in range(3):
        torch.manual_seed(seed)
        state = torch.random.get_rng_state()
        assert exercises.check_inception_module(Module)
        assert torch.equal(state, torch.random.get_rng_state())
