"""cnnlib.interpret on models small enough to compute every map by hand; the model, input and gradients left as they
were, also when a method fails; clear errors for bad input. The agreement with captum and pytorch-grad-cam on
registry models is in test_interpret_crosscheck.py."""

from __future__ import annotations

import math
from collections import OrderedDict

import pytest
import scipy.stats
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules import module as torch_module

from cnnlib import get_model
from cnnlib.analysis.metrics import spearman
from cnnlib.analysis.receptive_field import receptive_field
from cnnlib.interpret import (
    CAM,
    AttributionError,
    ClassModel,
    Deconvnet,
    GradCAM,
    GuidedBackprop,
    IntegratedGradients,
    Occlusion,
    Saliency,
    SmoothGrad,
    area_under_curve,
    cascading_randomization,
    default_layer,
    deletion_curve,
    effective_receptive_field,
    field_extent,
    theoretical_receptive_field,
)

# --------------------------------------------------------------------------- small models with known answers


def linear_model(weight: torch.Tensor, bias: torch.Tensor, shape=(2, 3, 3)) -> nn.Module:
    """``Flatten -> Linear``: the score of class c is ``w_c . x + b_c``, so its gradient is the row ``w_c``."""
    fc = nn.Linear(math.prod(shape), len(weight))
    with torch.no_grad():
        fc.weight.copy_(weight)
        fc.bias.copy_(bias)
    return nn.Sequential(nn.Flatten(), fc).eval()


def dyadic(*shape: int, seed: int = 0) -> torch.Tensor:
    """Random multiples of 1/8 in [-2, 2]: sums and products of a few of them are exact in float32."""
    return torch.randint(-16, 17, shape, generator=torch.Generator().manual_seed(seed)).float() / 8


@pytest.fixture
def linear():
    shape = (2, 3, 3)
    weight, bias = dyadic(4, 18, seed=1), dyadic(4, seed=2)
    x = dyadic(3, *shape, seed=3)
    return linear_model(weight, bias, shape), weight.view(4, *shape), bias, x


class SumOfPixels(nn.Module):
    """Class 0 scores the sum of every pixel of every channel, class 1 its negative."""

    def forward(self, x):
        s = x.sum((1, 2, 3))
        return torch.stack([s, -s], 1)


class Bomb(nn.Module):
    """Passes its input on; raises on its ``at``-th call (0: never) - a model that fails mid-way."""

    def __init__(self, at: int = 0):
        super().__init__()
        self.at, self.calls = at, 0

    def forward(self, x):
        self.calls += 1
        if self.calls == self.at:
            raise RuntimeError("boom: the model failed in the middle of its forward pass")
        return x


def small_cnn(bomb_at: int = 0) -> nn.Module:
    """conv-BN-ReLU, (bomb), conv-ReLU(inplace), global average pooling, linear: every method applies to it."""
    torch.manual_seed(0)
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(3, 4, 3, padding=1),
            bn1=nn.BatchNorm2d(4),
            relu1=nn.ReLU(),
            bomb=Bomb(bomb_at),
            conv2=nn.Conv2d(4, 5, 3, padding=1),
            relu2=nn.ReLU(inplace=True),
            pool=nn.AdaptiveAvgPool2d(1),
            flat=nn.Flatten(),
            fc=nn.Linear(5, 3),
        )
    )


# --------------------------------------------------------------------------- gradients


def test_saliency_of_a_linear_model_is_the_weight_row(linear):
    model, w, _, x = linear
    target = torch.tensor([0, 3, 1])
    assert torch.equal(Saliency(model).attribute_channels(x, target), w[target])
    assert torch.equal(Saliency(model).attribute(x, target), w[target].abs().amax(1))
    assert torch.equal(Saliency(model).attribute(x, 2), w[[2, 2, 2]].abs().amax(1))  # one int for the whole batch


def test_smoothgrad_of_a_linear_model_equals_the_gradient_exactly(linear):
    model, _, _, x = linear
    target = torch.tensor([0, 3, 1])
    smooth = SmoothGrad(model, samples=5, noise=0.5, batch_size=2)  # noise is irrelevant: the gradient is constant
    assert torch.equal(smooth.attribute_channels(x, target), Saliency(model).attribute_channels(x, target))
    assert torch.equal(smooth.attribute(x, target), Saliency(model).attribute(x, target))


def test_smoothgrad_is_reproducible_and_averages_noisy_gradients():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 2)).eval()
    x = torch.randn(2, 3, 2, 2)
    a = SmoothGrad(model, samples=6, seed=1).attribute_channels(x, 0)
    assert torch.equal(a, SmoothGrad(model, samples=6, seed=1).attribute_channels(x, 0))
    # the same noise in other chunks: equal up to the order of the float32 sums
    torch.testing.assert_close(a, SmoothGrad(model, samples=6, seed=1, batch_size=4).attribute_channels(x, 0))
    assert not torch.equal(a, SmoothGrad(model, samples=6, seed=2).attribute_channels(x, 0))
    torch.testing.assert_close(SmoothGrad(model, samples=3, noise=0.0).attribute_channels(x, 0),
                               Saliency(model).attribute_channels(x, 0))  # fmt: skip


