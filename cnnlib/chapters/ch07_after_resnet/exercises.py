"""Checkers for chapter 07 (After ResNet).

Each checker takes the student's answer, raises ``AssertionError`` with a hint when it is wrong,
and prints what was verified when it is right.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from ...analysis.summary import count_parameters
from ...models.registry import get_model
from .. import passed as _passed

__all__ = ["check_se_block", "check_se_overhead", "check_separable_conv", "se_overhead_formula"]


def check_se_block(se_block: Callable[[int, int], nn.Module]) -> bool:
    """``se_block(channels, reduction)`` -> a module computing ``x * s(x)`` with s from the channel means.

    Checked on behaviour, whatever the student's weights: the shape is kept; the output is the
    input times one weight per image and channel, strictly between 0 and 1; that weight depends only
    on the channels' spatial means (maps stretched and shuffled around the same means get the same weights); the
    excitation has trainable weights of the right size (2 C^2 / r, biases allowed).
    """
    torch.manual_seed(0)
    for channels, reduction, size in ((32, 4, 6), (64, 16, 5)):
        block = se_block(channels, reduction)
        assert isinstance(block, nn.Module), f"se_block(...) must return an nn.Module, got {type(block).__name__}"
        block.eval()
        x = torch.randn(3, channels, size, size) + 0.1
        with torch.no_grad():
            y = block(x)
        assert y.shape == x.shape, f"the output must keep the input's shape {tuple(x.shape)}, got {tuple(y.shape)}"
        s = y / x
        per_channel = s.flatten(2)
        assert torch.allclose(per_channel, per_channel[..., :1].expand_as(per_channel), atol=1e-5), (
            "each channel must be multiplied by one number per image (the same at every position): scale, do not "
            "add or mix channels"
        )
        weights = per_channel[..., 0]
        assert bool(((weights > 0) & (weights < 1)).all()), "the channel weights must come out of a sigmoid: in (0, 1)"
        assert weights.std() > 1e-6, "the weights are all equal: does the excitation depend on the input?"
        mean = x.mean((2, 3), keepdim=True)
        perm = torch.randperm(size * size)
        other = (mean + 3 * (x - mean)).flatten(2)[..., perm].view_as(x)  # same channel means, other maps
        other[other.abs() < 1e-3] = 1e-3  # the weights are read back by division
        other = other - other.mean((2, 3), keepdim=True) + mean
        with torch.no_grad():
            y2 = block(other)
        assert torch.allclose((y2 / other).flatten(2)[..., 0], weights, atol=1e-4), (
            "the weights must depend only on each channel's mean over the map (squeeze = global average pooling)"
        )
        expected = 2 * channels * (channels // reduction)
        params = count_parameters(block)
        biases = channels + channels // reduction
        assert params in (expected, expected + biases), (
            f"with C = {channels} and r = {reduction} the two fully connected layers have {expected:,} weights "
            f"(+{biases} biases if you use them); your block has {params:,} parameters"
        )
    return _passed("shape kept, one sigmoid weight per channel from the channel means, 2C²/r weights")


def check_separable_conv(separable: Callable[[int, int, int], nn.Module]) -> bool:
    """``separable(c_in, c_out, k)`` -> a depthwise k x k (stride 1, 'same' padding) then pointwise 1x1 module.

    Checked: the output shape; a depthwise convolution (``groups == c_in``) and a 1x1 convolution are
    inside; the parameter count is ``c_in*k*k + c_in*c_out`` (biases allowed); each output position
    depends only on the k x k neighbourhood of the input.
    """
    torch.manual_seed(0)
    for c_in, c_out, k in ((8, 16, 3), (12, 5, 5)):
        module = separable(c_in, c_out, k).eval()
        convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
        assert any(c.groups == c_in and c.in_channels == c_in for c in convs), (
            "no depthwise convolution: one k x k filter per input channel is nn.Conv2d(c_in, c_in, k, groups=c_in)"
        )
        assert any(c.kernel_size == (1, 1) and c.out_channels == c_out for c in convs), (
            f"no pointwise convolution: a 1x1 nn.Conv2d to the {c_out} output channels mixes the channels"
        )
        weights = c_in * k * k + c_in * c_out
        params = count_parameters(module)
        assert params in (weights, weights + c_in + c_out, weights + c_out, weights + c_in), (
            f"expected {weights:,} weights (c_in*k*k + c_in*c_out), biases allowed; got {params:,} parameters"
        )
        x = torch.randn(2, c_in, 11, 11, requires_grad=True)
        y = module(x)
        assert y.shape == (2, c_out, 11, 11), (
            f"expected output {(2, c_out, 11, 11)} ('same' padding), got {tuple(y.shape)}"
        )
        y[0, :, 5, 5].sum().backward()
        reach = (x.grad[0].abs().sum(0) > 0).nonzero()
        r = k // 2
        assert bool((reach.sub(5).abs() <= r).all()), f"output (5, 5) must depend only on its {k}x{k} neighbourhood"
    return _passed("depthwise k×k then pointwise 1×1, c_in·k² + c_in·c_out weights, a k×k receptive field")


def se_overhead_formula(model_name: str = "resnet50", reduction: int = 16) -> int:
    """Hu et al. Eq. 5: ``2/r * sum over stages of N_s * C_s^2``, for a ResNet of ``cnnlib.models`` (weights only)."""
    model = get_model(model_name)
    total = 0
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        for block in stage:
            c = block.conv3.out_channels if hasattr(block, "conv3") else block.conv2.out_channels
            total += 2 * c * (c // reduction)
    return total


def check_se_overhead(answer: int) -> bool:
    """How many parameters do SE blocks (r = 16) add to ResNet-101? Eq. 5 of the paper, or counted with biases."""
    formula = se_overhead_formula("resnet101")
    counted = count_parameters(get_model("resnet101", se_reduction=16)) - count_parameters(get_model("resnet101"))
    assert isinstance(answer, int), f"give a whole number of parameters, got {answer!r}"
    assert answer in (formula, counted), (
        "not quite: ResNet-101 has 3, 4, 23 and 3 bottleneck blocks whose outputs have 256, 512, 1024 and 2048 "
        "channels; each SE block adds two fully connected layers C -> C/16 -> C"
    )
    return _passed("Eq. 5's count of the SE weights (or the count with the biases of cnnlib's layers)")
