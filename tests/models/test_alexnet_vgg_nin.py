"""AlexNet, ZFNet, VGG and NiN: parameter counts, the seed's VGG code, LRN, groups, minimum input sizes.

Agreement with torchvision: ``test_torchvision.py``; clear input errors: ``test_inputs.py``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import cnnlib
from cnnlib.models import alexnet as alexnet_module
from cnnlib.models import build_on_meta
from cnnlib.models import vgg as vgg_module
from cnnlib.testing import assert_close_up_to_rounding, randomise_batch_norm


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count(name: str, **kwargs) -> int:
    return n_params(build_on_meta(name, **kwargs))


# --------------------------------------------------------------------------- parameter counts


@pytest.mark.parametrize(
    "name, kwargs, params",
    [
        # seed 002's one-tower AlexNet table (227x227, 96-256-384-384-256), REFERENCES.md
        ("alexnet_paper", {}, 62_378_344),
        ("alexnet_paper", {"lrn": True}, 62_378_344),  # LRN has no parameters
        # the paper's two GPU towers: Caffe bvlc_alexnet's 60,965,224 (e.g. HewlettPackard/dlcookbook-dlbs model table)
        ("alexnet_paper", {"groups": 2, "lrn": True}, 60_965_224),
        ("alexnet", {}, 61_100_840),  # torchvision 0.29 AlexNet_Weights.IMAGENET1K_V1.meta (REFERENCES.md)
        # ZFNet: not stated in Zeiler & Fergus 2013; computed from Fig. 3, equal to osmr/imgclsmob's zfnet (62,357,608)
        ("zfnet", {}, 62_357_608),
        ("alexnet_cifar", {}, 4_816_714),  # computed: our CIFAR adaptation, no published figure
        # torchvision 0.29 VGG*_Weights.IMAGENET1K_V1.meta (REFERENCES.md)
        ("vgg11", {}, 132_863_336),
        ("vgg11_bn", {}, 132_868_840),
        ("vgg13", {}, 133_047_848),
        ("vgg13_bn", {}, 133_053_736),
        ("vgg16", {}, 138_357_544),
        ("vgg16_bn", {}, 138_365_992),
        ("vgg19", {}, 143_667_240),
        ("vgg19_bn", {}, 143_678_248),
        # A-LRN and C: computed (torchvision lacks them); the paper's Table 2 rounds them to 133 M and 134 M
        ("vgg11_lrn", {}, 132_863_336),
        ("vgg11_lrn_bn", {}, 132_868_840),
        ("vgg16_c", {}, 133_638_952),  # B + conv1-256 (65,792) + 2 x conv1-512 (262,656 each)
        ("vgg16_c_bn", {}, 133_647_400),
        # CIFAR VGGs (GAP + one linear layer): the figures widely reported for kuangliu/pytorch-cifar's VGG11/VGG16
        ("vgg11_bn_cifar", {}, 9_231_114),
        ("vgg16_bn_cifar", {}, 14_728_266),
        # NiN CIFAR-10 reference Caffe model (192-160-96, 192-192-192, 192-192-10): osmr/imgclsmob's nin_cifar10
        # lists the same 966,986 ("about 0.97 M")
        ("nin_cifar", {}, 966_986),
        # NiN ImageNet reference Caffe model (Model Zoo "NIN-Imagenet"): computed from its layer table, not published
        ("nin_imagenet", {}, 7_595_176),
    ],
)
def test_parameter_counts(name, kwargs, params):
    assert count(name, **kwargs) == params


def test_vgg_counts_round_to_the_papers_table_2():
    """Simonyan & Zisserman, Table 2: A, A-LRN, B, C, D, E have 133, 133, 133, 134, 138, 144 million parameters."""
    names = ["vgg11", "vgg11_lrn", "vgg13", "vgg16_c", "vgg16", "vgg19"]
    assert [round(count(n) / 1e6) for n in names] == [133, 133, 133, 134, 138, 144]


def test_alexnet_paper_layer_table_matches_the_seed():
    """Every row of seed 002's AlexNet table: parameters per layer and the output shape."""
    model = build_on_meta("alexnet_paper")
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.classifier if isinstance(m, nn.Linear)]
    assert [n_params(m) for m in convs] == [34_944, 614_656, 885_120, 1_327_488, 884_992]
    assert [n_params(m) for m in linears] == [37_752_832, 16_781_312, 4_097_000]
    shapes, x = [], torch.zeros(1, 3, 227, 227, device="meta")
    for layer in model.features:
        x = layer(x)
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [
        (96, 55, 55),
        (96, 27, 27),
        (256, 27, 27),
        (256, 13, 13),
        (384, 13, 13),
        (384, 13, 13),
        (256, 13, 13),
        (256, 6, 6),
    ]


