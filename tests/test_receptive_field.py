"""The receptive-field calculator against hand-derived values and against a gradient measurement."""

import pytest
import torch
import torch.nn as nn

import cnnlib
from cnnlib import build_on_meta
from cnnlib.analysis.receptive_field import (
    LayerSpec,
    best_single_conv,
    compose_convolutions,
    compose_kernels,
    empirical_receptive_field,
    layer_specs,
    receptive_field,
    stack,
)
from cnnlib.testing import assert_close_up_to_rounding


def sizes(layers):
    return [r.size for r in receptive_field(layers)]


def test_stacked_3x3_equals_one_5x5_and_one_7x7():
    assert sizes(stack(3, 3)) == [3, 5, 7]
    assert sizes(stack(5, 1)) == [5] and sizes(stack(7, 1)) == [7]
    assert sizes(stack(3, 5)) == [3, 5, 7, 9, 11]  # n layers of 3x3: 2n + 1


def test_strides_multiply_the_jump():
    # AlexNet's first layers by hand: conv 11/4 -> 11, jump 4; pool 3/2 -> 11 + 2*4 = 19, jump 8;
    # conv 5/1 -> 19 + 4*8 = 51
    rows = receptive_field([LayerSpec(11, 4, 2), LayerSpec(3, 2), LayerSpec(5, 1, 2)])
    assert [(r.size, r.jump) for r in rows] == [(11, 4), (19, 8), (51, 8)]


def test_start_follows_padding():
    # "same" 3x3 conv keeps the first unit centred on pixel 0; a valid 3x3 conv moves it to pixel 1; a 2x2 pool to 0.5
    assert receptive_field([LayerSpec(3, 1, 1)])[0].start == 0.0
    assert receptive_field([LayerSpec(3, 1, 0)])[0].start == 1.0
    assert receptive_field([LayerSpec(2, 2, 0)])[0].start == 0.5


def test_dilation_enlarges_the_kernel():
    assert sizes([LayerSpec(3, dilation=2)]) == [5]
    assert sizes([LayerSpec(3), LayerSpec(3, dilation=2), LayerSpec(3, dilation=4)]) == [3, 7, 15]


def test_vgg16_published_receptive_fields():
    # Hand-derived (and widely tabulated): conv1_2 5, pool1 6, conv2_2 14, conv3_3 40, conv4_3 92, conv5_3 196,
    # pool5 212
    rows = {r.name: r for r in receptive_field(layer_specs(build_on_meta("vgg16")))}
    assert [
        rows[n].size
        for n in ("features.2", "features.4", "features.7", "features.14", "features.21", "features.28", "features.30")
    ] == [5, 6, 14, 40, 92, 196, 212]
    assert rows["features.30"].jump == 32


def test_layer_specs_reads_models_and_stops_at_the_head():
    specs = layer_specs(build_on_meta("vgg11_lrn"))  # LRN is element-wise: skipped
    assert len(specs) == 8 + 5 and specs[0].kind == "conv" and specs[-1].kind == "pool"
    assert sizes(layer_specs(build_on_meta("alexnet")))[-1] == 195


def test_unknown_layers_and_bad_values_are_refused():
    with pytest.raises(ValueError, match="unknown effect"):
        layer_specs(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Upsample(scale_factor=2), nn.Conv2d(1, 1, 3)))
    with pytest.raises(ValueError, match="no Conv2d"):
        layer_specs(nn.Sequential(nn.Linear(3, 3)))
    with pytest.raises(ValueError, match="square"):
        layer_specs(nn.Sequential(nn.Conv2d(1, 1, (1, 3))))
    with pytest.raises(ValueError, match="kernel"):
        LayerSpec(0)
    with pytest.raises(TypeError):
        receptive_field([(3, 1)])


