"""GoogLeNet and the Inception family: published parameter counts, the auxiliary heads against
torchvision's in training mode, the seed's Table 1 (params and ops per row), the seed's
``Inception_base`` snippet and the v2/v3 factorisations.

Agreement with torchvision in eval mode: ``test_torchvision.py``; clear input errors: ``test_inputs.py``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.models as tvm

import cnnlib
from cnnlib.analysis.summary import count_mult_adds, layer_table
from cnnlib.models import build_on_meta
from cnnlib.models import googlenet as gn
from cnnlib.models import inception as inc
from cnnlib.testing import accumulated_terms, assert_close_up_to_rounding


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def n_params_meta(name: str, **kwargs) -> int:
    return n_params(build_on_meta(name, **kwargs))  # shapes only: no memory, no initialisation time


@pytest.mark.parametrize(
    "name, kwargs, published",
    [
        ("googlenet", {}, 6_624_904),  # torchvision GoogLeNet_Weights meta, without the aux heads (REFERENCES.md)
        ("googlenet", {"aux_logits": True}, 13_004_888),  # with the two aux heads (REFERENCES.md)
        ("inception_v3", {"aux_logits": True}, 27_161_264),  # torchvision Inception_V3_Weights meta (REFERENCES.md)
        ("inception_v4", {}, 42_679_816),  # timm inception_v4 (TF-Slim port), the widely used reference
        ("inception_resnet_v2", {}, 55_843_464),  # timm inception_resnet_v2 (TF-Slim port)
        ("inception_small_cifar", {}, 1_649_402),  # Zhang et al. 2017 (arXiv 1611.03530), Table 1, "Inception"
    ],
)
def test_parameter_counts(name, kwargs, published):
    assert n_params_meta(name, **kwargs) == published


def test_inception_v3_without_aux_head_matches_torchvision_count():
    with torch.device("meta"):
        theirs = tvm.inception_v3(weights=None, aux_logits=False, init_weights=False)
    assert n_params_meta("inception_v3") == n_params(theirs) == 23_834_568


def test_googlenet_aux_heads_equal_torchvision_in_training_mode():
    """Training mode, dropout off: main and both auxiliary logits equal torchvision's (batch-norm on batch
    statistics)."""
    torch.manual_seed(0)
    theirs = tvm.googlenet(weights=None, aux_logits=True, init_weights=False, dropout=0.0, dropout_aux=0.0).train()
    ours = gn.GoogLeNet(aux_logits=True, dropout=0.0, dropout_aux=0.0).train()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    out, ref = ours(x), theirs(x)
    assert isinstance(out, gn.GoogLeNetOutputs)
    terms = accumulated_terms(theirs)  # rounding through the whole network (an upper bound for the auxiliary heads)
    assert_close_up_to_rounding(
        out.logits, ref.logits, terms=terms, what="GoogLeNet main logits, ours and torchvision's"
    )
    # torchvision's tuple order is (main, aux2, aux1)
    assert_close_up_to_rounding(
        out.aux1, ref.aux_logits1, terms=terms, what="GoogLeNet aux1 logits, ours and torchvision's"
    )
    assert_close_up_to_rounding(
        out.aux2, ref.aux_logits2, terms=terms, what="GoogLeNet aux2 logits, ours and torchvision's"
    )


def test_inception_v3_aux_head_equals_torchvision_in_training_mode():
    torch.manual_seed(0)
    theirs = tvm.inception_v3(weights=None, aux_logits=True, init_weights=False, dropout=0.0).train()
    ours = cnnlib.get_model("inception_v3", aux_logits=True, dropout=0.0).train()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, 299, 299)  # the auxiliary head needs the full 17x17 grid
    out, ref = ours(x), theirs(x)
    assert isinstance(out, inc.InceptionOutputs)
    terms = accumulated_terms(theirs)  # rounding through the whole network (an upper bound for the auxiliary head)
    assert_close_up_to_rounding(
        out.logits, ref.logits, terms=terms, what="Inception-v3 main logits, ours and torchvision's"
    )
    assert_close_up_to_rounding(
        out.aux_logits, ref.aux_logits, terms=terms, what="Inception-v3 aux logits, ours and torchvision's"
    )


def test_googlenet_aux_outputs_and_loss():
    model = cnnlib.get_model("googlenet", num_classes=5, aux_logits=True)
    x, target = torch.randn(2, 3, 32, 32), torch.tensor([1, 3])
    out = model.train()(x)
    assert isinstance(out, gn.GoogLeNetOutputs) and all(t.shape == (2, 5) for t in out)
    loss = gn.googlenet_loss(out, target)
    expected = F.cross_entropy(out.logits, target) + 0.3 * (
        F.cross_entropy(out.aux1, target) + F.cross_entropy(out.aux2, target)
    )
    assert torch.equal(loss, expected)  # exact: googlenet_loss runs these very operations in this order
    loss.backward()
    assert model.aux1.fc2.weight.grad is not None and model.aux2.fc2.weight.grad is not None
    assert gn.AUX_LOSS_WEIGHT == 0.3  # the paper, Sec. 5
    with torch.no_grad():
        assert isinstance(model.eval()(x), torch.Tensor)  # aux heads are for training only


# --------------------------------------------------------------------------------------------
# Seed 002's copy of Table 1: per-row parameters (K = 1024 weights) and ops (M = 10^6 multiply-adds)

#        our modules            paper params (K)  paper ops (M)
SEED_TABLE = [
    (("conv2", "conv3"), 112, 360),  # "convolution 3x3/1, depth 2": the 1x1 reduce + the 3x3
    (("inception3a",), 159, 128),
    (("inception3b",), 380, 304),
    (("inception4a",), 364, 73),
    (("inception4b",), 437, 88),
    (("inception4c",), 463, 100),
    (("inception4d",), 580, 119),
    (("inception4e",), 840, 170),
    (("inception5a",), 1072, 54),
    (("inception5b",), 1388, 71),
    (("fc",), 1000, 1),
]
# Rows whose printed params the paper's own channel columns do not give (its errata):
# our count from the channel columns, and the paper's ops column confirms it (ops = params x H x W).
PARAM_ERRATA = {"inception4a", "inception4c", "inception4d", "inception4e", "inception5a", "inception5b"}


@pytest.fixture(scope="module")
def paper_table():
    model = cnnlib.get_model("googlenet_paper")
    return model, layer_table(model, (3, 224, 224), leaves_only=False, depth=1)


def test_seed_table_ops_and_params_per_row(paper_table):
    model, table = paper_table
    modules = dict(model.named_modules())
    for names, paper_k, paper_m in SEED_TABLE:
        weights = sum(p.numel() for n in names for k, p in modules[n].named_parameters() if k.endswith("weight"))
        ops = sum(table[n].mult_adds for n in names)
        assert sum(table[n].params for n in names) == sum(p.numel() for n in names for p in modules[n].parameters())
        if names[0] != "inception5a":  # the paper prints 54M = its 1072K x 7 x 7: consistent with its typo
            assert abs(ops / 1e6 - paper_m) < 1, (names, ops, paper_m)
        if names[0] in PARAM_ERRATA:
            assert abs(weights / 1024 - paper_k) > 1.5, f"{names}: no longer an erratum?"
            h, w = table[names[0]].output_shape[1:]
            if names[0] != "inception5a":  # the paper's ops column implies our weight count
                assert abs(paper_m * 1e6 / (h * w) - weights) <= 1e6 / (h * w)
        else:
            assert abs(weights / 1024 - paper_k) <= 1, (names, weights / 1024, paper_k)  # the paper's rounding
    # the first row (2.7K, 34M) is inconsistent in the paper; the formula: 7*7*3*64 weights at 112x112
    assert modules["conv1"].conv.weight.numel() == 7 * 7 * 3 * 64 == 9_408
    assert table["conv1"].mult_adds == 9_408 * 112 * 112
    assert table["conv1"].output_shape == (64, 112, 112) and table["inception5b"].output_shape == (1024, 7, 7)
    assert table["fc"].params == 1_025_000


# --------------------------------------------------------------------------------------------
# Seed 002's Inception_base, re-typed as given (``layer_init`` is not shown in the seed: any init
# will do, the weights are overwritten)


def layer_init(m):
    if isinstance(m, nn.Conv2d):
        nn.init.xavier_uniform_(m.weight)
        nn.init.zeros_(m.bias)


class Inception_base(nn.Module):
    def __init__(self, depth_dim, input_size, config):
        super(Inception_base, self).__init__()
        self.depth_dim = depth_dim
        # 1x1
        self.conv1 = nn.Conv2d(input_size, out_channels=config[0][0], kernel_size=1, stride=1, padding=0)
        # 3x3_bottleneck + 3x3
        self.conv3_1 = nn.Conv2d(input_size, out_channels=config[1][0], kernel_size=1, stride=1, padding=0)
        self.conv3_3 = nn.Conv2d(config[1][0], config[1][1], kernel_size=3, stride=1, padding=1)
        # 5x5_bottleneck + 5x5
        self.conv5_1 = nn.Conv2d(input_size, out_channels=config[2][0], kernel_size=1, stride=1, padding=0)
        self.conv5_5 = nn.Conv2d(config[2][0], config[2][1], kernel_size=5, stride=1, padding=2)
        # maxpool + 1x1
        self.max_pool_1 = nn.MaxPool2d(kernel_size=config[3][0], stride=1, padding=1)
        self.conv_max_1 = nn.Conv2d(input_size, out_channels=config[3][1], kernel_size=1, stride=1, padding=0)
        self.apply(layer_init)

    def forward(self, input):
        output1 = F.relu(self.conv1(input))
        output2 = F.relu(self.conv3_1(input))
        output2 = F.relu(self.conv3_3(output2))
        output3 = F.relu(self.conv5_1(input))
        output3 = F.relu(self.conv5_5(output3))
        output4 = F.relu(self.conv_max_1(self.max_pool_1(input)))
        return torch.cat([output1, output2, output3, output4], dim=self.depth_dim)


SEED_TO_OURS = {
    "conv1": "branch1.conv",
    "conv3_1": "branch2.0.conv",
    "conv3_3": "branch2.1.conv",
    "conv5_1": "branch3.0.conv",
    "conv5_5": "branch3.1.conv",
    "conv_max_1": "branch4.1.conv",
}


def test_inception_module_equals_the_seed_snippet():
    # the seed's (3a): Inception_base(1, 192, [[64], [96,128], [16, 32], [3, 32]])
    seed = Inception_base(1, 192, [[64], [96, 128], [16, 32], [3, 32]])
    ours = gn.InceptionModule(
        in_channels=192, ch1x1=64, ch3x3_reduce=96, ch3x3=128, ch5x5_reduce=16, ch5x5=32, pool_proj=32, norm_layer=None
    )
    state = {}
    for key, value in seed.state_dict().items():
        layer, param = key.rsplit(".", 1)
        state[f"{SEED_TO_OURS[layer]}.{param}"] = value
    ours.load_state_dict(state, strict=True)
    x = torch.randn(2, 192, 12, 12)
    with torch.no_grad():  # exact: the same convolutions, ReLUs, max pool and concatenation, in the same order
        assert torch.equal(ours(x), seed(x))
    assert ours(x).shape == (2, 256, 12, 12)  # Table 1: 28x28x256 for (3a)


# --------------------------------------------------------------------------------------------
# Costs: the naive module, the 1x1 reductions, the v2/v3 factorisations


def test_naive_module_costs_more_than_the_reduced_one():
    """Figure 2(a) vs 2(b) with the widths of (3a) on its 28x28x192 input."""
    naive = gn.NaiveInceptionModule(in_channels=192, ch1x1=64, ch3x3=128, ch5x5=32)
    reduced = gn.InceptionModule(
        in_channels=192, ch1x1=64, ch3x3_reduce=96, ch3x3=128, ch5x5_reduce=16, ch5x5=32, pool_proj=32, norm_layer=None
    )
    naive_weights = 192 * 64 + 192 * 9 * 128 + 192 * 25 * 32  # 387,072
    reduced_weights = 192 * 64 + 192 * 96 + 96 * 9 * 128 + 192 * 16 + 16 * 25 * 32 + 192 * 32  # 163,328
    assert n_params(naive) == naive_weights + 64 + 128 + 32
    assert n_params(reduced) == reduced_weights + 64 + 96 + 128 + 16 + 32 + 32
    assert count_mult_adds(naive, (192, 28, 28)) == naive_weights * 28 * 28  # 303 M
    assert count_mult_adds(reduced, (192, 28, 28)) == reduced_weights * 28 * 28  # 128 M, Table 1
    assert naive(torch.zeros(1, 192, 8, 8)).shape[1] == 64 + 128 + 32 + 192  # the pool branch widens the output


def test_two_3x3_convs_replace_a_5x5():
    """Inception-v2/v3, Figure 5: two 3x3 convs (no activation between) are one 5x5 conv, with 18 instead of 25
    weights."""
    torch.manual_seed(0)
    a, b = nn.Conv2d(1, 1, 3, bias=False), nn.Conv2d(1, 1, 3, bias=False)
    five = nn.Conv2d(1, 1, 5, bias=False)
    with torch.no_grad():  # the composed kernel: the full 2-D convolution of the two 3x3 kernels
        five.weight.copy_(F.conv_transpose2d(b.weight, a.weight))
        x = torch.randn(1, 1, 12, 12)
        # the composed kernel is rounded, and the two routes sum in other orders: rounding of the 5x5's 25 terms
        assert_close_up_to_rounding(b(a(x)), five(x), terms=5 * 5, what="two 3x3 convolutions and the composed 5x5")
    block = inc.InceptionA(192, pool_features=32)
    assert block.branch3x3dbl_2.conv.kernel_size == block.branch3x3dbl_3.conv.kernel_size == (3, 3)
    c = 96  # for c -> c channels: 2 * 9 c^2 instead of 25 c^2, 28 % fewer
    assert n_params(nn.Conv2d(c, c, 3, bias=False)) * 2 / n_params(nn.Conv2d(c, c, 5, bias=False)) == 18 / 25


def test_1xn_then_nx1_replaces_nxn():
    """Figure 6: a 1x7 then a 7x1 conv cover a 7x7 field with 2 * 7 instead of 49 weights per channel pair."""
    block = inc.InceptionC(768, channels_7x7=128)
    assert block.branch7x7_2.conv.kernel_size == (1, 7) and block.branch7x7_3.conv.kernel_size == (7, 1)
    factorised = block.branch7x7_2.conv.weight.numel() + block.branch7x7_3.conv.weight.numel()
    assert factorised == 128 * 128 * 7 + 128 * 192 * 7
    full = 128 * 192 * 49  # one 7x7 conv from 128 to 192 channels
    assert factorised / full < 0.25
    # a rank-1 7x7 kernel is exactly a 1x7 followed by a 7x1 (single channel, no activation)
    torch.manual_seed(0)
    row, col = nn.Conv2d(1, 1, (1, 7), padding=(0, 3), bias=False), nn.Conv2d(1, 1, (7, 1), padding=(3, 0), bias=False)
    full_conv = nn.Conv2d(1, 1, 7, padding=3, bias=False)
    with torch.no_grad():
        full_conv.weight.copy_(col.weight.view(7, 1) @ row.weight.view(1, 7))
        x = torch.randn(1, 1, 16, 16)
        # rounding of the 7x7's 49 terms (the rank-1 kernel's products are rounded too)
        assert_close_up_to_rounding(col(row(x)), full_conv(x), terms=7 * 7, what="1x7 then 7x1 and the rank-1 7x7")


def test_inception_resnet_block_is_a_scaled_residual():
    block = inc.Block35(scale=0.17).eval()
    x = torch.randn(1, 320, 9, 9)
    with torch.no_grad():
        branches = torch.cat([block.branch0(x), block.branch1(x), block.branch2(x)], 1)
        # exact: Block35.forward runs these very operations (same branches, same scale, same order)
        assert torch.equal(block(x), F.relu(x + 0.17 * block.conv2d(branches)))
    assert [s for _, _, s in inc.IRV2_BLOCKS] == [0.17, 0.10, 0.20]  # the TF-Slim release's scales


def test_cifar_variants_keep_32x32_detail():
    gcifar = cnnlib.get_model("googlenet_cifar").eval()
    small = cnnlib.get_model("inception_small_cifar").eval()
    x = torch.zeros(1, 3, 32, 32)
    with torch.no_grad():
        features, small_features = gcifar.forward_features(x), small.forward_features(x)
        assert features.shape == (1, 1024, 8, 8) and small_features.shape == (1, 336, 7, 7)
        assert gcifar.forward_head(features).shape == small.forward_head(small_features).shape == (1, 10)
