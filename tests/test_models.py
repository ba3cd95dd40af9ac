"""The model registry and every registered model: shapes, gradients, the head's two outputs, counts.

Wrong inputs and their clear errors: ``tests/models/test_inputs.py``; agreement with torchvision:
``tests/models/test_torchvision.py``; each family's specifics: the other files of ``tests/models``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import cnnlib
from cnnlib.models import build_on_meta, model_info
from cnnlib.testing import assert_close_up_to_rounding

# Above this many parameters a model is built on the meta device where only shapes are checked
# (VGG, AlexNet, the large EfficientNets and Inceptions: seconds of initialisation each on a CPU).
LARGE = 20_000_000


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """On a busy 2-core machine two intra-op threads wait for each other (ResNet-1202 at 8x8: over a minute
    per forward with 2 threads, about a second with 1). Restored after this module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bitwise equal, NaN included (an untrained 1202-layer net in eval mode can overflow to NaN)."""
    return torch.allclose(a, b, rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("name", cnnlib.list_models())
def test_forward_backward_every_registered_model(name):
    info = model_info(name)
    model = cnnlib.get_model(name, num_classes=7)
    x = torch.randn(2, *info.smallest_test_input, requires_grad=True)
    out = model(x)
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()
    out.sum().backward()
    # frozen by design (requires_grad False: the speed-run's whitening filters and BN scales) are left out
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad}"
    assert x.grad is not None and x.grad.abs().sum() > 0
    modules = dict(model.named_modules())
    for attr in ("first_conv", "classifier", "gradcam_layer"):
        assert getattr(info, attr) in modules, f"{name}: metadata {attr}={getattr(info, attr)!r} names no module"
    assert isinstance(modules[info.first_conv], nn.Conv2d) and isinstance(
        modules[info.classifier], (nn.Linear, nn.Conv2d)
    )
    model.eval()  # dropout draws new masks on every call
    features = model.forward_features(x)
    assert torch.equal(model.forward_head(features), model(x))


def _first_layer_of_the_head(model: nn.Module, features: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """The first Linear or Conv2d that ``forward_head`` runs, and the input it receives."""
    seen: list[tuple[nn.Module, torch.Tensor]] = []
    hooks = [
        m.register_forward_pre_hook(lambda m, args: seen.append((m, args[0])))
        for m in model.modules()
        if isinstance(m, (nn.Linear, nn.Conv2d))
    ]
    try:
        model.forward_head(features)
    finally:
        for h in hooks:
            h.remove()
    assert seen, f"{type(model).__name__}.forward_head runs no Linear or Conv2d"
    return seen[0]


@pytest.mark.parametrize("name", cnnlib.list_models())
def test_forward_head_and_pre_logits_every_registered_model(name):
    """forward = forward_head(forward_features); forward_head(pre_logits=True) is the pooled N x D vector
    that the classifier receives, D the input width of the head's first Linear (or 1x1 Conv2d) layer.

    Every builder takes ``num_classes`` and ``in_channels``. Models above ``LARGE`` parameters run on the
    meta device, where the shapes (not the values) are checked.
    """
    info = model_info(name)
    large = n_params(build_on_meta(name)) > LARGE
    torch.manual_seed(0)
    model = (build_on_meta if large else cnnlib.get_model)(name, num_classes=5, in_channels=1).eval()
    x = torch.randn(2, 1, *info.smallest_test_input[1:], device="meta" if large else "cpu")
    with torch.no_grad():
        features = model.forward_features(x)
        logits = model.forward_head(features)
        pre = model.forward_head(features, pre_logits=True)
        first, received = _first_layer_of_the_head(model, features)
    assert features.dim() == 4 and features.shape[0] == 2  # N x C x H x W
    assert logits.shape == (2, 5)
    width = first.in_features if isinstance(first, nn.Linear) else first.in_channels
    assert pre.shape == (2, width)
    if large:
        return
    with torch.no_grad():
        assert same(model(x), logits)  # exact: forward runs these very operations
    if isinstance(first, nn.Linear):
        assert same(received, pre)  # exact: what the first linear layer gets
    else:  # SqueezeNet, NiN: a 1x1 convolution on the maps; pre_logits is their global average
        h, w = features.shape[-2:]
        what = f"{name} pre-logits and the pooled maps"
        assert_close_up_to_rounding(pre, features.mean((2, 3)), terms=h * w, what=what)


def test_densenet_pre_logits_include_the_final_relu():
    """DenseNet's forward_features ends with norm5, a BN without its ReLU: the classifier sees relu, then the pool."""
    model = cnnlib.get_model("densenet_bc_cifar").eval()
    with torch.no_grad():
        features = model.forward_features(torch.randn(2, 3, 32, 32))
        pre = model.forward_head(features, pre_logits=True)
    assert (features < 0).any()  # so the ReLU matters
    # adaptive_avg_pool2d and mean may sum the 8 x 8 values in other orders
    relu_then_pool = F.relu(features).mean((2, 3))
    assert_close_up_to_rounding(pre, relu_then_pool, terms=8 * 8, what="DenseNet pre-logits and relu-then-pool")
    assert not torch.allclose(pre, features.mean((2, 3)))


