"""Checkers for chapter 04 (GoogLeNet and Inception).

Each checker takes the student's answer, raises ``AssertionError`` with a hint when it is
wrong, and prints what was verified when it is right. The reference answers come from
PyTorch itself (cnnlib's ``InceptionModule`` counted by ``cnnlib.analysis.summary``).
"""

from __future__ import annotations

from typing import Callable, Mapping

import torch
import torch.nn as nn

from ...analysis.summary import count_mult_adds
from ...models.googlenet import INCEPTIONS, InceptionModule
from .. import passed as _passed

__all__ = ["check_inception_module", "check_inception_cost"]

_GRID = {"3": 28, "4": 14, "5": 7}  # grid size of each Table 1 Inception module at 224 px
_ORDER = ("ch1x1", "ch3x3", "ch5x5", "pool_proj")
_REACH = {
    "ch1x1": 0,
    "ch3x3": 1,
    "ch5x5": 2,
    "pool_proj": 1,
}  # how far (in pixels) one input pixel reaches in each branch
_WHY = {
    "ch1x1": "a 1x1 conv only sees its own pixel",
    "ch3x3": "a 1x1 reduce then a 3x3 conv (padding 1) see one pixel around",
    "ch5x5": "a 1x1 reduce then a 5x5 conv (padding 2) see two pixels around",
    "pool_proj": "a 3x3 max pool (stride 1, padding 1) then a 1x1 projection see one pixel around",
}


# widths for the reach test: all different (so a wrong order shows) and wide enough that some ReLU stays alive
_REACH_WIDTHS = dict(in_channels=7, ch1x1=8, ch3x3_reduce=9, ch3x3=10, ch5x5_reduce=11, ch5x5=12, pool_proj=13)


def _reference(widths: Mapping[str, int]) -> InceptionModule:
    return InceptionModule(**widths, norm_layer=None)