def test_integrated_gradients_of_a_linear_model_is_input_minus_baseline_times_weight(linear):
    model, w, b, x = linear
    target = torch.tensor([2, 0, 1])
    ig = IntegratedGradients(model, steps=4, batch_size=3)
    assert torch.equal(ig.attribute_channels(x, target), x * w[target])
    assert torch.equal(ig.attribute(x, target), (x * w[target]).sum(1))
    baseline = dyadic(*x.shape[1:], seed=9)
    ig = IntegratedGradients(model, baseline=baseline, steps=3)
    assert torch.equal(ig.attribute_channels(x, target), (x - baseline) * w[target])
    # completeness: the attributions add up to y(x) - y(baseline)
    torch.testing.assert_close(ig.delta(x, target), torch.zeros(3), atol=1e-5, rtol=0)
    assert torch.equal(IntegratedGradients(model, baseline=0.5, steps=2).attribute_channels(x, target),
                       (x - 0.5) * w[target])  # fmt: skip


def test_integrated_gradients_completeness_error_shrinks_with_steps():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 3)).eval()
    x = torch.randn(2, 3, 2, 2) * 3
    coarse = IntegratedGradients(model, steps=2).delta(x, 1).abs().max()
    fine = IntegratedGradients(model, steps=64).delta(x, 1).abs().max()
    assert fine < coarse / 10 and fine < 1e-3


# --------------------------------------------------------------------------- guided backpropagation and DeconvNet


def mlp(hidden_act: nn.Module) -> nn.Module:
    """x (1 x 1 x 1 x 2) -> Linear(2, 3) -> act -> Linear(3, 2), no biases, weights below."""
    first, second = nn.Linear(2, 3, bias=False), nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0, -1.0], [2.0, 1.0], [1.0, 1.0]]))
        second.weight.copy_(torch.tensor([[3.0, -1.0, 2.0], [-1.0, 1.0, -2.0]]))
    return nn.Sequential(nn.Flatten(), first, hidden_act, second).eval()


def test_gradient_guided_backprop_and_deconvnet_differ_as_computed_by_hand():
    # x = (1, 2): pre-activations W1 x = (-1, 4, 3), so the ReLU mask is (0, 1, 1). For class 0 the signal arriving
    # at the ReLU is g = W2[0] = (3, -1, 2), and each rule sends down, through W1^T:
    #   gradient  g * mask        = (0, -1, 2) -> (-1*2 + 2*1, -1*1 + 2*1) = (0, 1)
    #   DeconvNet max(g, 0)       = (3,  0, 2) -> (3*1 + 2*1, 3*-1 + 2*1) = (5, -1)
    #   guided    max(g, 0) * mask = (0,  0, 2) -> (2, 2)
    # For class 1, g = (-1, 1, -2): gradient (0, 1, -2) -> (0, -1); DeconvNet (0, 1, 0) -> (2, 1); guided the same.
    model = mlp(nn.ReLU())
    x = torch.tensor([1.0, 2.0]).view(1, 1, 1, 2).expand(2, -1, -1, -1)
    target = [0, 1]
    expect = {
        Saliency: [[0.0, 1.0], [0.0, -1.0]],
        Deconvnet: [[5.0, -1.0], [2.0, 1.0]],
        GuidedBackprop: [[2.0, 2.0], [2.0, 1.0]],
    }
    for method, values in expect.items():
        want = torch.tensor(values).view(2, 1, 1, 2)
        assert torch.equal(method(model).attribute_channels(x, target), want), method.__name__
        assert torch.equal(method(model).attribute(x, target), want.abs()[:, 0]), method.__name__


def test_relu6_blocks_the_guided_signal_above_six():
    # x = (3, 2): pre-activations (1, 8, 5); ReLU6 passes gradient only where 0 < pre < 6: mask (1, 0, 1).
    # Class 0, g = (3, -1, 2): gradient (3, 0, 2) -> (5, -1); guided max(g, 0) * mask = (3, 0, 2) -> (5, -1);
    # DeconvNet ignores the mask: (3, 0, 2) -> (5, -1) too. Class 1, g = (-1, 1, -2): gradient (-1, 0, -2) -> (-3, -1);
    # guided (0, 0, 0) -> (0, 0); DeconvNet (0, 1, 0) -> (2, 1).
    model = mlp(nn.ReLU6())
    x = torch.tensor([3.0, 2.0]).view(1, 1, 1, 2)
    assert Saliency(model).attribute_channels(x, 1).flatten().tolist() == [-3.0, -1.0]
    assert GuidedBackprop(model).attribute_channels(x, 1).flatten().tolist() == [0.0, 0.0]
    assert Deconvnet(model).attribute_channels(x, 1).flatten().tolist() == [2.0, 1.0]
    assert GuidedBackprop(model).attribute_channels(x, 0).flatten().tolist() == [5.0, -1.0]