def test_zfnet_map_sizes_follow_fig_3():
    """Zeiler & Fergus 2013, Fig. 3: 110 -> 55 -> 26 -> 13 -> 13 -> 13 -> 13 -> 6."""
    model = build_on_meta("zfnet")
    sizes, x = [], torch.zeros(1, 3, 224, 224, device="meta")
    for layer in model.features:
        x = layer(x)
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
            sizes.append(x.shape[-1])
    assert sizes == [110, 55, 26, 13, 13, 13, 13, 6]
    conv1, conv2 = [m for m in model.features if isinstance(m, nn.Conv2d)][:2]
    assert (conv1.kernel_size, conv1.stride, conv2.kernel_size, conv2.stride) == ((7, 7), (2, 2), (5, 5), (2, 2))


# --------------------------------------------------------------------------- AlexNet's two GPU towers and LRN


def test_grouped_convolutions_halve_conv2_conv4_conv5():
    one = build_on_meta("alexnet_paper")
    two = cnnlib.get_model("alexnet_paper", groups=2)
    convs1 = [m for m in one.features if isinstance(m, nn.Conv2d)]
    convs2 = [m for m in two.features if isinstance(m, nn.Conv2d)]
    assert [c.groups for c in convs2] == [1, 2, 1, 2, 2]  # paper Sec. 3.2: conv2, conv4, conv5 stay on their GPU
    saved = sum(c1.weight.numel() - c2.weight.numel() for c1, c2 in zip(convs1, convs2))
    assert saved == (96 * 256 * 25 + 384 * 384 * 9 + 384 * 256 * 9) // 2 == 1_413_120
    assert n_params(one) - n_params(two) == saved
    # a grouped conv is two independent half-convolutions: the second tower ignores the first half of the input
    conv = convs2[1].eval()
    x = torch.randn(1, 96, 13, 13)
    y = conv(x)
    x2 = x.clone()
    x2[:, :48] = 0  # change only the first tower's input maps
    y2 = conv(x2)
    # exact: the second group's convolution never reads the first half; the first half's outputs move by O(1)
    assert torch.equal(y[:, 128:], y2[:, 128:]) and not torch.allclose(y[:, :128], y2[:, :128])


