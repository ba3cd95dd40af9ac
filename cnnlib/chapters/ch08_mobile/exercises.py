"""Checkers for chapter 08 (Mobile architectures).

Each checker takes the student's answer, raises ``AssertionError`` with a hint when it is wrong, and
prints what was verified when it is right (never the answer itself). The reference answers come from
cnnlib's own models: ``shufflenet.channel_shuffle``, ShuffleNet v1's ``ShuffleUnitV1`` and
``efficientnet.efficientnet_phi``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ...analysis.summary import count_mult_adds, count_parameters
from ...models.efficientnet import ALPHA, BETA, GAMMA, efficientnet_phi
from ...models.shufflenet import ShuffleUnitV1, channel_shuffle
from .. import passed as _passed
from ..ch05_resnet.exercises import _last_bn  # the residual branch's last BN (shared with chapter 05's checker)

__all__ = ["check_channel_shuffle", "check_phi_costs", "check_shuffle_unit"]

# (N, C, H, W, groups): groups != C / groups in most cases, so that the inverse permutation is caught
_SHUFFLES = ((1, 6, 1, 1, 2), (1, 6, 1, 1, 3), (2, 12, 3, 3, 3), (2, 12, 2, 2, 4), (1, 8, 2, 2, 2), (3, 9, 2, 1, 3))


def check_channel_shuffle(shuffle: Callable[[Tensor, int], Tensor]) -> bool:
    """``shuffle(x, groups)``: ShuffleNet's channel shuffle of an N x C x H x W tensor (Zhang et al. 2018, Fig. 1c).

    Checked against ``cnnlib.models.shufflenet.channel_shuffle`` on tensors whose values name their
    (image, channel, position), for several channel counts and group numbers.
    """
    for n, c, h, w, g in _SHUFFLES:
        x = torch.arange(n * c * h * w, dtype=torch.float32).view(n, c, h, w)
        got = shuffle(x.clone(), g)
        want = channel_shuffle(x, g)
        assert isinstance(got, Tensor) and tuple(got.shape) == (n, c, h, w), (
            f"shuffle(x, {g}) on a {n}x{c}x{h}x{w} tensor must return a tensor of the same shape; got "
            f"{getattr(got, 'shape', type(got).__name__)}"
        )
        if torch.equal(got, want):
            continue
        order = [int(v) for v in got[0, :, 0, 0] // (h * w)]  # which input channel landed where (image 0)
        expected = [int(v) for v in want[0, :, 0, 0] // (h * w)]
        if torch.equal(got, x):
            hint = "the channels are unchanged: reshape to N x g x C/g x H x W, swap the two channel axes, flatten"
        elif torch.equal(got, channel_shuffle(x, c // g)):
            hint = "this is the inverse permutation: view the channels as g rows of C/g (groups first), then transpose"
        else:
            hint = "each channel must stay a whole H x W map of the same image: permute channels only"
        raise AssertionError(
            f"shuffle(x, groups={g}) with {c} channels gives the order {order}, expected {expected}: {hint}"
        )
    return _passed(f"channel orders equal cnnlib's channel_shuffle for {len(_SHUFFLES)} shapes and group counts")


# (in_channels, out_channels, groups, stride): out / 4 / groups >= groups, so that one shuffle reaches every group
_UNITS = ((48, 48, 3, 1), (24, 48, 3, 2), (64, 64, 4, 1), (32, 64, 2, 2))


def _branch_reach_hint(unit: nn.Module, c_in: int, c_out: int, groups: int, stride: int) -> str | None:
    """None if changing the first input group changes every output channel of the branch; else a hint."""
    torch.manual_seed(1)
    x = torch.randn(2, c_in, 8, 8)
    y = x.clone()
    y[:, : c_in // groups] += 3 * torch.randn(2, c_in // groups, 8, 8)
    with torch.no_grad():
        changed = (unit(y) - unit(x)).abs().amax(dim=(0, 2, 3)) > 1e-6
    branch = changed[c_in:] if stride == 2 else changed  # at stride 2 the branch follows the pooled input
    if bool(branch.all()):
        return None
    return (
        f"changing only the first of {groups} input groups leaves {int((~branch).sum())} of the branch's "
        f"{len(branch)} output channels unchanged: shuffle the channels (with {groups} groups) between the first "
        "grouped 1x1 convolution and the depthwise one, so that each group of the second 1x1 sees every group"
    )


def _same_weights_output(unit: nn.Module, c_in: int, c_out: int, groups: int, stride: int) -> bool | None:
    """Load cnnlib's ShuffleUnitV1 weights into ``unit`` position by position and compare the outputs (eval mode,
    random batch-norm statistics); None when the two state dicts' shapes do not line up in order."""
    ref = ShuffleUnitV1(c_in, c_out, groups, stride).eval()
    torch.manual_seed(2)
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.5)
                m.running_mean.normal_(0, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    ref_state = [v for k, v in ref.state_dict().items() if not k.endswith("num_batches_tracked")]
    keys = [k for k in unit.state_dict() if not k.endswith("num_batches_tracked")]
    if [tuple(unit.state_dict()[k].shape) for k in keys] != [tuple(v.shape) for v in ref_state]:
        return None
    unit.load_state_dict(dict(zip(keys, ref_state)), strict=False)
    x = torch.randn(2, c_in, 8, 8)
    with torch.no_grad():
        return torch.allclose(unit.eval()(x), ref(x), atol=1e-5)


def check_shuffle_unit(unit_class: Callable[..., nn.Module]) -> bool:
    """``unit_class(in_channels, out_channels, groups, stride)``: ShuffleNet v1's unit (Zhang et al. 2018, Fig. 2).

    Checks, for several widths, group counts and both strides, against cnnlib's ``ShuffleUnitV1``: the output
    shape and the parameter count; the shortcut (with the branch's last batch norm at zero, a stride-1 unit
    returns ReLU(x), a stride-2 unit the ReLU of the 3x3 average-pooled input followed by zeros); that the
    channel shuffle mixes the groups (changing one input group changes every output channel of the branch);
    and, when its parameters are listed in the same order as cnnlib's, the output with cnnlib's weights.
    """
    compared = 0
    for c_in, c_out, g, stride in _UNITS:
        torch.manual_seed(0)
        unit = unit_class(c_in, c_out, g, stride).eval()
        x = torch.randn(2, c_in, 8, 8)
        with torch.no_grad():
            out = unit(x)
        shape = (2, c_out, 8 // stride, 8 // stride)
        assert tuple(out.shape) == shape, (
            f"unit({c_in}, {c_out}, groups={g}, stride={stride}) maps 2x{c_in}x8x8 to {tuple(out.shape)}, expected "
            f"{shape}: the depthwise 3x3 carries the stride; at stride 2 the branch has {c_out - c_in} channels and is "
            f"concatenated with the {c_in} pooled input channels"
        )
        got, want = count_parameters(unit), count_parameters(ShuffleUnitV1(c_in, c_out, g, stride))
        assert got == want, (
            f"unit({c_in}, {c_out}, groups={g}, stride={stride}) has {got:,} parameters, expected {want:,}: "
            f"grouped 1x1 to {c_out // 4} channels (a quarter of the output), 3x3 depthwise, grouped 1x1 to "
            f"{c_out - c_in if stride == 2 else c_out}; no bias, each followed by BN"
        )
        with torch.no_grad():
            _last_bn(unit).weight.zero_()
            _last_bn(unit).bias.zero_()
            out = unit(x)
        if stride == 1:
            assert torch.allclose(out, F.relu(x), atol=1e-6), (
                "with the branch's last BN at zero, a stride-1 unit must return ReLU(x): add the input, then ReLU"
            )
        else:
            pooled = F.avg_pool2d(x, 3, stride=2, padding=1)
            want_out = F.relu(torch.cat([pooled, torch.zeros(2, c_out - c_in, 4, 4)], 1))
            assert torch.allclose(out, want_out, atol=1e-6), (
                "with the branch's last BN at zero, a stride-2 unit must return ReLU([avg_pool(x), 0]): concatenate "
                "the 3x3 average-pooled input (stride 2, padding 1) first and the branch second, then ReLU"
            )
        hint = _branch_reach_hint(unit_class(c_in, c_out, g, stride).eval(), c_in, c_out, g, stride)
        assert hint is None, f"unit({c_in}, {c_out}, groups={g}, stride={stride}): {hint}"
        same = _same_weights_output(unit_class(c_in, c_out, g, stride), c_in, c_out, g, stride)
        assert same is not False, (
            f"unit({c_in}, {c_out}, groups={g}, stride={stride}) with cnnlib's weights gives another output: check "
            "the order (grouped 1x1, BN, ReLU, shuffle, depthwise 3x3, BN, grouped 1x1, BN), no ReLU after the "
            "depthwise convolution, and the ReLU after the addition or concatenation"
        )
        compared += same is True
    outputs = (
        "and the outputs equal cnnlib's with the same weights"
        if compared == len(_UNITS)
        else "(outputs not compared: the parameters are listed in another order than cnnlib's)"
    )
    return _passed(
        f"shapes and parameter counts equal cnnlib's ShuffleUnitV1 for {len(_UNITS)} configurations; the shuffle "
        f"mixes the groups, the shortcut adds (stride 1) or concatenates the pooled input (stride 2) {outputs}"
    )


@lru_cache(maxsize=None)
def _phi_mult_adds(phi: int, at_224: bool = False) -> int:
    with torch.device("meta"):
        model, resolution = efficientnet_phi(phi)
    size = 224 if at_224 else resolution
    return count_mult_adds(model, (3, size, size))


_PHIS = (1, 2, 3)


def check_phi_costs(ratios: Mapping[int, float]) -> bool:
    """``ratios``: {phi: mult-adds of ``efficientnet_phi(phi)`` at its resolution / those of phi = 0} for phi = 1,
    2, 3 (Tan & Le 2019, Eq. 3). Compared with cnnlib's counts to 0.5 %; the hints name the usual slips."""
    assert set(ratios) >= set(_PHIS), f"give the ratios for phi = {_PHIS}; got the keys {sorted(ratios)}"
    base = _phi_mult_adds(0)
    for phi in _PHIS:
        got, want = float(ratios[phi]), _phi_mult_adds(phi) / base
        if abs(got / want - 1) <= 0.005:
            continue
        rule = (ALPHA * BETA**2 * GAMMA**2) ** phi
        if abs(got / (_phi_mult_adds(phi, at_224=True) / base) - 1) <= 0.005:
            hint = (
                "counted at 224 px: count each network at its own resolution, the second value efficientnet_phi returns"
            )
        elif abs(got / rule - 1) <= 0.005 or abs(got / 2**phi - 1) <= 0.005:
            hint = "that is the rule's prediction: build the network and count its mult-adds"
        elif abs(got * want - 1) <= 0.005:
            hint = "the ratio is upside down: the scaled network's mult-adds over B0's"
        else:
            hint = "count_mult_adds(model, (3, r, r)) for each phi (r from efficientnet_phi), over the same for phi = 0"
        raise AssertionError(f"phi = {phi}: your ratio {got:.3f} is not the counted one: {hint}")
    return _passed(f"the ratios for phi = {', '.join(map(str, _PHIS))} equal the counts of efficientnet_phi's networks")