def test_a_model_without_relu_modules_gets_the_gradient_and_a_warning():
    model = mlp(nn.Tanh())
    x = torch.tensor([0.3, -0.2]).view(1, 1, 1, 2)
    for method in (GuidedBackprop, Deconvnet):
        with pytest.warns(UserWarning, match="no nn.ReLU"):
            got = method(model).attribute_channels(x, 0)
        assert torch.equal(got, Saliency(model).attribute_channels(x, 0))


# --------------------------------------------------------------------------- occlusion


def test_occlusion_of_a_sum_of_pixels_drops_by_the_covered_pixels():
    x = torch.arange(25.0).view(1, 1, 5, 5)
    # window 2, stride 2: windows at 0 and 2 on each axis; row 4 and column 4 are never covered -> 0
    assert Occlusion(SumOfPixels(), window=2, stride=2).grid(x, 0).tolist() == [[[12.0, 20.0], [52.0, 60.0]]]
    # fill 1: each window's drop is the sum of its 4 pixels minus the 4 ones painted in
    assert Occlusion(SumOfPixels(), window=2, stride=2, fill=1.0).grid(x, 0).tolist() == [[[8.0, 16.0], [48.0, 56.0]]]
    assert Occlusion(SumOfPixels(), window=2, stride=2).grid(x, 1).tolist() == [[[-12.0, -20.0], [-52.0, -60.0]]]
    per_pixel = Occlusion(SumOfPixels(), window=2, stride=2).attribute(x, 0)
    assert per_pixel.tolist() == [
        [
            [12.0, 12.0, 20.0, 20.0, 0.0],
            [12.0, 12.0, 20.0, 20.0, 0.0],
            [52.0, 52.0, 60.0, 60.0, 0.0],
            [52.0, 52.0, 60.0, 60.0, 0.0],
            [0.0, 0.0, 0.0, 0.0, 0.0],
        ]
    ]


def test_occlusion_averages_overlapping_windows_per_pixel():
    # window 3, stride 2 on 5x5: windows at (0, 0), (0, 2), (2, 0), (2, 2) with sums 54, 72, 144, 162
    x = torch.arange(25.0).view(1, 1, 5, 5)
    occ = Occlusion(SumOfPixels(), window=3, stride=2)
    assert occ.grid(x, 0).tolist() == [[[54.0, 72.0], [144.0, 162.0]]]
    m = occ.attribute(x, 0)[0]
    assert m[0, 0] == 54 and m[0, 2] == (54 + 72) / 2 and m[2, 2] == (54 + 72 + 144 + 162) / 4 and m[4, 4] == 162
    assert m[2, 0] == (54 + 144) / 2 and m[4, 2] == (144 + 162) / 2


def test_occlusion_covers_all_channels_and_batches_any_way():
    x = torch.arange(2 * 2 * 4 * 4, dtype=torch.float32).view(2, 2, 4, 4)
    full = Occlusion(SumOfPixels(), window=2, stride=1, fill=0.5).attribute_channels(x, [0, 1])
    chunked = Occlusion(SumOfPixels(), window=2, stride=1, fill=0.5, batch_size=2).attribute_channels(x, [0, 1])
    assert torch.equal(full, chunked)
    assert torch.equal(full[:, 0], full[:, 1])  # both channels of a pixel are covered together
    # window at (0, 0) of image 0: both channels' 2x2 pixels minus 8 times the fill
    grid = Occlusion(SumOfPixels(), window=2, stride=1, fill=0.5).grid(x, [0, 1])
    assert grid[0, 0, 0] == (0 + 1 + 4 + 5) + (16 + 17 + 20 + 21) - 8 * 0.5
    assert grid[1, 0, 0] == -((32 + 33 + 36 + 37) + (48 + 49 + 52 + 53) - 8 * 0.5)  # class 1: the negative sum


def test_occlusion_probability_score_is_the_softmax_drop():
    x = torch.full((1, 1, 2, 2), 0.25)
    # covering everything (window 2) with 0: the logits go from (1, -1) to (0, 0)
    drop = Occlusion(SumOfPixels(), window=2, stride=1, score="probability").grid(x, 0)
    assert drop.item() == pytest.approx(torch.sigmoid(torch.tensor(2.0)).item() - 0.5, abs=1e-6)


def test_occlusion_keeps_the_input_precision():
    x = torch.arange(16, dtype=torch.float64).view(1, 1, 4, 4) / 3
    maps = Occlusion(SumOfPixels(), window=2, stride=2).attribute(x, 0)
    assert maps.dtype == torch.float64
    assert maps[0, 0, 0].item() == pytest.approx((0 + 1 + 4 + 5) / 3, rel=1e-15)


# --------------------------------------------------------------------------- CAM and Grad-CAM


def one_conv_gap_linear(conv: nn.Conv2d, fc: nn.Linear, inplace: bool = False) -> nn.Module:
    return nn.Sequential(
        OrderedDict(conv=conv, relu=nn.ReLU(inplace=inplace), pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), fc=fc)
    ).eval()


