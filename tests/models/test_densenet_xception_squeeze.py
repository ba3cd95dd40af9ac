"""DenseNet, Xception, SqueezeNet and SqueezeNext: published counts, block formulas, smallest inputs.

Agreement with torchvision: ``test_torchvision.py``; clear input errors: ``test_inputs.py``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import cnnlib
from cnnlib.analysis.summary import count_mult_adds
from cnnlib.models import build_on_meta
from cnnlib.models.densenet import DenseBlock, Transition
from cnnlib.models.squeezenet import Fire
from cnnlib.models.squeezenext import SqueezeNextBlock
from cnnlib.models.xception import SeparableConv2d, XceptionBlock
from cnnlib.testing import accumulated_terms, assert_close_up_to_rounding


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "name, params",
    [
        ("densenet121", 7_978_856),  # torchvision DenseNet121_Weights meta (REFERENCES.md)
        ("densenet169", 14_149_480),  # torchvision DenseNet169_Weights meta
        ("densenet201", 20_013_928),  # torchvision DenseNet201_Weights meta
        # DenseNet-BC (L=100, k=12), 10 classes: paper "0.8 M"; osmr/imgclsmob CIFAR table
        # (densenet100_k12_bc_cifar10) lists 769,162
        ("densenet_bc100", 769_162),
        # Chollet 2017, Table 3 (22,855,952); = Keras Xception "Trainable params" and osmr/timm's port
        ("xception", 22_855_952),
        ("squeezenet1_0", 1_248_424),  # torchvision SqueezeNet1_0_Weights meta (REFERENCES.md)
        ("squeezenet1_1", 1_235_496),  # torchvision SqueezeNet1_1_Weights meta (REFERENCES.md)
        # 1.0-SqNxt-23: osmr/imgclsmob pytorchcv sqnxt23_w1 asserts 724,056 (paper Table 2: 0.72 M)
        ("sqnxt23_1x", 724_056),
        # our CIFAR adaptations (no published figure): regression values, not references
        ("xception_cifar", 2_550_890),
        ("squeezenet_cifar", 727_626),
        ("sqnxt23_1x_cifar", 588_666),  # 724,056 - 990 * 129 (classifier) - 7,680 (7x7 -> 3x3 conv1)
    ],
)
def test_parameter_counts(name, params):
    assert n_params(build_on_meta(name)) == params


@pytest.mark.parametrize("width, params", [(1.5, 1_511_824), (2.0, 2_583_752)])
def test_squeezenext_width_multiplier_matches_reference(width, params):
    """osmr/imgclsmob sqnxt23_w3d2 and sqnxt23_w2: the width rule is the reference's."""
    assert n_params(build_on_meta("sqnxt23_1x", width=width)) == params


# ---- block formulas ------------------------------------------------------------------------


def test_depthwise_separable_cost_formula():
    """params and multiply-adds of SepConv = C_in*k*k + C_in*C_out (per position); ratio 1/C_out + 1/k^2."""
    c_in, c_out, k, h = 32, 64, 3, 16
    sep = SeparableConv2d(c_in, c_out, k)
    full = nn.Conv2d(c_in, c_out, k, padding=1, bias=False)
    assert sep.depthwise.groups == c_in
    assert n_params(sep) == c_in * k * k + c_in * c_out
    assert count_mult_adds(sep, (c_in, h, h)) == h * h * (c_in * k * k + c_in * c_out)
    assert count_mult_adds(full, (c_in, h, h)) == h * h * c_in * c_out * k * k
    ratio = count_mult_adds(sep, (c_in, h, h)) / count_mult_adds(full, (c_in, h, h))
    assert ratio == pytest.approx(1 / c_out + 1 / k**2)


def test_separable_conv_equals_depthwise_then_pointwise():
    sep = SeparableConv2d(8, 16, 3)
    x = torch.randn(1, 8, 10, 10)
    depthwise = torch.cat(
        [nn.functional.conv2d(x[:, i : i + 1], sep.depthwise.weight[i : i + 1], padding=1) for i in range(8)], 1
    )
    # a grouped convolution and 8 single-channel ones may sum in other orders: the 3 * 3 + 8 terms of both layers
    expected = nn.functional.conv2d(depthwise, sep.pointwise.weight)
    assert_close_up_to_rounding(
        sep(x), expected, terms=accumulated_terms(sep), what="separable conv and depthwise then pointwise"
    )


