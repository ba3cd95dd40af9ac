"""Mobile architectures: MobileNet v1/v2/v3, ShuffleNet v1/v2, EfficientNet B0-B7.

Parameter counts pinned to published integers, channel shuffle and compound scaling checked by
hand, the width multiplier, and the course mirror's pretrained MobileNetV2 classifying real
Imagenette photos. Agreement with torchvision: ``test_torchvision.py``; clear input errors:
``test_inputs.py``; stochastic depth: ``test_blocks.py``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import cnnlib
from cnnlib import data
from cnnlib.models import build_on_meta
from cnnlib.models import efficientnet as eff
from cnnlib.models.mobilenet import DepthwiseSeparable
from cnnlib.models.shufflenet import channel_shuffle
from cnnlib.pretrained import MIRROR_WEIGHTS, from_torchvision


def n_params(name: str, **kwargs) -> int:
    return sum(p.numel() for p in build_on_meta(name, **kwargs).parameters())  # shapes only: no memory, no init time


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


# ----------------------------------------------------------------------------- shapes and widths


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


@pytest.mark.parametrize("width", [0.35, 0.5, 0.75, 1.3, 1.4])
def test_mobilenet_v2_width_rounds_as_torchvision(width):
    """Channels x width to the nearest multiple of 8 (never 10 % below), the last conv never below 1280."""
    import torchvision.models as tvm

    with torch.device("meta"):
        theirs = tvm.mobilenet_v2(width_mult=width)
    ours = build_on_meta("mobilenet_v2", width=width)
    assert [v.shape for v in ours.state_dict().values()] == [v.shape for v in theirs.state_dict().values()]


def test_mobilenet_v1_width_truncates_with_a_floor_of_8():
    """Howard et al. 2017, Sec. 3.2: alpha * channels, truncated as Keras' MobileNet, at least 8."""
    model = build_on_meta("mobilenet_v1", width=0.3)
    convs = [m for m in model.features.modules() if isinstance(m, nn.Conv2d) and m.groups == 1]
    assert [c.out_channels for c in convs][:4] == [9, 19, 38, 38]  # int(0.3 * 32), int(0.3 * 64), int(0.3 * 128) ...
    assert build_on_meta("mobilenet_v1", width=0.1).features[0][0].out_channels == 8  # int(3.2) = 3, raised to 8
    assert n_params("mobilenet_v1", width=0.25) < n_params("mobilenet_v1", width=0.5) < n_params("mobilenet_v1")


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
    with pytest.raises(
        RuntimeError, match=r"(?s)No pretrained weights for mobilenet_v3_small.*network is unreachable.*mirror"
    ):
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
    print(
        f"MobileNetV2 ({source}) top-1 on {len(val)} Imagenette val images: {100 * top1:.1f} % "
        "(published 72.2 % on all 3,925)"
    )
    assert top1 >= 0.68