def test_cam_and_grad_cam_by_hand_on_a_1x1_conv():
    # conv 1x1 with two filters (+1, -1): A_0 = relu(x), A_1 = relu(-x); x = [[1, 2], [3, -4]]
    conv, fc = nn.Conv2d(1, 2, 1, bias=False), nn.Linear(2, 2)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
        fc.weight.copy_(torch.tensor([[2.0, -1.0], [0.5, 1.0]]))
        fc.bias.copy_(torch.tensor([0.25, -0.5]))
    model = one_conv_gap_linear(conv, fc)
    x = torch.tensor([[1.0, 2.0], [3.0, -4.0]]).view(1, 1, 2, 2)
    # class 0: 2 A_0 - A_1 = [[2, 4], [6, -4]]; class 1: 0.5 A_0 + A_1 = [[0.5, 1], [1.5, 4]]
    assert CAM(model, layer="relu").attribute(x, 0).tolist() == [[[2.0, 4.0], [6.0, -4.0]]]
    assert CAM(model, layer="relu").attribute(x, 1).tolist() == [[[0.5, 1.0], [1.5, 4.0]]]
    # Grad-CAM: alpha = w / (h w) = w / 4, map = ReLU(CAM) / 4
    assert GradCAM(model, layer="relu").attribute(x, 0).tolist() == [[[0.5, 1.0], [1.5, 0.0]]]
    assert GradCAM(model, layer=model.relu).attribute(x, 1).tolist() == [[[0.125, 0.25], [0.375, 1.0]]]


def test_grad_cam_is_relu_of_cam_over_hw_and_both_upsample_bilinearly():
    torch.manual_seed(0)
    model = one_conv_gap_linear(nn.Conv2d(2, 6, 3, stride=2, padding=1), nn.Linear(6, 4))
    x = torch.randn(3, 2, 12, 12)
    target = torch.tensor([0, 3, 1])
    cam = CAM(model, layer="relu", upsample=False).attribute(x, target)
    A = F.relu(F.conv2d(x, model.conv.weight, model.conv.bias, stride=2, padding=1)).detach()  # 3 x 6 x 6 x 6
    torch.testing.assert_close(cam, torch.einsum("nk,nkhw->nhw", model.fc.weight[target].detach(), A))
    grad_cam = GradCAM(model, layer="relu", upsample=False).attribute(x, target)
    torch.testing.assert_close(grad_cam, F.relu(cam) / 36)
    up = GradCAM(model, layer="relu").attribute(x, target)
    assert up.shape == (3, 12, 12)
    torch.testing.assert_close(up, F.interpolate(grad_cam[:, None], size=(12, 12), mode="bilinear")[:, 0])
    torch.testing.assert_close(CAM(model, layer="relu").attribute(x, target),
                               F.interpolate(cam[:, None], size=(12, 12), mode="bilinear")[:, 0])  # fmt: skip


def test_grad_cam_at_a_layer_followed_by_an_inplace_relu_reads_the_layers_own_output():
    # the conv's output is overwritten by the in-place ReLU after it: Grad-CAM must still use the conv's values
    torch.manual_seed(0)
    model = one_conv_gap_linear(nn.Conv2d(2, 6, 3, padding=1), nn.Linear(6, 4), inplace=True)
    x = torch.randn(2, 2, 5, 5)
    A = F.conv2d(x, model.conv.weight, model.conv.bias, padding=1).detach()  # has negative values
    grad = model.fc.weight[[1, 2]].detach()[:, :, None, None] * (A > 0) / 25  # d score / d A
    want = F.relu((grad.mean((2, 3), keepdim=True) * A).sum(1))
    got = GradCAM(model, layer="conv", upsample=False).attribute(x, [1, 2])
    torch.testing.assert_close(got, want)


def test_grad_cam_default_layer_comes_from_the_registry():
    model = get_model("resnet20")
    assert default_layer(model) == "layer3" and GradCAM(model).layer_name == "layer3"
    assert CAM(get_model("mobilenet_v2")).layer_name == "features.18"


# --------------------------------------------------------------------------- the model, the input and .grad untouched


def hooks_left(model: nn.Module) -> list[str]:
    """Every hook or instance ``forward`` on any module of ``model``, and any global module hook."""
    left = []
    for name, m in model.named_modules():
        for kind in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            if getattr(m, kind, None):
                left.append(f"{name or 'model'}.{kind}")
        if "forward" in m.__dict__:
            left.append(f"{name or 'model'}.forward (instance attribute)")
    for kind in ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                 "_global_backward_pre_hooks"):  # fmt: skip
        if getattr(torch_module, kind, None):
            left.append(kind)
    return left


def state(model: nn.Module):
    return (
        model.training,
        [(n, m.training) for n, m in model.named_modules()],
        [(n, p.requires_grad) for n, p in model.named_parameters()],
        {k: v.clone() for k, v in model.state_dict().items()},
    )