def test_xception_has_36_conv_layers_and_the_papers_flows():
    """Paper Sec. 3: 36 convolutional layers (2 plain + 34 separable), entry 3 blocks, middle 8, exit 1."""
    model = build_on_meta("xception")
    seps = [m for m in model.modules() if isinstance(m, SeparableConv2d)]
    assert len(model.stem) + len(seps) == 36
    assert [len(f) for f in (model.entry_flow, model.middle_flow)] == [3, 8]
    assert all(isinstance(b.shortcut, nn.Identity) for b in model.middle_flow)
    assert not any(isinstance(b.shortcut, nn.Identity) for b in model.entry_flow)
    assert isinstance(model.exit_flow[0], XceptionBlock) and model.exit_flow[0].body[-1].stride == 2


def test_fire_module_parameter_formula_and_output():
    cin, s, e1, e3 = 96, 16, 64, 64
    fire = Fire(cin, squeeze_channels=s, expand1x1_channels=e1, expand3x3_channels=e3)
    assert n_params(fire) == s * (cin + 1) + e1 * (s + 1) + e3 * (9 * s + 1)
    assert fire(torch.randn(1, cin, 9, 9)).shape == (1, e1 + e3, 9, 9)


def test_densenet121_has_121_layers_and_grows_by_k():
    """1 stem conv + 2 convs x (6+12+24+16) dense layers + 3 transitions + 1 linear = 121."""
    model = build_on_meta("densenet121")
    convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    assert convs + 1 == 121
    blocks = [m for m in model.modules() if isinstance(m, DenseBlock)]
    layers = [len(b) for b in blocks]
    assert layers == [6, 12, 24, 16]
    c = 64
    for block, n in zip(blocks, layers):
        assert [layer.conv1.in_channels for layer in block.values()] == [c + i * 32 for i in range(n)]
        assert block.out_channels == c + n * 32
        c = block.out_channels // 2  # transition with compression 0.5
    transitions = [m for m in model.modules() if isinstance(m, Transition)]
    assert [t.conv.out_channels for t in transitions] == [128, 256, 512]


def test_dense_block_output_concatenates_its_input():
    block = DenseBlock(5, num_layers=3, growth_rate=4).eval()
    x = torch.randn(1, 5, 6, 6)
    out = block(x)
    assert out.shape == (1, 5 + 3 * 4, 6, 6)
    assert torch.equal(out[:, :5], x)  # the input itself is passed on unchanged


def test_squeezenext_block_channels_and_residual():
    block = SqueezeNextBlock(64, 64).eval()
    # C -> C/2 -> C/4 -> C/2 (3x1) -> C/2 (1x3) -> C
    convs = [getattr(block, f"conv{i}")[0] for i in range(1, 6)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(64, 32), (32, 16), (16, 32), (32, 32), (32, 64)]
    assert [c.kernel_size for c in convs] == [(1, 1), (1, 1), (3, 1), (1, 3), (1, 1)]
    # 3x1 + 1x3 = 6 weights per channel pair instead of 9
    assert convs[2].weight[0, 0].numel() + convs[3].weight[0, 0].numel() == 6
    # silence the residual branch: the block is relu(identity)
    nn.init.zeros_(block.conv5[1].weight)
    nn.init.zeros_(block.conv5[1].bias)
    x = torch.randn(1, 64, 5, 5)
    assert torch.equal(block(x), torch.relu(x))  # exact: the zeroed BN makes the branch exactly 0, and x + 0 is x
    assert SqueezeNextBlock(64, 32).conv1[0].out_channels == 16  # narrowing block squeezes to C/4
    assert SqueezeNextBlock(32, 64, stride=2).conv1[0].out_channels == 32  # downsampling block: no squeeze


# ---- smallest inputs ----------------------------------------------------------------------

# One pixel less is refused with a clear error (test_inputs.py); this size itself must run.
MIN_SIZES = {
    "densenet121": 29,
    "densenet_bc100": 4,
    "xception": 7,
    "squeezenet1_0": 21,
    "squeezenet1_1": 17,
    "squeezenet_cifar": 8,
    "sqnxt23_1x": 7,
}


@pytest.mark.parametrize("name, size", MIN_SIZES.items())
def test_the_smallest_accepted_input_runs(name, size):
    model = cnnlib.get_model(name, num_classes=3).eval()
    assert model.min_size == size
    with torch.no_grad():
        assert model(torch.zeros(1, 3, size, size)).shape == (1, 3)


def test_registry_lists_both_scales_of_every_family():
    for family in ("densenet", "xception", "squeezenet", "squeezenext"):
        assert cnnlib.list_models(family=family, scale="imagenet"), family
        assert cnnlib.list_models(family=family, scale="cifar"), family
