"""Mobile architectures: MobileNet v1/v2/v3, ShuffleNet v1/v2, EfficientNet B0-B7.

Parameter counts pinned to published integers, torchvision's weights loaded strictly with equal
outputs, channel shuffle and compound scaling checked by hand, clear input errors, and the
course mirror's pretrained MobileNetV2 classifying real Imagenette photos.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision.models as tvm

import cnnlib
from cnnlib import data
from cnnlib.models import efficientnet as eff
from cnnlib.models.mobilenet import DepthwiseSeparable
from cnnlib.models.shufflenet import channel_shuffle
from cnnlib.models.torchvision_compat import load_torchvision_state
from cnnlib.pretrained import MIRROR_WEIGHTS, from_torchvision
from cnnlib.testing import accumulated_terms, assert_close_up_to_rounding


def n_params(name: str) -> int:
    with torch.device("meta"):  # shapes only: no memory, no initialisation time
        model = cnnlib.get_model(name)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "name, published",
    [
        ("mobilenet_v1", 4_231_976),  # osmr imgclsmob mobilenet_w1 (= Keras MobileNet 1.0/224 trainable params)
        ("mobilenet_v2", 3_504_872),  # torchvision MobileNet_V2_Weights.IMAGENET1K_V1.meta (REFERENCES.md)
        ("mobilenet_v3_small", 2_542_856),  # torchvision meta (REFERENCES.md)
        ("mobilenet_v3_large", 5_483_032),  # torchvision meta (REFERENCES.md)
        ("shufflenet_v1_g3", 1_865_728),  # osmr imgclsmob shufflenet_g3_w1 (the paper gives FLOPs only)
        ("shufflenet_v2_x0_5", 1_366_792),  # torchvision ShuffleNet_V2_X0_5_Weights meta
        ("shufflenet_v2_x1_0", 2_278_604),  # torchvision meta (REFERENCES.md)
        ("efficientnet_b0", 5_288_548),  # torchvision meta (REFERENCES.md)
        ("efficientnet_b1", 7_794_184),  # torchvision EfficientNet_B*_Weights meta, B1-B7
        ("efficientnet_b2", 9_109_994),
        ("efficientnet_b3", 12_233_232),
        ("efficientnet_b4", 19_341_616),
        ("efficientnet_b5", 30_389_784),
        ("efficientnet_b6", 43_040_704),
        ("efficientnet_b7", 66_347_960),
    ],
)
def test_parameter_counts(name, published):
    assert n_params(name) == published


TORCHVISION_TWINS = [
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0",
    "efficientnet_b0",
    "efficientnet_b1",
]


@pytest.mark.parametrize("name", TORCHVISION_TWINS)
def test_torchvision_state_dict_loads_strictly_and_outputs_agree(name):
    torch.manual_seed(0)
    theirs = tvm.get_model(name, weights=None).eval()
    for m in theirs.modules():  # non-trivial batch-norm statistics, so a misplaced BN would show
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)
    ours = load_torchvision_state(cnnlib.get_model(name), name, theirs.state_dict()).eval()
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    x = torch.randn(2, 3, 64, 64)
    terms = accumulated_terms(theirs)  # the same layers, but another implementation: rounding through the whole network
    with torch.no_grad():
        assert_close_up_to_rounding(ours(x), theirs(x), terms=terms, what=f"our {name} and torchvision's logits")
        if hasattr(theirs, "features"):  # the feature maps too (the logits of a random net are small)
            assert_close_up_to_rounding(ours.forward_features(x), theirs.features(x), terms=terms, what=f"our {name} and torchvision's features")


def test_from_torchvision_random_weights_round_trip():
    model, source = from_torchvision("mobilenet_v3_small", weights=None, num_classes=7)
    assert "random initialisation" in source and not model.training
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 7)


# ----------------------------------------------------------------------------- channel shuffle


def test_channel_shuffle_is_the_transpose_of_a_groups_by_k_grid():
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]  # [0 1 2 | 3 4 5] -> interleaved
    assert channel_shuffle(x, 3).flatten().tolist() == [0, 2, 4, 1, 3, 5]  # [0 1 | 2 3 | 4 5]
    y = torch.randn(2, 12, 3, 3)
    assert torch.equal(channel_shuffle(channel_shuffle(y, 3), 4), y)  # shuffling by C/g undoes it
    assert torch.equal(channel_shuffle(y, 1), y)
    with pytest.raises(ValueError, match="5 channels cannot be split into 2 groups"):
        channel_shuffle(torch.zeros(1, 5, 1, 1), 2)


def test_shufflenet_v1_group_convolutions_need_the_shuffle():
    """Without the shuffle, an output channel of a stage-2 unit depends only on its own group."""
    unit = cnnlib.get_model("shufflenet_v1_g3").stage2[1].eval()  # stride 1, g = 3, 240 channels
    x = torch.zeros(1, 240, 4, 4)
    x[:, :80] = torch.randn(1, 80, 4, 4)  # excite group 0 only
    with torch.no_grad():
        delta = unit(x) - x
    assert delta[:, 80:].abs().sum() > 0  # the shuffle carried group 0's signal to groups 1 and 2


def test_depthwise_separable_cost_matches_the_formula():
    """Howard et al. 2017, Sec. 3.1: 3*3*C_in + C_in*C_out weights instead of 3*3*C_in*C_out."""
    c_in, c_out = 32, 64
    layer = DepthwiseSeparable(c_in, c_out)
    conv_weights = sum(m.weight.numel() for m in layer.modules() if isinstance(m, nn.Conv2d))
    assert conv_weights == 3 * 3 * c_in + c_in * c_out
    assert conv_weights / (3 * 3 * c_in * c_out) == pytest.approx(1 / c_out + 1 / 9)


# ----------------------------------------------------------------------------- compound scaling


def test_compound_scaling_arithmetic():
    depth, width, resolution = eff.compound_scaling(1.0)
    assert (depth, width, resolution) == (1.2, 1.1, 1.15)  # alpha, beta, gamma of Sec. 3.3
    flops_factor = eff.ALPHA * eff.BETA**2 * eff.GAMMA**2  # FLOPs ~ depth * width^2 * resolution^2
    assert flops_factor == pytest.approx(1.92, abs=0.005)  # "alpha * beta^2 * gamma^2 ~ 2"
    d3, w3, r3 = eff.compound_scaling(3.0)
    assert d3 * w3**2 * r3**2 == pytest.approx(flops_factor**3)
    assert eff.compound_scaling(0.0) == (1.0, 1.0, 1.0)
    model, size = eff.efficientnet_phi(1.0, num_classes=5)
    assert size == round(224 * 1.15) == 258
    assert [len(stage) for stage in model.features[1:-1]] == [2, 3, 3, 4, 4, 5, 2]  # ceil(n * 1.2) blocks per stage


@pytest.mark.parametrize("variant", list(eff.EFFICIENTNET_VARIANTS))
def test_scaled_stage_tables_equal_torchvisions(variant):
    """Channels x width rounded to multiples of 8, layers x depth rounded up: torchvision's configs exactly."""
    from torchvision.models.efficientnet import _efficientnet_conf

    v = eff.EFFICIENTNET_VARIANTS[variant]
    theirs, _ = _efficientnet_conf(f"efficientnet_{variant}", width_mult=v.width, depth_mult=v.depth)
    ours = [s.scaled(v.width, v.depth) for s in eff.EFFICIENTNET_B0]
    assert [(s.expand_ratio, s.kernel, s.stride, s.in_channels, s.out_channels, s.layers) for s in ours] == [
        (c.expand_ratio, c.kernel, c.stride, c.input_channels, c.out_channels, c.num_layers) for c in theirs
    ]
    assert cnnlib.models.model_info(f"efficientnet_{variant}").input_size == (3, v.resolution, v.resolution)