@pytest.mark.parametrize(
    "net",
    [
        nn.Sequential(
            nn.Conv2d(1, 2, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(2, 2, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(2, 2, 3, padding=1),
        ),
        nn.Sequential(
            nn.Conv2d(1, 2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2, 2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2, 2, 5, padding=2),
        ),
        nn.Sequential(
            nn.Conv2d(1, 2, 5, stride=2), nn.ReLU(), nn.AvgPool2d(3, stride=2), nn.Conv2d(2, 2, 3, dilation=2)
        ),
    ],
)
def test_formula_agrees_with_the_gradient_measurement(net):
    expected = receptive_field(net)[-1].size
    assert empirical_receptive_field(net, (1, 64, 64)) == (expected, expected)


def test_gradient_measurement_on_a_vgg_stage_and_its_guards():
    model = cnnlib.get_model("vgg11_bn_cifar", width=0.25)
    first_three_stages = model.features[:15]  # conv-bn-relu-pool, conv-bn-relu-pool, 2 x conv-bn-relu, pool
    before = [p.clone() for p in model.parameters()]
    assert (
        empirical_receptive_field(first_three_stages, (3, 64, 64))
        == (30, 30)
        == (receptive_field(first_three_stages)[-1].size,) * 2
    )
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the caller's model is untouched
    with pytest.raises(ValueError, match="border"):
        empirical_receptive_field(first_three_stages, (3, 24, 24))
    with pytest.raises(ValueError, match="feature maps"):
        empirical_receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Flatten()), (1, 16, 16))


def test_residual_shortcuts_are_not_chained_into_the_main_path():
    # ResNet-18 by hand: conv1 7/2 -> 7; maxpool 3/2 -> 11; layer1 4 x 3x3 at jump 4 -> 43; layer2 stride 2 -> 51,
    # + 3 x 3x3 at jump 8 -> 99; layer3 -> 115, 211; layer4 -> 243, 435 (jump 32).
    # A chained 1x1/2 shortcut would double the jump.
    rows = receptive_field(build_on_meta("resnet18"))
    assert (rows[-1].size, rows[-1].jump) == (435, 32)
    assert not any("downsample" in r.name for r in rows)


def test_composed_kernels_by_hand():
    # 1-channel 1-D-like case: [1, 2] then [1, -1] (cross-correlations) is the full convolution [1, 1, -2]
    w1 = torch.tensor([1.0, 2.0]).reshape(1, 1, 1, 2)
    w2 = torch.tensor([1.0, -1.0]).reshape(1, 1, 1, 2)
    w, b = compose_kernels([w1, w2], [torch.tensor([3.0]), torch.tensor([0.5])])
    assert w.flatten().tolist() == [1.0, 1.0, -2.0]
    assert b.tolist() == [0.5 + (1.0 - 1.0) * 3.0]
    x = torch.randn(1, 1, 1, 9)
    two = torch.nn.functional.conv2d(torch.nn.functional.conv2d(x, w1, torch.tensor([3.0])), w2, torch.tensor([0.5]))
    assert_close_up_to_rounding(
        torch.nn.functional.conv2d(x, w, b), two, terms=3, what="composed 1x3 kernel and the two 1x2 ones"
    )


@pytest.mark.parametrize("bias", [True, False])
def test_three_3x3_convolutions_are_one_7x7_without_relus(bias):
    torch.manual_seed(0)
    convs = [nn.Conv2d(3, 5, 3, bias=bias), nn.Conv2d(5, 4, 3, bias=bias), nn.Conv2d(4, 6, 3, bias=bias)]
    single = compose_convolutions(convs)
    assert single.kernel_size == (7, 7) and (single.in_channels, single.out_channels) == (3, 6)
    x = torch.randn(2, 3, 20, 20)
    with torch.no_grad():
        # the composed kernel is rounded, and the routes sum in other orders: rounding of the 7x7's 3 * 7 * 7 terms
        assert_close_up_to_rounding(
            single(x), nn.Sequential(*convs)(x), terms=3 * 7 * 7, what="three 3x3 convolutions and the composed 7x7"
        )
        relu_stack = nn.Sequential(convs[0], nn.ReLU(), convs[1], nn.ReLU(), convs[2])
        # the ReLUs change outputs by ~0.5 (their size), atol 1e-2 is far above rounding
        assert not torch.allclose(relu_stack(x), single(x), atol=1e-2)


