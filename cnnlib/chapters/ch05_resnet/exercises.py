"""Checkers for chapter 05 (ResNet and its relatives).

Each checker takes the student's answer, raises ``AssertionError`` with a hint when it is wrong,
and prints what was verified when it is right. The reference answers come from cnnlib's own
``BasicBlock`` and ``CifarResNet`` (the zoo's models).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from ...analysis.summary import count_parameters
from ...models.blocks import StochasticDepth
from ...models.resnet import BasicBlock, CifarResNet, make_shortcut
from .. import passed as _passed

__all__ = ["check_basic_block", "check_expected_blocks"]

# (in_channels, out_channels, stride): an identity block, and the two kinds of downsampling block
_SHAPES = ((16, 16, 1), (16, 32, 2), (32, 64, 2))


def _last_bn(module: nn.Module) -> nn.BatchNorm2d:
    norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    if not norms:
        raise AssertionError("the block has no nn.BatchNorm2d: each 3x3 convolution is followed by batch norm")
    return norms[-1]


def check_basic_block(block_class: Callable[..., nn.Module]) -> bool:
    """``block_class(in_channels, out_channels, stride)``: He et al.'s basic block with option-B shortcuts.

    Checks the output shape, the parameter count (two bias-free 3x3 convolutions with BN, and a
    1x1 convolution + BN on the shortcut only where the shape changes) against cnnlib's
    ``BasicBlock``, and the behaviour that makes deep ResNets trainable: with the residual branch's
    last BN scaled to zero, an identity block computes ``relu(x)`` and passes the gradient on.
    """
    for c_in, c_out, stride in _SHAPES:
        block = block_class(c_in, c_out, stride)
        x = torch.randn(2, c_in, 8, 8)
        out = block(x)
        expected_shape = (2, c_out, 8 // stride, 8 // stride)
        assert tuple(out.shape) == expected_shape, (
            f"block({c_in}, {c_out}, stride={stride}) maps 2x{c_in}x8x8 to {tuple(out.shape)}, expected "
            f"{expected_shape}: the first 3x3 conv has the stride, padding 1 keeps the size"
        )
        reference = BasicBlock(c_in, c_out, stride, downsample=make_shortcut(c_in, c_out, stride, option="B"))
        got, want = count_parameters(block), count_parameters(reference)
        assert got == want, (
            f"block({c_in}, {c_out}, stride={stride}) has {got:,} parameters, expected {want:,}: convolutions "
            "without bias (BN follows), BN after each, and a 1x1 conv + BN shortcut only where the shape changes"
        )
    block = block_class(16, 16, 1).eval()
    with torch.no_grad():
        _last_bn(block).weight.zero_()
        _last_bn(block).bias.zero_()
    x = torch.randn(2, 16, 8, 8, requires_grad=True)
    out = block(x)
    assert torch.allclose(out, torch.relu(x), atol=1e-6), (
        "with the last BN's scale and shift at zero the residual branch outputs 0, so the block must compute "
        "relu(0 + x): is x added before the final ReLU?"
    )
    out.sum().backward()
    assert torch.allclose(x.grad, (x > 0).float()), "the gradient must reach x through the shortcut unchanged"
    return _passed(
        f"shapes and parameter counts match cnnlib's BasicBlock for {len(_SHAPES)} configurations; "
        "a zeroed branch leaves relu(x) and the shortcut's gradient"
    )


def _survival_probabilities(blocks: int, p_last: float) -> list[float]:
    """Each block's survival probability in cnnlib's CIFAR ResNet with ``blocks`` blocks (3 stages)."""
    n, rest = divmod(blocks, 3)
    if rest:
        raise ValueError(f"a CIFAR ResNet has 3 stages of n blocks; {blocks} is not a multiple of 3")
    with torch.device("meta"):
        model = CifarResNet(n, stochastic_depth_prob=1 - p_last)
    dropping = [m.survival_prob for m in model.modules() if isinstance(m, StochasticDepth)]
    return dropping or [1.0] * blocks  # p_L = 1: no block is ever dropped (no StochasticDepth modules)


def check_expected_blocks(expected_blocks: Callable[[int, float], float]) -> bool:
    """``expected_blocks(L, p_L)``: the expected number of residual blocks that survive one training step
    under Huang et al.'s linear decay rule, checked against the survival probabilities of cnnlib's models."""
    for blocks, p_last in ((54, 0.5), (27, 0.5), (9, 0.8), (54, 1.0)):
        want = sum(_survival_probabilities(blocks, p_last))
        got = expected_blocks(blocks, p_last)
        assert abs(got - want) < 1e-6, (
            f"expected_blocks({blocks}, {p_last}) = {got}, expected {want:.4f}: sum p_l = 1 - l/L (1 - p_L) over "
            "l = 1..L (block l survives with probability p_l)"
        )
    return _passed(
        "expected surviving blocks: ResNet-110 (L = 54, p_L = 0.5) keeps "
        f"{sum(_survival_probabilities(54, 0.5)):.2f} blocks per step on average"
    )
