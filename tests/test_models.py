"""The model registry and the models built so far: shapes, gradients, counts, clear input errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import cnnlib
from cnnlib.models import UnknownModelError, model_info


@pytest.mark.parametrize("name", cnnlib.list_models())
def test_forward_backward_every_registered_model(name):
    info = model_info(name)
    model = cnnlib.get_model(name, num_classes=7)
    x = torch.randn(2, *info.smallest_test_input, requires_grad=True)
    out = model(x)
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()
    out.sum().backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad}"
    assert x.grad is not None and x.grad.abs().sum() > 0
    modules = dict(model.named_modules())
    for attr in ("first_conv", "classifier", "gradcam_layer"):
        assert getattr(info, attr) in modules, f"{name}: metadata {attr}={getattr(info, attr)!r} names no module"
    assert isinstance(modules[info.first_conv], nn.Conv2d) and isinstance(modules[info.classifier], (nn.Linear, nn.Conv2d))
    model.eval()  # dropout draws new masks on every call
    features = model.forward_features(x)
    assert torch.equal(model.forward_head(features), model(x))


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
    assert sum(p.numel() for p in cnnlib.get_model(name).parameters()) == params


def test_unknown_model_name_suggests_close_names():
    with pytest.raises(UnknownModelError, match=r"Unknown model 'lenet'.*Did you mean 'lenet5'"):
        cnnlib.get_model("lenet")
    with pytest.raises(KeyError):  # it is also a KeyError, for code that catches that
        cnnlib.get_model("no-such-model")


def test_list_models_filters():
    assert "lenet5" in cnnlib.list_models(family="lenet")
    assert set(cnnlib.list_models(scale="cifar")) >= {"resnet20", "resnet56", "plain20", "plain56"}


@pytest.mark.parametrize(
    "name, x, message",
    [
        ("lenet5", torch.zeros(1, 1, 28, 28), "expects 32x32 images; got 28x28"),
        ("lenet5", torch.zeros(1, 3, 32, 32), "built for 1-channel input; got 3 channels"),
        ("lenet5", torch.zeros(1, 32, 32), "batch of images shaped N x C x H x W"),
        ("resnet20", torch.zeros(1, 1, 32, 32), "built for 3-channel input"),
        ("resnet20", torch.zeros(1, 3, 2, 2), "needs at least 4x4"),
    ],
)
def test_wrong_input_gives_a_clear_error(name, x, message):
    with pytest.raises(ValueError, match=message):
        cnnlib.get_model(name)(x)


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
