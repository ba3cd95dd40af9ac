"""cnnlib.interpret against the reference libraries on registry models of four families: captum (gradient,
Integrated Gradients, guided backpropagation, DeconvNet, occlusion) and pytorch-grad-cam (Grad-CAM).

Same model, same input, same targets for both sides: random weights (fixed seed) in eval mode, a batch of two
random images, explicit classes. The reference libraries must leave the model as they found it too.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import captum.attr
import pytest
import torch
import torch.nn as nn
from pytorch_grad_cam import GradCAM as ReferenceGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch.nn.modules import module as torch_module

from cnnlib import get_model
from cnnlib.interpret import Deconvnet, GradCAM, GuidedBackprop, IntegratedGradients, Occlusion, Saliency
from cnnlib.testing import relu6_visible_to_captum

# captum announces its ReLU hooks, and that it sets requires_grad on the input (and unsets it after), with warnings
pytestmark = [
    pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU activations"),
    pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients"),
]

# Largest accepted difference, max |ours - reference| / max |reference| over the batch (Grad-CAM: max |ours -
# reference| of the two min-max normalised maps, which lie in [0, 1]). Measured on this machine with 10 seeds of
# weights and inputs (the values in the comments are the largest seen), set a few times above.
TOLERANCES = {
    # The gradient methods build the same autograd graph and call the same kernels as captum: measured 0 (bitwise
    # equal) on all four models (guided backprop and DeconvNet on MobileNetV2: on the copy captum can hook).
    # 1e-6 (8 float32 ulps at the largest value) allows for a different kernel choice.
    "gradient": 1e-6,
    "integrated gradients": 1e-6,  # measured 0: captum sums the same midpoint-rule gradients
    "guided backprop": 1e-6,  # measured 0
    "deconvnet": 1e-6,  # measured 0
    # Occlusion: both sides evaluate the same occluded images, but in other batches (ours: the base score alone, then
    # up to 64 windows; captum: the base for the whole batch, then 64 windows per image), and convolution kernels
    # accumulate in a batch-size-dependent order in float32. Measured up to 2.4e-5 (MobileNetV2), 2.0e-5 (VGG).
    "occlusion": 1e-4,
    # Grad-CAM: pytorch-grad-cam computes in numpy float32, normalises with (max - min + 1e-7), resizes with cv2's
    # INTER_LINEAR (half-pixel centres, the same weights as bilinear with align_corners=False) and normalises again.
    # Measured up to 7.2e-7 on maps in [0, 1].
    "grad-cam": 3e-6,
}


@dataclass(frozen=True)
class Case:
    shape: tuple[int, int, int]  # C x H x W of the input
    targets: tuple[int, int]  # the class explained for each of the two images
    gradcam_layer: str  # a layer with maps larger than 1x1 at this size, so that the normalised maps are not flat
    window: int  # occlusion window and stride: (size - window) divisible by the stride (see test_occlusion)
    stride: int


CASES = {
    # CIFAR ResNet: nn.ReLU(inplace=True), each block's ReLU module applied twice (after conv1 and after the sum)
    "resnet20": Case((3, 32, 32), (3, 7), "layer3", 8, 4),  # layer3 is the registry's Grad-CAM layer, 8x8
    # VGG with batch norm, inplace ReLUs; its registry layer `features` is 1x1 at 32 px: use the 8x8 maps instead
    "vgg11_bn_cifar": Case((3, 32, 32), (1, 8), "features.13", 8, 4),
    # LeNet-5 on 1-channel 32x32: Tanh, no ReLU at all (guided backprop and DeconvNet are the gradient on both sides);
    # the registry layer features.6 is 1x1: use the Tanh after the second convolution, 10x10
    "lenet5": Case((1, 32, 32), (2, 9), "features.4", 8, 4),
    # MobileNetV2 at its test size; ReLU6 activations, which captum's guided backprop and DeconvNet see only on a copy
    # (relu6_visible_to_captum); features.13 is 4x4 at 64 px (the registry's features.18 is 2x2)
    "mobilenet_v2": Case((3, 64, 64), (1, 700), "features.13", 16, 8),
}


def calibrated(name: str, shape: tuple[int, int, int]) -> nn.Module:
    """Random weights (seed 0) in eval mode, batch-norm statistics from one training-mode pass on random images.

    Fresh statistics (mean 0, variance 1) let the signal vanish in a deep random network: MobileNetV2's logits come
    out near 1e-11, where every relative comparison is meaningless; calibrated, they are of order 1.
    """
    torch.manual_seed(0)
    model = get_model(name)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in norms:
        m.momentum = None  # cumulative average: one pass sets the statistics
    with torch.no_grad():
        model.train()(torch.randn(8, *shape))
    for m in norms:
        m.momentum = 0.1
    return model.eval()


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    name = request.param
    c = CASES[name]
    model = calibrated(name, c.shape)
    x = torch.randn(2, *c.shape, generator=torch.Generator().manual_seed(1))
    return name, c, model, x, torch.tensor(c.targets)


def hooks_left(model: nn.Module) -> list[str]:
    left = [
        f"{name}.{kind}"
        for name, m in model.named_modules()
        for kind in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
        if getattr(m, kind, None)
    ]
    left += [f"{name}.forward" for name, m in model.named_modules() if "forward" in m.__dict__]
    left += [k for k in ("_global_forward_hooks", "_global_backward_hooks") if getattr(torch_module, k)]
    return left


class Unchanged:
    """Snapshot of everything a method or a reference library could leave behind on the model or the input."""

    def __init__(self, model: nn.Module, x: torch.Tensor):
        self.model, self.x = model, x
        self.x_before = x.clone()
        self.training = [m.training for m in model.modules()]
        self.flags = [p.requires_grad for p in model.parameters()]
        self.state = {k: v.clone() for k, v in model.state_dict().items()}

    def check(self, who: str) -> None:
        m = self.model
        assert hooks_left(m) == [], f"{who} left hooks"
        assert [mod.training for mod in m.modules()] == self.training, f"{who} changed the train/eval mode"
        assert [p.requires_grad for p in m.parameters()] == self.flags, f"{who} changed requires_grad"
        assert all(torch.equal(v, self.state[k]) for k, v in m.state_dict().items()), f"{who} changed the weights"
        assert all(p.grad is None for p in m.parameters()), f"{who} left param.grad"
        assert torch.equal(self.x, self.x_before) and not self.x.requires_grad, f"{who} changed the input"


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    assert ours.shape == reference.shape
    scale = reference.abs().max().item()
    assert scale > 0, "the reference is all zeros: the comparison would prove nothing"
    return (ours - reference).abs().max().item() / scale


def test_the_models_cover_inplace_and_reused_relus_and_no_relu():
    """What the cross-checks below exercise: captum copes with in-place ReLUs (its forward pre-hook hands the ReLU a
    clone of its input) and with a ReLU module applied twice per block (resnet20), so no copy with inplace=False
    is needed; LeNet-5 has no ReLU, MobileNetV2 only ReLU6."""
    resnet, vgg = get_model("resnet20"), get_model("vgg11_bn_cifar")
    assert all(m.inplace for m in resnet.modules() if isinstance(m, nn.ReLU))
    assert all(m.inplace for m in vgg.modules() if isinstance(m, nn.ReLU))
    assert not any(isinstance(m, (nn.ReLU, nn.ReLU6)) for m in get_model("lenet5").modules())
    mobilenet = get_model("mobilenet_v2")
    assert any(isinstance(m, nn.ReLU6) for m in mobilenet.modules())
    assert not any(type(m) is nn.ReLU for m in mobilenet.modules())


def test_gradient_equals_captum_saliency(case):
    name, _, model, x, t = case
    unchanged = Unchanged(model, x)
    reference = captum.attr.Saliency(model).attribute(x, target=t, abs=False)
    reference_map = captum.attr.Saliency(model).attribute(x, target=t, abs=True).amax(1)
    unchanged.check("captum Saliency")
    ours = Saliency(model).attribute_channels(x, t)
    ours_map = Saliency(model).attribute(x, t)
    unchanged.check("Saliency")
    assert relative_error(ours, reference) <= TOLERANCES["gradient"], name
    assert relative_error(ours_map, reference_map) <= TOLERANCES["gradient"], name


def test_integrated_gradients_equals_captum_riemann_middle(case):
    name, _, model, x, t = case
    unchanged = Unchanged(model, x)
    reference = captum.attr.IntegratedGradients(model).attribute(
        x, baselines=0.0, target=t, n_steps=8, method="riemann_middle"
    )
    unchanged.check("captum IntegratedGradients")
    ours = IntegratedGradients(model, steps=8, batch_size=5).attribute_channels(x, t)  # 5: chunks of other sizes
    unchanged.check("IntegratedGradients")
    assert relative_error(ours, reference) <= TOLERANCES["integrated gradients"], name


@pytest.mark.parametrize(
    "ours_cls, captum_cls, key",
    [
        (GuidedBackprop, captum.attr.GuidedBackprop, "guided backprop"),
        (Deconvnet, captum.attr.Deconvolution, "deconvnet"),
    ],
)
def test_guided_backprop_and_deconvnet_equal_captum(case, ours_cls, captum_cls, key):
    name, _, model, x, t = case
    unchanged = Unchanged(model, x)
    if name == "mobilenet_v2":  # captum leaves ReLU6 alone (see the next test): compare on a copy where it does not
        probe = relu6_visible_to_captum(model)
        assert torch.equal(probe(x), model(x))
        reference = captum_cls(probe).attribute(x, target=t)
        assert hooks_left(probe) == []
    else:
        reference = captum_cls(model).attribute(x, target=t)
    unchanged.check(f"captum {captum_cls.__name__}")
    if name == "lenet5":
        with pytest.warns(UserWarning, match="no nn.ReLU"):  # Tanh only: the rule has nothing to change
            ours = ours_cls(model).attribute_channels(x, t)
    else:
        ours = ours_cls(model).attribute_channels(x, t)
    unchanged.check(ours_cls.__name__)
    assert relative_error(ours, reference) <= TOLERANCES[key], name


def test_on_relu6_captum_gives_the_gradient_and_ours_the_modified_rule():
    """The one difference: MobileNetV2's activations are ReLU6, which captum's GuidedBackprop and Deconvolution do
    not hook (on the model as it is they return the plain gradient); ours apply the rule to ReLU6 too."""
    c = CASES["mobilenet_v2"]
    model = calibrated("mobilenet_v2", c.shape)
    x = torch.randn(1, *c.shape, generator=torch.Generator().manual_seed(1))
    gradient = Saliency(model).attribute_channels(x, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        captum_guided = captum.attr.GuidedBackprop(model).attribute(x, target=1)
    assert relative_error(captum_guided, gradient) <= TOLERANCES["gradient"]
    ours = GuidedBackprop(model).attribute_channels(x, 1)
    assert relative_error(ours, gradient) > 0.5
    assert hooks_left(model) == []


def test_occlusion_equals_captum(case):
    """Window and stride fit the image exactly: where they do not, captum adds windows cut off at the border, while
    ours leaves the uncovered pixels at 0 (the paper's grid, see test_interpret)."""
    name, c, model, x, t = case
    channels = c.shape[0]
    unchanged = Unchanged(model, x)
    reference = captum.attr.Occlusion(model).attribute(
        x,
        sliding_window_shapes=(channels, c.window, c.window),
        strides=(channels, c.stride, c.stride),
        baselines=0.25,
        target=t,
        perturbations_per_eval=64,
    )
    unchanged.check("captum Occlusion")
    ours = Occlusion(model, window=c.window, stride=c.stride, fill=0.25).attribute_channels(x, t)
    unchanged.check("Occlusion")
    assert relative_error(ours, reference) <= TOLERANCES["occlusion"], name


def test_where_the_stride_does_not_fit_captum_adds_border_windows_and_ours_leaves_zeros():
    """32 px, window 8, stride 5: ours slides to 20 (the paper's grid; columns 28-31 uncovered, 0), captum also puts
    a window at 25, cut off at the border. Pixels that window does not touch get the same value from both."""
    model = calibrated("resnet20", (3, 32, 32))
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    reference = captum.attr.Occlusion(model).attribute(
        x, sliding_window_shapes=(3, 8, 8), strides=(3, 5, 5), target=3, perturbations_per_eval=64
    )
    ours = Occlusion(model, window=8, stride=5).attribute_channels(x, 3)
    assert (ours[..., 28:, :] == 0).all() and (ours[..., :, 28:] == 0).all()
    assert (reference[..., 28:, :] != 0).all()
    assert relative_error(ours[..., :25, :25], reference[..., :25, :25]) <= TOLERANCES["occlusion"]


def test_grad_cam_equals_pytorch_grad_cam(case):
    name, c, model, x, t = case
    unchanged = Unchanged(model, x)
    with ReferenceGradCAM(model=model, target_layers=[model.get_submodule(c.gradcam_layer)]) as cam:
        reference = torch.from_numpy(cam(input_tensor=x, targets=[ClassifierOutputTarget(int(k)) for k in t]))
    # pytorch-grad-cam calls loss.backward(): it fills param.grad of every parameter; we clear that ourselves
    # (its hooks are gone after the `with` block, and it leaves the weights and modes alone)
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=True)
    unchanged.check("pytorch-grad-cam")
    maps = GradCAM(model, layer=c.gradcam_layer).attribute(x, t)
    unchanged.check("GradCAM")
    low, high = maps.amin((1, 2), keepdim=True), maps.amax((1, 2), keepdim=True)
    assert (high > low).all(), "a flat Grad-CAM map: the comparison would prove nothing"
    ours = (maps - low) / (high - low)
    assert reference.amax((1, 2)).min() > 0.99
    assert (ours - reference).abs().max().item() <= TOLERANCES["grad-cam"], name