def test_stochastic_depth_drops_whole_samples_in_training_only():
    sd = eff.StochasticDepth(0.5)
    x = torch.ones(4000, 2, 1, 1)
    torch.manual_seed(0)
    y = sd.train()(x)
    assert set(y.unique().tolist()) == {0.0, 2.0}  # dropped, or kept and scaled by 1 / (1 - p)
    assert torch.equal(y[:, 0], y[:, 1])  # per sample, not per element
    assert y.mean().item() == pytest.approx(1.0, abs=0.05)  # unbiased
    assert torch.equal(sd.eval()(x), x)


# ----------------------------------------------------------------------------- shapes and errors


@pytest.mark.parametrize(
    "name, channels, size",
    [
        ("mobilenet_v1_cifar", 1024, 2),
        ("mobilenet_v2_cifar", 1280, 4),
        ("mobilenet_v3_small_cifar", 576, 4),
        ("mobilenet_v3_large_cifar", 960, 4),
        ("shufflenet_v2_cifar", 1024, 4),
        ("efficientnet_b0_cifar", 1280, 4),
    ],
)
def test_cifar_variants_keep_a_spatial_map_at_32x32(name, channels, size):
    model = cnnlib.get_model(name).eval()
    with torch.no_grad():
        assert model.forward_features(torch.zeros(1, 3, 32, 32)).shape == (1, channels, size, size)


