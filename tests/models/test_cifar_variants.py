"""CIFAR-scale adaptations of ZFNet, ShuffleNet v1 and the Inception v3/v4/ResNet-v2 family.

These are the course's own minimal adaptations (documented in each builder's docstring), so the
parameter counts below are computed by our code, not published figures: they pin the design.
"""

import pytest
import torch

import cnnlib
from cnnlib.models import build_on_meta

CASES = [
    # name, parameters (10 classes), final feature map (C, H, W) for a 32 x 32 input
    ("zfnet_cifar", 6_080_394, (256, 4, 4)),
    ("shufflenet_v1_g3_cifar", 914_338, (960, 4, 4)),
    ("inception_v3_cifar", 21_638_954, (2048, 7, 7)),
    ("inception_v4_cifar", 40_563_594, (1536, 7, 7)),
    ("inception_resnet_v2_cifar", 54_154_730, (1536, 7, 7)),
]


@pytest.mark.parametrize("name, params, fmap", CASES)
def test_cifar_variant(name, params, fmap):
    model = build_on_meta(name).eval()  # counts and shapes only: up to 54 M parameters, no memory
    assert sum(p.numel() for p in model.parameters()) == params
    x = torch.zeros(2, 3, 32, 32, device="meta")
    assert model.forward_features(x).shape == (2, *fmap)
    assert model(x).shape == (2, 10)
    assert cnnlib.model_info(name).scale == "cifar"


@pytest.mark.parametrize("name", ["inception_v3_cifar", "inception_v4_cifar", "inception_resnet_v2_cifar"])
def test_inception_cifar_minimum_size(name):
    """7 x 7 is the smallest input the two reductions accept (6 x 6 gets a clear error: test_inputs.py)."""
    model = build_on_meta(name).eval()  # the meta device checks every layer's shapes, as a real forward would
    assert model(torch.zeros(1, 3, 7, 7, device="meta")).shape == (1, 10)


def test_imagenet_inception_keys_untouched_by_the_cifar_option():
    """The CIFAR option must not change the ImageNet models (torchvision's weights load by key)."""
    assert sum(p.numel() for p in build_on_meta("inception_v3", aux_logits=True).parameters()) == 27_161_264
    assert sum(p.numel() for p in build_on_meta("inception_v4").parameters()) == 42_679_816
    assert sum(p.numel() for p in build_on_meta("inception_resnet_v2").parameters()) == 55_843_464


def test_cifar_inception_has_no_aux_head():
    from cnnlib.models.inception import Inception3

    with pytest.raises(ValueError, match="no auxiliary head"):
        Inception3(num_classes=10, aux_logits=True, cifar=True)


def test_shufflenet_v1_g3_cifar_minimum_size():
    """8x downsampling: 8 x 8 is the smallest input (7 x 7 gets a clear error: test_inputs.py)."""
    model = cnnlib.get_model("shufflenet_v1_g3_cifar").eval()
    with torch.no_grad():
        assert model.forward_features(torch.randn(1, 3, 8, 8)).shape == (1, 960, 1, 1)
