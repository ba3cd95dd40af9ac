"""Width and depth knobs of the CIFAR models (used by the zoo to train on a CPU).

The default of every knob is the published configuration (its count is pinned in the family's
tests); here: the knob really narrows the net, the narrow net runs, bad values are refused.
"""

import pytest
import torch

import cnnlib
from cnnlib.analysis.summary import count_mult_adds, count_parameters
from cnnlib.models import build_on_meta
from cnnlib.testing import accumulated_terms, assert_close_up_to_rounding


@pytest.mark.parametrize(
    "name, kwargs, params, wide_kwargs",
    [
        ("vgg11_bn_cifar", {"width": 0.5}, 2_311_562, {}),
        ("alexnet_cifar", {"width": 0.5}, 1_931_178, {}),
        ("inception_small_cifar", {"width": 0.5}, 414_274, {}),
        ("repvgg_a0_cifar", {"width": 0.5}, 1_969_722, {}),
        ("xception_cifar", {"width": 0.5}, 656_442, {}),
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


def layout(model: torch.nn.Module) -> list[tuple[str, torch.Size]]:
    return [(k, v.shape) for k, v in model.state_dict().items()]


def test_densenet_bc_of_depth_100_is_densenet_bc100():
    assert layout(build_on_meta("densenet_bc_cifar", depth=100)) == layout(build_on_meta("densenet_bc100"))


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("mobilenet_v1", {}),
        ("mobilenet_v1_cifar", {}),
        ("mobilenet_v2", {}),
        ("mobilenet_v2_cifar", {}),  # a zoo entry passes width_mult=0.5
        ("efficientnet_b0_cifar", {"depth_mult": 0.5}),  # a zoo entry passes width_mult=0.5, depth_mult=0.5
    ],
)
def test_width_mult_is_the_deprecated_name_of_width(name, kwargs):
    """One width keyword everywhere; the MobileNet and EfficientNet builders still take their old name."""
    with pytest.warns(DeprecationWarning, match=r"width_mult=\.\.\.\) is deprecated: use width="):
        old = build_on_meta(name, width_mult=0.5, **kwargs)
    assert layout(old) == layout(build_on_meta(name, width=0.5, **kwargs)) != layout(build_on_meta(name, **kwargs))


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


def test_xception_width_scales_every_channel_and_refuses_bad_values():
    from cnnlib.models.xception import XCEPTION_CIFAR, scaled

    half = scaled(XCEPTION_CIFAR, 0.5)
    assert half.stem_channels == (16, 32) and half.exit_channels == (384, 512)
    assert [b.out_channels for b in half.entry_flow + half.middle_flow + half.exit_flow] == [64, 128] + [128] * 4 + [
        256
    ]
    assert len(half.middle_flow) == len(XCEPTION_CIFAR.middle_flow)  # the depth is unchanged
    assert scaled(XCEPTION_CIFAR, 1.0) == XCEPTION_CIFAR
    with pytest.raises(ValueError, match="width must be positive"):
        cnnlib.get_model("xception_cifar", width=0)


def test_squeezenet_cifar_norm_adds_batch_norm_to_the_fire_modules_only():
    plain, normed = cnnlib.get_model("squeezenet_cifar"), cnnlib.get_model("squeezenet_cifar", norm=True)
    bns = [m for m in normed.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 3 * 8 and not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    assert all(m.bias is None for m in normed.features[2:].modules() if isinstance(m, torch.nn.Conv2d))
    assert [k for k in plain.state_dict()] == [k for k in cnnlib.get_model("squeezenet1_1").state_dict()]
    normed.eval()
    with torch.no_grad():
        assert normed(torch.randn(2, 3, 32, 32)).shape == (2, 10)