@pytest.mark.parametrize(
    "name, x, message",
    [
        ("mobilenet_v2", torch.zeros(1, 1, 64, 64), "built for 3-channel input; got 1 channels"),
        ("mobilenet_v2", torch.zeros(1, 3, 16, 16), "needs at least 32x32"),
        ("mobilenet_v1_cifar", torch.zeros(1, 3, 8, 8), "needs at least 16x16"),
        ("mobilenet_v3_small", torch.zeros(3, 64, 64), "batch of images shaped N x C x H x W"),
        ("shufflenet_v1_g3", torch.zeros(1, 3, 16, 16), "needs at least 32x32"),
        ("shufflenet_v2_cifar", torch.zeros(1, 3, 4, 4), "needs at least 8x8"),
        ("efficientnet_b0", torch.zeros(1, 4, 224, 224), "built for 3-channel input; got 4 channels"),
        ("efficientnet_b0_cifar", torch.zeros(1, 3, 4, 4), "needs at least 8x8"),
    ],
)
def test_wrong_input_gives_a_clear_error(name, x, message):
    with pytest.raises(ValueError, match=message):
        cnnlib.get_model(name)(x)


# ----------------------------------------------------------------------------- pretrained weights


def mirror_with_weights():
    mirror = data.mirror_dir()
    if mirror is None:
        pytest.skip("$CNNLIB_MIRROR is not set")
    if not (mirror / MIRROR_WEIGHTS["mobilenet_v2"][0]).is_file():
        pytest.skip(f"the mirror {mirror} has no MobileNetV2 weights")
    return mirror


@pytest.fixture
def torchvision_offline(monkeypatch):
    """torchvision's weight download fails as it does without a network (nothing is downloaded)."""
    import torchvision.models._api as api

    def no_network(*args, **kwargs):
        raise OSError("network is unreachable (simulated by the test)")

    monkeypatch.setattr(api, "load_state_dict_from_url", no_network)


def test_from_torchvision_says_which_weights_it_loaded(torchvision_offline):
    mirror_with_weights()
    _, source = from_torchvision("mobilenet_v2", weights="mirror")
    assert "mirror" in source and "SHA-256 verified" in source and "int8" in source
    _, fallback = from_torchvision("mobilenet_v2", weights="DEFAULT")  # offline: falls back to the mirror
    assert "mirror" in fallback and "SHA-256" in fallback


def test_pretrained_weights_offline_without_a_mirror_copy_give_a_clear_error(torchvision_offline, monkeypatch):
    with pytest.raises(RuntimeError, match=r"(?s)No pretrained weights for mobilenet_v3_small.*network is unreachable.*mirror"):
        from_torchvision("mobilenet_v3_small", weights="DEFAULT")
    with pytest.raises(FileNotFoundError, match="no pretrained weights for efficientnet_b0"):
        from_torchvision("efficientnet_b0", weights="mirror")
    monkeypatch.delenv("CNNLIB_MIRROR", raising=False)
    with pytest.raises(FileNotFoundError, match=r"\$CNNLIB_MIRROR is not set"):
        from_torchvision("mobilenet_v2", weights="mirror")


def test_pretrained_mobilenet_v2_classifies_imagenette():
    """The mirror's ImageNet MobileNetV2 in our code: >= 68 % 1000-way top-1 on 512 Imagenette val photos.

    72.2 % was measured on all 3,925 (mirror README); torchvision's fp32 weights: 71.878 % on ImageNet.
    """
    mirror_with_weights()
    from cnnlib.train import predict

    model, source = from_torchvision("mobilenet_v2", weights="mirror")
    val = data.load("imagenette", "val").subset(512, seed=0)
    logits = predict(model, val, batch_size=64)
    target = torch.tensor(data.IMAGENETTE_IMAGENET_INDEX)[val.labels]
    top1 = (logits.argmax(1) == target).float().mean().item()
    print(f"MobileNetV2 ({source}) top-1 on {len(val)} Imagenette val images: {100 * top1:.1f} % (published 72.2 % on all 3,925)")
    assert top1 >= 0.68