def assert_untouched(model: nn.Module, before, x: torch.Tensor, x_before: torch.Tensor, x_requires_grad: bool):
    after = state(model)
    assert after[0] == before[0], "model.training changed"
    assert after[1] == before[1], "a submodule's training flag changed"
    assert after[2] == before[2], "a parameter's requires_grad changed"
    assert after[3].keys() == before[3].keys() and all(torch.equal(after[3][k], before[3][k]) for k in before[3]), (
        "parameters or buffers changed (batch-norm statistics updated?)"
    )
    assert hooks_left(model) == []
    assert [n for n, p in model.named_parameters() if p.grad is not None] == [], "param.grad was created"
    assert torch.equal(x, x_before), "the input was modified"
    assert x.requires_grad == x_requires_grad and x.grad is None


# name -> (call(model, x), on which forward call of the bomb the failing model raises)
CALLS = {
    "occlusion": (lambda m, x: Occlusion(m, window=4, stride=2).attribute(x, 1), 2),
    "occlusion channels": (lambda m, x: Occlusion(m, window=4, stride=3, batch_size=5).attribute_channels(x), 2),
    "occlusion grid": (lambda m, x: Occlusion(m, window=4, stride=2, score="probability").grid(x, 1), 2),
    "gradient": (lambda m, x: Saliency(m).attribute(x, 1), 2),
    "gradient channels": (lambda m, x: Saliency(m).attribute_channels(x, [0, 2]), 2),
    "smoothgrad": (lambda m, x: SmoothGrad(m, samples=3, batch_size=2).attribute(x, 1), 2),
    "integrated gradients": (lambda m, x: IntegratedGradients(m, steps=4).attribute(x, 1), 2),
    "integrated gradients delta": (lambda m, x: IntegratedGradients(m, steps=4).delta(x, 1), 2),
    "guided backprop": (lambda m, x: GuidedBackprop(m).attribute(x, 1), 2),
    "deconvnet": (lambda m, x: Deconvnet(m).attribute_channels(x, 1), 2),
    "cam": (lambda m, x: CAM(m, layer="relu2").attribute(x, 1), 2),
    "grad-cam": (lambda m, x: GradCAM(m, layer="conv2").attribute(x, 1), 2),
    "grad-cam at a non-map layer": (lambda m, x: GradCAM(m, layer="flat").attribute(x, 1), 0),  # the hook raises
    "effective receptive field": (lambda m, x: effective_receptive_field(m, "conv2", x), 1),
    "class model": (lambda m, x: ClassModel(m, steps=2, jitter=1, blur_every=1).generate(1, (3, 8, 8)), 2),
    "deletion curve": (lambda m, x: deletion_curve(m, x, [1, 2], x[:, 0], steps=3), 1),
    "cascading randomisation": (lambda m, x: cascading_randomization(m, Saliency, x, 1, ["fc", "conv2"]), 2),
}


def trained_mode_model(bomb_at: int = 0) -> nn.Module:
    """The small CNN in training mode with one parameter frozen: both must come back as they were."""
    model = small_cnn(bomb_at).train()
    model.conv1.bias.requires_grad_(False)
    return model


@pytest.mark.parametrize("x_requires_grad", [False, True])
@pytest.mark.parametrize("name", list(CALLS))
def test_every_method_leaves_the_model_the_input_and_grads_as_they_were(name, x_requires_grad):
    call, _ = CALLS[name]
    model = trained_mode_model()
    x = torch.randn(2, 3, 8, 8).requires_grad_(x_requires_grad)
    x_before, before = x.detach().clone(), state(model)
    if name == "grad-cam at a non-map layer":
        with pytest.raises(AttributionError, match="feature map"):
            call(model, x)
    else:
        call(model, x)
    assert_untouched(model, before, x, x_before, x_requires_grad)


@pytest.mark.parametrize("name", [n for n, (_, at) in CALLS.items() if at])
def test_every_method_leaves_the_model_as_it_was_when_the_model_fails_mid_way(name):
    call, at = CALLS[name]
    model = trained_mode_model(bomb_at=at)
    x = torch.randn(2, 3, 8, 8)
    x_before, before = x.clone(), state(model)
    with pytest.raises(RuntimeError, match="boom"):
        call(model, x)
    assert model.bomb.calls == at  # it did fail where intended, with the method's hooks and patches in place
    assert_untouched(model, before, x, x_before, False)


def test_a_foreign_hook_that_raises_is_left_in_place_and_ours_are_removed():
    model = trained_mode_model()

    def bad_hook(_m, _i, _o):
        raise RuntimeError("boom from the user's hook")

    handle = model.conv2.register_forward_hook(bad_hook)
    x = torch.randn(2, 3, 8, 8)
    for method in (GradCAM(model, layer="conv2"), GuidedBackprop(model), CAM(model, layer="relu2")):
        with pytest.raises(RuntimeError, match="boom"):
            method.attribute(x, 1)
        assert list(model.conv2._forward_hooks.values()) == [bad_hook]
        handle.remove()
        assert hooks_left(model) == []
        handle = model.conv2.register_forward_hook(bad_hook)
    handle.remove()


# --------------------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def resnet20():
    torch.manual_seed(0)
    return get_model("resnet20").eval()