def test_padded_stack_matches_the_single_layer_away_from_the_border():
    torch.manual_seed(1)
    convs = [nn.Conv2d(2, 2, 3, padding=1) for _ in range(3)]  # VGG's "same" padding
    single = compose_convolutions(convs)
    assert single.padding == (3, 3)
    x = torch.randn(1, 2, 16, 16)
    with torch.no_grad():
        a, b = nn.Sequential(*convs)(x), single(x)
    assert a.shape == b.shape
    # interior: equal up to rounding of the 7x7's 2 * 7 * 7 terms
    assert_close_up_to_rounding(
        b[..., 3:-3, 3:-3], a[..., 3:-3, 3:-3], terms=2 * 7 * 7, what="interior of the padded stack and the 7x7"
    )
    # border: the stack read zeros between its layers; differences ~0.2 (outputs ~0.6), atol 1e-3 is far above rounding
    assert not torch.allclose(a, b, atol=1e-3)


def test_compose_refuses_what_does_not_compose():
    with pytest.raises(ValueError, match="stride-1"):
        compose_convolutions([nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3)])
    with pytest.raises(TypeError):
        compose_convolutions([nn.Conv2d(1, 1, 3), nn.ReLU()])
    with pytest.raises(ValueError, match="channels"):
        compose_kernels([torch.zeros(2, 1, 3, 3), torch.zeros(1, 3, 3, 3)])


def test_best_single_conv_recovers_a_linear_stack_but_not_a_relu_stack():
    torch.manual_seed(0)
    convs = [nn.Conv2d(4, 4, 3) for _ in range(3)]
    x = torch.randn(8, 4, 16, 16)
    fitted, unexplained = best_single_conv(nn.Sequential(*convs), 7, x)
    assert unexplained < 1e-8  # a relative figure: float32 rounding of the outputs leaves ~1e-14
    # the float64 fit to the stack's float32 outputs recovers the composed kernel up to those outputs' rounding
    # (800 random rows: the least squares hardly amplify it); terms = the 7x7 kernel's 4 * 7 * 7 products
    assert_close_up_to_rounding(
        fitted.weight, compose_convolutions(convs).weight, terms=4 * 7 * 7, what="fitted and composed 7x7 kernel"
    )
    _, unexplained_relu = best_single_conv(nn.Sequential(convs[0], nn.ReLU(), convs[1], nn.ReLU(), convs[2]), 7, x)
    assert unexplained_relu > 0.05
    with pytest.raises(ValueError, match="valid 5x5"):
        best_single_conv(nn.Sequential(*convs), 5, x)


# Chapter 04: two convolutions with nothing between them are one (factorised kernels), with or without bias.


@pytest.mark.parametrize("k1, k2, bias", [(3, 3, True), ((1, 7), (7, 1), False), ((1, 3), (3, 1), True), (1, 5, True)])
def test_compose_two_convolutions_equals_the_stack(k1, k2, bias):
    torch.manual_seed(0)
    a, b = nn.Conv2d(4, 3, k1, bias=bias), nn.Conv2d(3, 5, k2, bias=bias)
    single = compose_convolutions([a, b])
    x = torch.randn(2, 4, 15, 15)
    k1, k2 = nn.modules.utils._pair(k1), nn.modules.utils._pair(k2)
    with (
        torch.no_grad()
    ):  # the composed kernel is rounded, and the routes sum in other orders: the single conv's fan-in
        terms = 4 * (k1[0] + k2[0] - 1) * (k1[1] + k2[1] - 1)
        assert_close_up_to_rounding(single(x), b(a(x)), terms=terms, what="composed convolution and the stack of two")
    assert single.kernel_size == (k1[0] + k2[0] - 1, k1[1] + k2[1] - 1)


def test_a_1xn_then_nx1_conv_is_a_rank_1_kernel_and_errors_are_clear():
    a, b = nn.Conv2d(1, 1, (1, 7), bias=False), nn.Conv2d(1, 1, (7, 1), bias=False)
    assert torch.linalg.matrix_rank(compose_convolutions([a, b]).weight.detach()[0, 0]) == 1
    with pytest.raises(ValueError, match="stride-1"):
        compose_convolutions([nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3)])
    with pytest.raises(ValueError, match="kernel 1 takes 3 channels, but kernel 0 gives 2"):
        compose_convolutions([nn.Conv2d(1, 2, 3), nn.Conv2d(3, 1, 3)])
    with pytest.raises(TypeError):
        compose_convolutions([nn.Linear(1, 1), nn.Conv2d(1, 1, 3)])
