"""The rules every family shares (cnnlib.models.blocks): same padding, width rounding, stochastic depth."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from torchvision.ops import stochastic_depth

from cnnlib.models.blocks import ConvNormAct, StochasticDepth, make_divisible, same_padding, scale_channels

# --------------------------------------------------------------------------- same padding


@pytest.mark.parametrize(
    "kernel_size, dilation, padding",
    [
        (1, 1, 0),
        (3, 1, 1),
        (5, 1, 2),
        (7, 1, 3),
        (3, 2, 2),
        (3, 3, 3),
        (5, 2, 4),
        ((1, 7), 1, (0, 3)),
        ((3, 1), (2, 1), (2, 0)),
    ],  # fmt: skip
)
def test_same_padding_keeps_the_size_of_a_stride_1_convolution(kernel_size, dilation, padding):
    assert same_padding(kernel_size, dilation) == padding
    conv = nn.Conv2d(1, 1, kernel_size, padding=padding, dilation=dilation)
    assert conv(torch.zeros(1, 1, 11, 9)).shape[-2:] == (11, 9)
    # PyTorch's own "same" padding: the same output, from the same zeros
    same = nn.Conv2d(1, 1, kernel_size, padding="same", dilation=dilation)
    same.load_state_dict(conv.state_dict())
    x = torch.randn(1, 1, 11, 9)
    assert torch.equal(conv(x), same(x))  # exact: the same windows over the same padded input


def test_same_padding_of_an_even_kernel_is_the_left_padding_of_pytorchs_same():
    """No symmetric padding keeps the size for an even kernel: the output is one smaller."""
    assert same_padding(2) == 0 and same_padding(4) == 1 and same_padding(2, dilation=2) == 1
    assert nn.Conv2d(1, 1, 4, padding=same_padding(4))(torch.zeros(1, 1, 8, 8)).shape[-1] == 7


def test_conv_norm_act_pads_to_the_same_size():
    block = ConvNormAct(2, 4, (1, 7))
    assert block[0].padding == (0, 3) and block(torch.zeros(1, 2, 5, 5)).shape == (1, 4, 5, 5)


# --------------------------------------------------------------------------- width multipliers


def test_scale_channels_rounds_to_multiples_of_8_by_default():
    assert scale_channels(96, 1.0) == 96 and scale_channels(100, 1.0) == 100  # width 1: the published table
    assert scale_channels(64, 0.5) == 32 and scale_channels(192, 0.5) == 96 and scale_channels(48, 0.5) == 24
    assert scale_channels(64, 0.25) == 16 and scale_channels(8, 0.1) == 8  # never below 8
    assert scale_channels(32, 0.35) == make_divisible(32 * 0.35) == 16  # 11.2 rounds to 8, more than 10 % below: 16
    with pytest.raises(ValueError, match="positive"):
        scale_channels(64, 0)


def test_scale_channels_truncates_without_a_divisor():
    """MobileNet v1, SqueezeNext, RepVGG: int(channels * width), at least min_value."""
    assert scale_channels(64, 0.3, divisor=None) == 19  # int(19.2)
    assert scale_channels(32, 0.1, divisor=None, min_value=8) == 8  # int(3.2) = 3, raised to MobileNet v1's 8
    assert scale_channels(64, 0.75, divisor=None) == 48 and scale_channels(512, 2.5, divisor=None) == 1280  # RepVGG-A0
    assert scale_channels(3, 0.1, divisor=None) == 1  # never 0 channels


# --------------------------------------------------------------------------- stochastic depth


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_stochastic_depth_equals_torchvisions(mode):
    """The default (inverted) form is torchvision.ops.stochastic_depth: the same draws, survivors / (1 - p)."""
    x = torch.randn(64, 3, 2, 2)
    sd = StochasticDepth(0.3, mode=mode).train()
    for seed in range(5):
        torch.manual_seed(seed)
        ours = sd(x)
        torch.manual_seed(seed)
        theirs = stochastic_depth(x, 0.3, mode, training=True)
        # x * mask / keep here, x * (mask / keep) there: one rounding apart at most
        assert torch.allclose(ours, theirs, rtol=2 * torch.finfo(torch.float32).eps, atol=0)
    assert torch.equal(sd.eval()(x), x)  # identity in evaluation, as torchvision's


def test_stochastic_depth_drops_whole_samples_and_is_unbiased():
    sd = StochasticDepth(0.5)
    x = torch.ones(4000, 2, 1, 1)
    torch.manual_seed(0)
    y = sd.train()(x)
    assert set(y.unique().tolist()) == {0.0, 2.0}  # dropped, or kept and scaled by 1 / (1 - p)
    assert torch.equal(y[:, 0], y[:, 1])  # per sample, not per element
    assert y.mean().item() == pytest.approx(1.0, abs=0.05)  # unbiased


def test_stochastic_depth_in_the_papers_form():
    """Huang et al. 2016 (inverted=False): no rescaling in training, the expectation (1 - p) x at test time."""
    branch = torch.randn(64, 3, 2, 2)
    drop = StochasticDepth(0.5, mode="batch", inverted=False).train()
    assert drop.survival_prob == 0.5
    torch.manual_seed(0)
    outs = [drop(branch) for _ in range(40)]
    dropped = [bool((o == 0).all()) for o in outs]
    kept = [torch.equal(o, branch) for o in outs]
    assert all(d or k for d, k in zip(dropped, kept))  # batch mode: the whole branch kept or dropped
    assert any(dropped) and any(kept)
    row = StochasticDepth(0.5, mode="row", inverted=False).train()(branch)
    zero = [bool((row[i] == 0).all()) for i in range(64)]
    assert all(z or torch.equal(row[i], branch[i]) for i, z in enumerate(zero)) and 0 < sum(zero) < 64
    drop.eval()
    assert torch.equal(drop(branch), 0.5 * branch)  # the expectation, every time


def test_stochastic_depth_edge_cases_and_errors():
    x = torch.randn(8, 2, 1, 1)
    assert torch.equal(StochasticDepth(0.0).train()(x), x)  # nothing dropped, no draw
    assert torch.equal(StochasticDepth(0.0, inverted=False).eval()(x), x)
    assert (StochasticDepth(1.0).train()(x) == 0).all()  # everything dropped, no division by zero
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        StochasticDepth(1.5)
    with pytest.raises(ValueError, match="mode must be 'batch'"):
        StochasticDepth(0.2, mode="sample")