def test_bad_input_shapes_and_types_are_explained(resnet20):
    x = torch.randn(2, 3, 32, 32)
    for method in (Saliency(resnet20), GradCAM(resnet20), Occlusion(resnet20)):
        with pytest.raises(AttributionError, match=r"N x C x H x W.*x\[None\]"):
            method.attribute(x[0], 1)
        with pytest.raises(AttributionError, match="3-channel images"):
            method.attribute(x[:, :1], 1)
        with pytest.raises(AttributionError, match="float"):
            method.attribute((x * 50).to(torch.uint8), 1)
        with pytest.raises(AttributionError, match="tensor"):
            method.attribute(x.numpy(), 1)


def test_bad_targets_are_explained(resnet20):
    x = torch.randn(2, 3, 32, 32)
    with pytest.raises(AttributionError, match=r"\[10\] out of range.*10 classes \(0\.\.9\)"):
        Saliency(resnet20).attribute(x, 10)  # each bad class named once, not once per image
    with pytest.raises(AttributionError, match="integers"):
        Saliency(resnet20).attribute(x, 2.7)
    with pytest.raises(AttributionError, match=r"\[-1\] out of range"):
        GradCAM(resnet20).attribute(x, [3, -1])
    with pytest.raises(AttributionError, match=r"one class per image \(2\), got 3"):
        Saliency(resnet20).attribute(x, [1, 2, 3])
    with pytest.raises(AttributionError, match="out of range"):
        ClassModel(resnet20, steps=1).generate(10, (3, 32, 32))


def test_unknown_layers_are_explained_with_the_valid_ones(resnet20):
    with pytest.raises(AttributionError, match=r"no layer 'layer7'.*'layer1'.*conv_layer_names"):
        GradCAM(resnet20, layer="layer7")
    with pytest.raises(AttributionError, match=r"no layer 'layer3.9'. Close: \['layer3', 'layer3.0'"):
        CAM(resnet20, layer="layer3.9")
    with pytest.raises(AttributionError, match="no layer 'nope'"):
        effective_receptive_field(resnet20, "nope", torch.randn(1, 3, 32, 32))
    with pytest.raises(AttributionError, match="not part of"):
        GradCAM(resnet20, layer=nn.Conv2d(3, 3, 3))


@pytest.mark.parametrize("method", [Saliency, SmoothGrad, IntegratedGradients, GuidedBackprop, Deconvnet, Occlusion])
def test_methods_that_read_the_input_only_refuse_a_layer(method, resnet20):
    with pytest.raises(AttributionError, match="takes no layer"):
        method(resnet20, layer="layer3")


def test_cam_on_a_head_that_is_not_gap_and_linear_says_to_use_grad_cam():
    torch.manual_seed(0)
    vgg = get_model("vgg11_bn_cifar").eval()
    x = torch.randn(2, 3, 32, 32)
    # features.27: 512 maps of 2x2, but a max pooling (not the average) follows them
    with pytest.raises(AttributionError, match="not global average pooling.*use GradCAM"):
        CAM(vgg, layer="features.27").attribute(x, 1)
    # (at `features` itself the 1x1 maps go through an average pool and one linear layer: CAM applies there)
    assert CAM(vgg).attribute(x, 1).shape == (2, 32, 32)
    with pytest.raises(AttributionError, match="use GradCAM"):  # 32 channels, the final layer takes 64
        CAM(get_model("resnet20").eval(), layer="layer2").attribute(torch.randn(1, 3, 32, 32), 1)
    with pytest.raises(AttributionError, match="GradCAM"):
        CAM(nn.Sequential(nn.Conv2d(3, 2, 3), nn.AdaptiveAvgPool2d(1)), layer="0")


def test_a_model_outside_the_registry_has_no_default_layer():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    with pytest.raises(AttributionError, match=r"not a registry model.*layer="):
        default_layer(net)
    with pytest.raises(AttributionError, match="layer="):
        CAM(net)


def test_per_pixel_only_methods_have_no_channel_attribution(resnet20):
    with pytest.raises(AttributionError, match="use attribute"):
        GradCAM(resnet20).attribute_channels(torch.randn(1, 3, 32, 32), 1)


def test_bad_settings_are_refused(resnet20):
    with pytest.raises(AttributionError, match="must fit"):
        Occlusion(resnet20, window=40).attribute(torch.randn(1, 3, 32, 32), 1)
    with pytest.raises(AttributionError, match="score"):
        Occlusion(resnet20, score="loss")
    with pytest.raises(AttributionError):
        SmoothGrad(resnet20, samples=0)
    with pytest.raises(AttributionError):
        IntegratedGradients(resnet20, steps=0)
    with pytest.raises(AttributionError, match="baseline"):
        IntegratedGradients(resnet20, baseline=torch.zeros(3, 16, 16)).attribute(torch.randn(1, 3, 32, 32), 1)
    with pytest.raises(AttributionError, match="mean and std"):
        ClassModel(resnet20, mean=None)
    with pytest.raises(AttributionError, match="model must be an nn.Module"):
        Saliency(lambda x: x)


# --------------------------------------------------------------------------- class-model visualisation