def paper_lrn(a: torch.Tensor, k=2.0, n=5, alpha=1e-4, beta=0.75) -> torch.Tensor:
    """Krizhevsky et al. 2012, Sec. 3.3 (seed 002's formula), written as a loop over channels."""
    N = a.shape[1]
    b = torch.empty_like(a)
    for i in range(N):
        lo, hi = max(0, i - n // 2), min(N - 1, i + n // 2)
        b[:, i] = a[:, i] / (k + alpha * (a[:, lo : hi + 1] ** 2).sum(1)) ** beta
    return b


def test_lrn_module_equals_the_papers_formula():
    torch.manual_seed(0)
    a = torch.rand(2, 12, 5, 5) * 30  # large activations, so the normalisation is far from the identity
    lrn = alexnet_module.local_response_norm()
    # the module (average pool of squares, times alpha * n) and the loop round differently; each output sums
    # n = 5 squares, then a power and a division add a few roundings: terms = 5 (safety 8 covers the rest)
    assert_close_up_to_rounding(lrn(a), paper_lrn(a), terms=5, what="LRN module and the paper's formula")
    assert not torch.allclose(
        lrn(a), a / 2.0**0.75
    )  # not just the constant k term: the sum moves outputs by up to 11 %


def test_lrn_on_and_off():
    off = cnnlib.get_model("alexnet_paper").eval()
    on = cnnlib.get_model("alexnet_paper", lrn=True).eval()
    lrn_after = [
        type(on.features[i - 1]).__name__ for i, m in enumerate(on.features) if isinstance(m, nn.LocalResponseNorm)
    ]
    assert lrn_after == ["ReLU", "ReLU"]  # after the ReLUs of conv1 and conv2, before pooling (Sec. 3.3)
    assert not any(isinstance(m, nn.LocalResponseNorm) for m in off.modules())
    convs_on = [m for m in on.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    convs_off = [m for m in off.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for m_on, m_off in zip(convs_on, convs_off):  # same weights, only the normalisation differs
        m_on.load_state_dict(m_off.state_dict())
    x = torch.randn(1, 3, 227, 227) * 50
    with torch.no_grad():
        assert not torch.allclose(on(x), off(x))  # LRN on 50x inputs changes the logits by O(1), far more than rounding
    zf = build_on_meta("zfnet", lrn=True)
    after = [
        type(zf.features[i - 1]).__name__ for i, m in enumerate(zf.features) if isinstance(m, nn.LocalResponseNorm)
    ]
    assert after == ["MaxPool2d", "MaxPool2d"]  # ZFNet normalises after pooling (Fig. 3 caption)
    vgg = build_on_meta("vgg11_lrn")
    assert isinstance(vgg.features[2], nn.LocalResponseNorm)  # A-LRN: right after conv3-64 and its ReLU


# --------------------------------------------------------------------------- seed 002's VGG code


class SeedVGG(nn.Module):
    """Seed 002's VGG class, re-typed. Two slide typos fixed: the init loop is named ``_initialize_weights``
    (the slide titles it ``__init__``) and ``forward`` is a method (the slide dedents it after ``cfg``)."""

    def __init__(self, features, num_classes=1000):
        super(SeedVGG, self).__init__()
        self.features = features
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.features(x)
        x = x.view(x.size(0), -1)
        x = self.classifier(x)
        return x


seed_cfg = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
}


def make_layers(cfg, batch_norm=False):  # seed 002, as given
    layers = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
        else:
            conv2d = nn.Conv2d(in_channels, v, kernel_size=3, padding=1)
            if batch_norm:
                layers += [conv2d, nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            else:
                layers += [conv2d, nn.ReLU(inplace=True)]
            in_channels = v
    return nn.Sequential(*layers)


@pytest.mark.parametrize("cfg, batch_norm", [("A", False), ("A", True), ("B", False), ("B", True)])
def test_seed_make_layers_equals_our_features(cfg, batch_norm):
    assert vgg_module.cfgs[cfg] == seed_cfg[cfg]
    torch.manual_seed(0)
    ours = randomise_batch_norm(vgg_module.make_layers(vgg_module.cfgs[cfg], batch_norm=batch_norm))
    seed = make_layers(seed_cfg[cfg], batch_norm=batch_norm)
    seed.load_state_dict(ours.state_dict(), strict=True)
    ours.eval(), seed.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(ours(x), seed(x))  # exact: the same layers run the same operations in the same order


def test_seed_vgg11_equals_ours_at_224():
    """The whole seed model (no average pool: its classifier needs 224 x 224) against our vgg11."""
    torch.manual_seed(0)
    seed = SeedVGG(make_layers(seed_cfg["A"])).eval()
    ours = build_on_meta("vgg11").to_empty(device="cpu")
    ours.load_state_dict(seed.state_dict(), strict=True)  # the same keys, both ways
    ours.eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        # exact: the same layers run the same operations; our extra AdaptiveAvgPool2d(7) on the 7x7 map averages
        # single values (x / 1), and flatten is the seed's view
        assert torch.equal(ours(x), seed(x))


def test_config_c_has_1x1_convolutions():
    convs = [m for m in build_on_meta("vgg16_c").features if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size[0] for c in convs] == [3, 3, 3, 3, 3, 3, 1, 3, 3, 1, 3, 3, 1]
    assert len(convs) + 3 == 16  # "16 weight layers" (Table 1)


# --------------------------------------------------------------------------- NiN


def test_nin_cifar_class_maps_and_global_average_pooling():
    model = cnnlib.get_model("nin_cifar").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        maps = model.class_maps(model.forward_features(x))
        assert maps.shape == (2, 10, 8, 8)
        # logits are the maps' averages; AdaptiveAvgPool2d and mean may sum the 8 x 8 values in another order
        assert_close_up_to_rounding(
            model(x), maps.mean((2, 3)), terms=8 * 8, what="NiN logits and the class maps' means"
        )
    assert not any(isinstance(m, nn.Linear) for m in model.modules())  # no fully connected layer at all


@pytest.mark.parametrize("name", ["alexnet", "nin_cifar", "nin_imagenet"])
def test_min_size_is_tight(name):
    """The input check's minimum is exactly the smallest size PyTorch can push through the layers."""
    model = cnnlib.get_model(name).eval()
    s = model.min_size
    with torch.no_grad():
        model.features(torch.zeros(1, 3, s, s))
        with pytest.raises(RuntimeError):
            model.features(torch.zeros(1, 3, s - 1, s - 1))
