"""Width and depth knobs of the CIFAR models (used by the zoo to train on a CPU).

The default of every knob is the published configuration (its count is pinned in the family's
tests); here: the knob really narrows the net, the narrow net runs, bad values are refused.
"""

import pytest
import torch

import cnnlib
from cnnlib.models.blocks import scale_channels
from cnnlib.summary import count_mult_adds, count_parameters
from cnnlib.testing import accumulated_terms, assert_close_up_to_rounding


def test_scale_channels():
    assert scale_channels(96, 1.0) == 96 and scale_channels(100, 1.0) == 100
    assert scale_channels(64, 0.5) == 32 and scale_channels(192, 0.5) == 96 and scale_channels(48, 0.5) == 24
    assert scale_channels(64, 0.25) == 16 and scale_channels(8, 0.1) == 8  # never below 8
    with pytest.raises(ValueError, match="positive"):
        scale_channels(64, 0)


@pytest.mark.parametrize(
    "name, kwargs, params, wide_kwargs",
    [
        ("vgg11_bn_cifar", {"width": 0.5}, 2_311_562, {}),
        ("alexnet_cifar", {"width": 0.5}, 1_931_178, {}),
        ("inception_small_cifar", {"width": 0.5}, 414_274, {}),
        ("repvgg_a0_cifar", {"width": 0.5}, 1_969_722, {}),
        ("densenet_bc_cifar", {}, 176_122, {"depth": 100}),
    ],
)
def test_narrow_variant(name, kwargs, params, wide_kwargs):
    wide, narrow = cnnlib.get_model(name, **wide_kwargs), cnnlib.get_model(name, **kwargs)
    assert count_parameters(narrow) == params < count_parameters(wide)
    assert count_mult_adds(narrow, (3, 32, 32)) < 0.4 * count_mult_adds(wide, (3, 32, 32))
    narrow.eval()
    with torch.no_grad():
        assert narrow(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_densenet_bc_of_depth_100_is_densenet_bc100():
    a, b = cnnlib.get_model("densenet_bc_cifar", depth=100), cnnlib.get_model("densenet_bc100")
    assert [(k, v.shape) for k, v in a.state_dict().items()] == [(k, v.shape) for k, v in b.state_dict().items()]
    with pytest.raises(ValueError, match="6n \\+ 4"):
        cnnlib.get_model("densenet_bc_cifar", depth=41)


def test_repvgg_narrow_still_fuses_exactly():
    from cnnlib.models.repvgg import reparameterized

    torch.manual_seed(0)
    model = cnnlib.get_model("repvgg_a0_cifar", width=0.5)
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        model.train()(x)  # BN statistics of real activations, so that outputs keep an ordinary size
        model.eval()
        out, fused = model(x), reparameterized(model)(x)
    # rounding accumulates through all the layers: the summed fan-in of the multi-branch network
    assert_close_up_to_rounding(fused, out, terms=accumulated_terms(model), what="narrow RepVGG fused and multi-branch")
    with pytest.raises(ValueError, match="positive"):
        cnnlib.get_model("repvgg_a0_cifar", width=-1)