def test_class_model_climbs_the_class_score_and_clips_to_the_image_range(resnet20):
    # no jitter here: on random weights a shifted image is another input to a strided network, so the score
    # measured at each step's random shift does not climb steadily (it does on trained networks)
    mean, std = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)
    vis = ClassModel(resnet20, steps=8, lr=0.2, jitter=0, mean=mean, std=std).generate(3, (3, 32, 32))
    assert len(vis.scores) == 8 and vis.image.shape == (1, 3, 32, 32)
    assert vis.scores[-1] > vis.scores[0] + 0.5, vis.scores
    assert 0 < vis.probability <= 1

    def pixels(image):
        return image * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1)

    fast = dict(steps=8, lr=0.5, jitter=0, blur_every=0, mean=mean, std=std)
    clipped = pixels(ClassModel(resnet20, **fast).generate(3, (3, 32, 32)).image)
    assert clipped.min() >= -1e-6 and clipped.max() <= 1 + 1e-6
    free = pixels(ClassModel(resnet20, **fast, clip=False).generate(3, (3, 32, 32)).image)
    assert free.min() < -0.01 or free.max() > 1.01  # without the clip the ascent leaves the range


def test_every_class_model_regulariser_changes_the_result(resnet20):
    base = dict(steps=4, lr=0.3, l2=1e-2, jitter=2, blur_every=2, blur_sigma=0.5, clip=True)
    reference = ClassModel(resnet20, **base).generate(1, (3, 32, 32))
    again = ClassModel(resnet20, **base).generate(1, (3, 32, 32))
    assert torch.equal(reference.image, again.image)  # deterministic for a seed
    for switch in (dict(l2=0.0), dict(jitter=0), dict(blur_every=0), dict(blur_sigma=1.0), dict(clip=False)):
        other = ClassModel(resnet20, **{**base, **switch}).generate(1, (3, 32, 32))
        assert (other.image - reference.image).abs().max() > 0.1, switch


# --------------------------------------------------------------------------- receptive fields


def test_field_extent_of_synthetic_maps():
    delta = torch.zeros(9, 9)
    delta[4, 4] = 1
    assert field_extent(delta) == 1
    block = torch.zeros(9, 9)
    block[2:7, 2:7] = 1  # 5x5 uniform: a 4x4 square holds 16/25 < 0.9, the 5x5 one all
    assert field_extent(block, 0.9) == 5 and field_extent(block, 0.6) == 4 and field_extent(block, 1.0) == 5
    assert field_extent(torch.ones(6, 6), 1.0) == 6
    with pytest.raises(AttributionError, match="mass"):
        field_extent(block, 0.0)


def three_conv_stack(relu: bool) -> nn.Module:
    torch.manual_seed(0)
    act = nn.ReLU if relu else nn.Identity
    convs = [nn.Conv2d(1 if i == 0 else 2, 2, 3, padding=1, bias=False) for i in range(3)]
    if not relu:
        for c in convs:
            nn.init.constant_(c.weight, 1.0)
    return nn.Sequential(convs[0], act(), convs[1], act(), convs[2])


def test_effective_receptive_field_of_three_box_filters_is_by_hand():
    # three all-ones 3x3 convolutions: the centre unit's gradient is the 1-D kernel [1,1,1]*[1,1,1]*[1,1,1]
    # = [1, 3, 6, 7, 6, 3, 1] along each axis (outer product), normalised to sum 1
    model = three_conv_stack(relu=False)
    erf = effective_receptive_field(model, "4", torch.randn(3, 1, 15, 15))
    k = torch.tensor([1.0, 3, 6, 7, 6, 3, 1])
    want = torch.zeros(15, 15)
    want[4:11, 4:11] = torch.outer(k, k) / 27**2
    torch.testing.assert_close(erf, want)
    assert theoretical_receptive_field(model, "4") == 7
    assert field_extent(erf, 1.0) == 7
    assert field_extent(erf, 0.8) == 5  # the 5x5 square holds (25/27)^2 = 0.857


def test_effective_receptive_field_lies_inside_the_theoretical_one():
    model = three_conv_stack(relu=True)
    erf = effective_receptive_field(model, "4", torch.randn(8, 1, 17, 17))
    assert erf.sum().item() == pytest.approx(1.0)
    inside = torch.zeros(17, 17, dtype=torch.bool)
    inside[5:12, 5:12] = True  # 7x7 around the centre (8, 8)
    assert (erf[~inside] == 0).all() and (erf[inside] > 0).sum() > 9
    assert field_extent(erf, 1.0) <= theoretical_receptive_field(model, "4") == 7
    assert theoretical_receptive_field(model, "2") == 5


def test_theoretical_receptive_field_matches_the_calculator_on_resnet20(resnet20):
    rows = receptive_field(resnet20)
    layer1 = [r.size for r in rows if r.name.startswith("layer1.")][-1]
    assert theoretical_receptive_field(resnet20, "layer1") == layer1 == 3 + 6 * 2  # stem 3x3, then six 3x3 convs
    assert theoretical_receptive_field(resnet20, "stem") == 3
    layer2 = [r.size for r in rows if r.name.startswith("layer2.")][-1]
    assert theoretical_receptive_field(resnet20, "layer2") == layer2 == 15 + 2 + 4 * 5  # one 3x3 at jump 1, five at 2