def _branch_reach(module: nn.Module, widths: Mapping[str, int], size: int = 13) -> dict[str, int]:
    """For each channel block of the output: how far a change of one input pixel spreads (Chebyshev distance)."""
    x = torch.randn(
        1, widths["in_channels"], size, size, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    bumped = x.clone()
    centre = size // 2
    bumped[0, :, centre, centre] += 50.0  # large, so the pixel also wins every max-pool window it is in
    module = module.double().eval()
    with torch.no_grad():
        # float64: rounding moves outputs by ~1e-15, the +50 bump moves those it reaches by far more than 1e-9
        changed = (module(bumped) - module(x)).abs()[0] > 1e-9  # C_out x H x W
    reach, start = {}, 0
    for key in _ORDER:
        block = changed[start : start + widths[key]].any(dim=0)
        start += widths[key]
        ys, xs = torch.nonzero(block, as_tuple=True)
        reach[key] = -1 if len(ys) == 0 else int(torch.maximum((ys - centre).abs(), (xs - centre).abs()).max())
    return reach


def _student_reach(module_class: type[nn.Module], widths: Mapping[str, int], seeds: int = 3) -> dict[str, int]:
    """The largest reach of each block over a few seeded initialisations of the student's module.

    One initialisation can leave every ReLU of a narrow branch at zero around the pixel (then that
    block shows no change at all); with 8+ channels per branch and three seeds this does not happen in
    practice, and a wrong kernel, padding or order still shows. The caller's random state is untouched.
    """
    reach: dict[str, int] = {}
    for seed in range(seeds):
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            module = module_class(**widths)
        for key, value in _branch_reach(module, widths).items():
            reach[key] = max(reach.get(key, -1), value)
    return reach


def check_inception_module(module_class: type[nn.Module]) -> bool:
    """Exercise 04.1: an Inception module with 1x1 reductions (Figure 2(b) of Szegedy et al. 2014).

    ``module_class(in_channels=..., ch1x1=..., ch3x3_reduce=..., ch3x3=..., ch5x5_reduce=..., ch5x5=..., pool_proj=...)``
    must concatenate, in this order, the 1x1 branch, the 3x3 branch, the 5x5 branch and the pool
    branch; convs with biases and a ReLU after each, no batch norm (as in the 2014 paper).
    The check draws its own seeded random numbers and leaves the notebook's random state as it was.
    """  # noqa: E501 (the call signature above is one ``literal``)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return _check_inception_module(module_class)


def _check_inception_module(module_class: type[nn.Module]) -> bool:
    configs = [
        dict(in_channels=192, ch1x1=64, ch3x3_reduce=96, ch3x3=128, ch5x5_reduce=16, ch5x5=32, pool_proj=32),  # (3a)
        dict(
            in_channels=528, ch1x1=256, ch3x3_reduce=160, ch3x3=320, ch5x5_reduce=32, ch5x5=128, pool_proj=128
        ),  # (4e)
        dict(
            in_channels=7, ch1x1=3, ch3x3_reduce=2, ch3x3=5, ch5x5_reduce=4, ch5x5=6, pool_proj=9
        ),  # every width different
    ]
    for widths in configs:
        try:
            module = module_class(**widths)
        except TypeError as err:
            raise AssertionError(
                f"{module_class.__name__}(**{widths}) failed: {err}. "
                "Hint: take the keyword arguments in_channels, ch1x1, "
                "ch3x3_reduce, ch3x3, ch5x5_reduce, ch5x5, pool_proj."
            ) from None
        expected_channels = widths["ch1x1"] + widths["ch3x3"] + widths["ch5x5"] + widths["pool_proj"]
        for size in (28, 7):
            try:
                with torch.no_grad():
                    out = module.eval()(torch.randn(2, widths["in_channels"], size, size))
            except RuntimeError as err:
                raise AssertionError(
                    f"widths {widths}, input 2x{widths['in_channels']}x{size}x{size}: "
                    f"the forward pass failed ({err}). Hint: "
                    "every branch must keep H x W ('same' padding: 1 for 3x3 kernels and the 3x3 pool, 2 for 5x5)."
                ) from None
            assert out.shape == (2, expected_channels, size, size), (
                f"widths {widths}, input 2x{widths['in_channels']}x{size}x{size}: output {tuple(out.shape)}, expected "
                f"{(2, expected_channels, size, size)}. "
                "Hint: every branch keeps H x W ('same' padding) and the branches "
                "are concatenated along the channels (dim=1)."
            )
            assert (out >= 0).all(), "some outputs are negative: end every branch with a ReLU"
        n, ref = sum(p.numel() for p in module.parameters()), sum(p.numel() for p in _reference(widths).parameters())
        assert n == ref, (
            f"widths {widths}: {n:,} parameters, the module of Figure 2(b) has {ref:,}. "
            "Hint: six convolutions with biases "
            "(1x1; 1x1 reduce + 3x3; 1x1 reduce + 5x5; 1x1 after the pool), no batch norm."
        )
    widths = _REACH_WIDTHS
    reach = _student_reach(module_class, widths)
    for key in _ORDER:
        assert reach[key] == _REACH[key], (
            f"in the output channels of the {key} branch (block {_ORDER.index(key) + 1} of 4), "
            f"changing one input pixel changes outputs up to {reach[key]} pixels away; "
            f"expected {_REACH[key]} ({_WHY[key]}). "
            "Hint: check the kernel sizes, the paddings and the order of concatenation: 1x1, 3x3, 5x5, pool."
        )
    return _passed(
        "output shapes, parameter counts for (3a), (4e) and an odd module, and the reach of every branch "
        "(1x1: 0, 3x3: 1, 5x5: 2, pool: 1 pixel) in the order 1x1, 3x3, 5x5, pool"
    )


def check_inception_cost(fn: Callable[..., Mapping[str, int]]) -> bool:
    """Exercise 04.2: ``fn(in_channels, ch1x1, ch3x3_reduce, ch3x3, ch5x5_reduce, ch5x5, pool_proj, size)`` returns
    ``{"params": ..., "mult_adds": ...}`` of the module with reductions (convs with biases, no batch norm) for one
    image of ``in_channels`` x ``size`` x ``size``; checked on the nine modules of Table 1."""
    for cfg in INCEPTIONS:
        size = _GRID[cfg.name[0]]
        widths = dict(in_channels=cfg.in_channels, **cfg.branch_channels())
        reference = _reference(widths)
        truth = {
            "params": sum(p.numel() for p in reference.parameters()),
            "mult_adds": count_mult_adds(reference, (cfg.in_channels, size, size)),
        }
        got = fn(**widths, size=size)
        missing = sorted(set(truth) - set(got))
        assert not missing, f"return a dict with the keys 'params' and 'mult_adds'; missing {missing}"
        for key, expected in truth.items():
            assert got[key] == expected, (
                f"inception ({cfg.name}) on {cfg.in_channels}x{size}x{size}: "
                f"your {key} {got[key]:,}, the module has {expected:,}. "
                + (
                    "Hint: a conv has (in x k x k + 1) x out parameters; sum the six convs."
                    if key == "params"
                    else "Hint: a conv computes in x k x k multiply-adds per output value: in x k x k x out x H x W; "
                    "biases and max pooling count no multiply-adds."
                )
            )
    return _passed("parameters and multiply-adds of all nine Inception modules of Table 1 agree with the real modules")