def test_build_on_meta():
    model = build_on_meta("vgg19")  # 144 M parameters, no memory
    assert all(p.is_meta for p in model.parameters())
    assert n_params(model) == 143_667_240
    assert model(torch.zeros(1, 3, 224, 224, device="meta")).shape == (1, 1000)
    assert build_on_meta is cnnlib.models.registry.build_on_meta


@pytest.mark.parametrize(
    "name, params",
    [
        ("lenet5", 61_706),  # seed 002's modified LeNet-5 on 1x32x32
        ("resnet20", 269_722),  # He et al. 2015 with option-A shortcuts (REFERENCES.md)
        ("plain20", 269_722),  # option A adds no parameter, so the plain twin has the same count
        ("resnet56", 853_018),  # the paper rounds to 0.85 M
        ("plain56", 853_018),
    ],
)
def test_parameter_counts(name, params):
    assert n_params(build_on_meta(name)) == params


def test_list_models_filters():
    assert "lenet5" in cnnlib.list_models(family="lenet")
    assert set(cnnlib.list_models(scale="cifar")) >= {"resnet20", "resnet56", "plain20", "plain56"}


def test_plain_net_has_no_shortcut_effect():
    """plain20 and resnet20 with the same weights differ only by the identity paths."""
    res, plain = cnnlib.get_model("resnet20").eval(), cnnlib.get_model("plain20").eval()
    plain.load_state_dict(res.state_dict())
    x = torch.randn(2, 3, 32, 32)
    assert not torch.allclose(res(x), plain(x))  # the shortcuts change the logits by O(1), not by rounding
    for block in res.modules():
        if hasattr(block, "residual"):
            block.residual = False
    assert torch.equal(res(x), plain(x))  # exact: the same layers and weights run the same operations in the same order


class SeedLeNet5(nn.Module):
    """Seed 002's LeNet-5 snippet (the modified LeNet-5 of the course's source slides), re-typed as given."""

    def __init__(self, n_classes):
        super().__init__()
        self.feature_extractor = nn.Sequential(
            nn.Conv2d(in_channels=1, out_channels=6, kernel_size=5, stride=1),
            nn.Tanh(),
            nn.AvgPool2d(kernel_size=2),
            nn.Conv2d(in_channels=6, out_channels=16, kernel_size=5, stride=1),
            nn.Tanh(),
            nn.AvgPool2d(kernel_size=2),
            nn.Conv2d(in_channels=16, out_channels=120, kernel_size=5, stride=1),
            nn.Tanh(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(in_features=120, out_features=84),
            nn.Tanh(),
            nn.Linear(in_features=84, out_features=n_classes),
        )

    def forward(self, x):
        x = self.feature_extractor(x)
        x = torch.flatten(x, 1)
        logits = self.classifier(x)
        probs = F.softmax(logits, dim=1)
        return logits, probs


def test_lenet5_equals_the_seed_snippet():
    ours = cnnlib.get_model("lenet5").eval()
    seed = SeedLeNet5(10).eval()
    state = {k.replace("features.", "feature_extractor."): v for k, v in ours.state_dict().items()}
    seed.load_state_dict(state, strict=True)
    x = torch.randn(4, 1, 32, 32)
    logits, probs = seed(x)
    # exact: the same layers (conv, tanh, average pool, flatten, linear) run the same operations in the same order
    assert torch.equal(ours(x), logits)
    assert torch.equal(ours(x).softmax(1), probs)