# --------------------------------------------------------------------------- sanity checks and faithfulness


def test_cascading_randomization_leaves_the_model_and_drops_the_correlation(resnet20):
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    before = {k: v.clone() for k, v in resnet20.state_dict().items()}
    rows = cascading_randomization(resnet20, Saliency, x, [1, 4], ["fc", "layer3", "layer2"])
    assert all(torch.equal(v, before[k]) for k, v in resnet20.state_dict().items())
    assert [r["layer"] for r in rows] == ["none", "fc", "layer3", "layer2"]
    assert rows[0]["spearman"] == 1.0
    assert all(r["spearman_abs"] < 0.6 for r in rows[1:]), rows  # measured 0.29, 0.26, 0.19
    assert rows[-1]["spearman_abs"] < 0.4, rows


def deletion_toy():
    """Flatten -> Linear: logit 0 = sum of the 4 pixels, logit 1 = 0.5; p(class 0) = sigmoid(sum - 0.5)."""
    return linear_model(torch.tensor([[1.0, 1, 1, 1], [0, 0, 0, 0]]), torch.tensor([0.0, 0.5]), (1, 2, 2))


def test_deletion_curve_removes_pixels_in_the_order_of_the_map():
    model = deletion_toy()
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    curve = deletion_curve(model, x, [0], x[:, 0], steps=4)  # most important = largest pixel first
    assert curve["fraction"].tolist() == [0, 0.25, 0.5, 0.75, 1]
    remaining = torch.tensor([10.0, 6.0, 3.0, 1.0, 0.0])  # 4, then 3, then 2, then 1 deleted
    torch.testing.assert_close(curve["probability"][0], torch.sigmoid(remaining - 0.5))
    assert curve["correct"][0].tolist() == [True, True, True, True, False]
    backwards = deletion_curve(model, x, [0], -x[:, 0], steps=4, fill=0.5)  # smallest first, replaced by 0.5
    torch.testing.assert_close(backwards["probability"][0], torch.sigmoid(torch.tensor([10, 9.5, 8, 5.5, 2.0]) - 0.5))


def test_insertion_curve_goes_from_the_blurred_image_to_the_image():
    model = deletion_toy()
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    curve = deletion_curve(model, x, [0], x[:, 0], steps=2, mode="insertion", blur_sigma=0.3)
    from cnnlib.interpret.class_model import gaussian_blur

    blurred = gaussian_blur(x, 0.3)
    ends = torch.sigmoid(torch.stack([blurred.sum(), x.sum()]) - 0.5)
    torch.testing.assert_close(curve["probability"][0, [0, 2]], ends)
    with pytest.raises(AttributionError, match="mode"):
        deletion_curve(model, x, [0], x[:, 0], mode="addition")
    with pytest.raises(AttributionError, match="maps N x H x W"):
        deletion_curve(model, x, [0], x, steps=2)


def test_area_under_curve_is_the_trapezoid():
    fraction = torch.tensor([0.0, 0.5, 1.0])
    assert area_under_curve(fraction, torch.tensor([1.0, 0.5, 0.0])).item() == pytest.approx(0.5)
    torch.testing.assert_close(area_under_curve(fraction, torch.tensor([[1.0, 1, 1], [0, 1, 0]])),
                               torch.tensor([1.0, 0.5]))  # fmt: skip


def test_spearman_with_ties_by_hand_and_against_scipy():
    a, b = torch.tensor([1.0, 2.0, 2.0, 3.0]), torch.tensor([1.0, 3.0, 2.0, 4.0])
    # ranks (0, 1.5, 1.5, 3) and (0, 2, 1, 3); centred (-1.5, 0, 0, 1.5) and (-1.5, 0.5, -0.5, 1.5):
    # 4.5 / sqrt(4.5 * 5) = 3 / sqrt(10)
    assert spearman(a, b) == pytest.approx(3 / math.sqrt(10), abs=1e-12)
    assert spearman(a, b) == pytest.approx(scipy.stats.spearmanr(a.numpy(), b.numpy())[0], abs=1e-12)
    assert spearman(a, a.exp()) == pytest.approx(1.0) and spearman(a, -a) == pytest.approx(-1.0)
    gen = torch.Generator().manual_seed(0)
    u = torch.randint(0, 5, (6, 7), generator=gen).float()  # many ties, any shape (flattened)
    v = torch.randint(0, 5, (42,), generator=gen).float()
    assert spearman(u, v) == pytest.approx(scipy.stats.spearmanr(u.flatten().numpy(), v.numpy())[0], abs=1e-12)
    assert spearman(torch.ones(5), torch.arange(5.0)) == 0.0  # a constant has no ranking (scipy: nan)
    with pytest.raises(ValueError, match="equally long"):
        spearman(torch.ones(3), torch.ones(4))
