"""ResNet family and highway networks: counts, the seed's snippets, residual gradients, stochastic
depth in ResNet-110, highway gates. No downloads; small inputs.

Agreement with torchvision: ``test_torchvision.py``; clear input errors: ``test_inputs.py``; the
stochastic-depth module itself: ``test_blocks.py``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import cnnlib
from cnnlib.chapters.ch07_after_resnet.se import SeedSELayer  # the seed's SELayer, transcribed once
from cnnlib.models import build_on_meta
from cnnlib.models.blocks import StochasticDepth
from cnnlib.models.highway import HighwayConv2d, HighwayLinear, HighwayMLP, highway
from cnnlib.models.resnet import BasicBlock, Bottleneck, CifarResNet, PreActBasicBlock
from cnnlib.testing import accumulated_terms, assert_close_up_to_rounding, randomise_batch_norm


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """On a busy 2-core machine two intra-op threads wait for each other: ResNet-110 at 8x8 takes
    2 s per forward with 2 threads and 0.02 s with 1. Restored after this module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------
# Parameter counts
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, params",
    [
        # torchvision 0.29 *_Weights.meta["num_params"] (REFERENCES.md); also checked below by strict loading
        ("resnet18", 11_689_512),
        ("resnet34", 21_797_672),
        ("resnet50", 25_557_032),
        ("resnet101", 44_549_160),
        ("resnet152", 60_192_808),
        ("resnext50_32x4d", 25_028_904),
        # timm seresnet50 (Hu et al. 2018, SE-ResNet-50, r = 16): 25,557,032 + 2,530,992 in the SE blocks
        ("se_resnet50", 28_088_024),
        # He et al. 2015, Table 2 plain nets: ResNet minus the option-B projections (our count)
        ("plain18", 11_515_688),
        ("plain34", 21_623_848),
        # He et al. 2015, Table 6, option A (paper rounds: 0.27, 0.46, 0.66, 0.85, 1.7, 19.4 M)
        ("resnet20", 269_722),
        ("resnet32", 464_154),
        ("resnet44", 658_586),
        ("resnet56", 853_018),
        ("resnet110", 1_727_962),  # 1,730,714 is the count with 1x1-conv+BN projections, not option A
        ("resnet1202", 19_421_274),
        ("plain110", 1_727_962),
        ("resnet110_stochastic_depth", 1_727_962),  # Huang et al. 2016: same net, different training
        # He et al. 2016 (Identity Mappings): ResNet-164 1.7 M, ResNet-1001 10.2 M (paper, Table 4)
        ("preact_resnet20", 269_722),
        ("preact_resnet110", 1_727_962),
        ("preact_resnet164", 1_703_258),
        ("preact_resnet1001", 10_327_706),
        # our CIFAR-scale adaptations (docstrings)
        ("se_resnet20", 272_095),
        ("resnext29_cifar", 1_717_578),
        # Srivastava et al. 2015: 19 layers 2.3 M, 32 layers 1.25 M (our adaptation, module docstring)
        ("highway19", 2_262_714),
        ("highway32", 1_280_122),
    ],
)
def test_parameter_counts(name, params):
    assert n_params(build_on_meta(name)) == params


def test_counts_from_the_architecture():
    """Where the counts come from: the SE blocks of SE-ResNet-50 and the projections of ResNet-18."""
    se = sum(2 * c * c // 16 + c // 16 + c for c, n in ((256, 3), (512, 4), (1024, 6), (2048, 3)) for _ in range(n))
    assert 25_557_032 + se == 28_088_024
    projections = sum(c_in * c_out + 2 * c_out for c_in, c_out in ((64, 128), (128, 256), (256, 512)))
    assert 11_689_512 - projections == 11_515_688
    # option B on CIFAR ResNet-110: two 1x1 conv + BN projections on top of option A
    assert 1_727_962 + (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64) == 1_730_714


# ---------------------------------------------------------------------------------------
# The seed's snippets (seed 002), re-typed
# ---------------------------------------------------------------------------------------


def conv3x3(in_planes, out_planes, stride=1):
    """The helper the seed's BasicBlock uses (torchvision's resnet.py of that time)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class SeedBasicBlock(nn.Module):  # building block ResNet 34 - не bottleneck
    """Seed 002's BasicBlock as given (its ``return out`` is one indentation level too far left
    in the seed, a syntax error; re-typed inside ``forward``)."""

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super(SeedBasicBlock, self).__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        residual = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.downsample is not None:
            residual = self.downsample(x)
        out += residual
        out = self.relu(out)
        return out


@pytest.mark.parametrize("stage", ["layer1.1", "layer2.0"])  # identity shortcut; stride 2 + projection
def test_basic_block_equals_the_seed_snippet(stage):
    gen = torch.Generator().manual_seed(1)
    block = dict(cnnlib.get_model("resnet18").named_modules())[stage]
    randomise_batch_norm(block, gen)
    in_planes, planes, stride = block.conv1.in_channels, block.conv1.out_channels, block.conv1.stride[0]
    # the seed's downsample snippet: 1x1 conv with stride + BN
    downsample = None
    if stride != 1 or in_planes != planes * SeedBasicBlock.expansion:
        downsample = nn.Sequential(
            nn.Conv2d(in_planes, planes * SeedBasicBlock.expansion, kernel_size=1, stride=stride, bias=False),
            nn.BatchNorm2d(planes * SeedBasicBlock.expansion),
        )
    seed = SeedBasicBlock(in_planes, planes, stride, downsample)
    seed.load_state_dict(block.state_dict(), strict=True)  # same names: conv1, bn1, ..., downsample.0/1
    block.eval(), seed.eval()
    x = torch.randn(2, in_planes, 16, 16, generator=gen)
    with torch.no_grad():  # exact: the same layers run the same operations (out + identity is out += residual)
        assert torch.equal(block(x), seed(x.clone()))


def test_squeeze_excitation_equals_the_seed_selayer():
    block = cnnlib.get_model("se_resnet50").layer1[0].se  # 256 channels, r = 16
    seed = SeedSELayer(256, reduction=16)
    with torch.no_grad():
        seed.fc[0].weight.copy_(block.fc1.weight.flatten(1))
        seed.fc[2].weight.copy_(block.fc2.weight.flatten(1))
        block.fc1.bias.zero_(), block.fc2.bias.zero_()  # the seed's layers have no bias
        x = torch.randn(2, 256, 5, 5)
        # 1x1 convolutions against nn.Linear (other kernels): rounding of the 5 x 5 average and both layers' sums
        assert_close_up_to_rounding(
            block(x), seed(x), terms=5 * 5 + accumulated_terms(seed), what="our SE block and the seed's SELayer"
        )


def test_se_sits_on_the_residual_branch():
    """With every SE scale at 1, SE-ResNet-50 is ResNet-50: the SE block only re-weights the branch."""
    plain_se = cnnlib.get_model("se_resnet50").eval()
    res = cnnlib.get_model("resnet50").eval()
    missing, unexpected = plain_se.load_state_dict(res.state_dict(), strict=False)
    assert not unexpected and all(".se." in k for k in missing) and len(missing) == 4 * 16
    with torch.no_grad():
        for m in plain_se.modules():
            if isinstance(m, Bottleneck):
                m.se.fc2.weight.zero_(), m.se.fc2.bias.fill_(40.0)  # sigmoid(40) = 1 in float32
        x = torch.randn(1, 3, 64, 64)
        # the SE scales are 1.0, so this is likely exact; compared up to rounding through the whole network, so
        # that a sigmoid that rounds to 1 - 2^-24 on some CPU does not fail it
        assert_close_up_to_rounding(
            plain_se(x), res(x), terms=accumulated_terms(res), what="SE-ResNet-50 with unit scales and ResNet-50"
        )


def test_resnext_uses_grouped_3x3():
    model = build_on_meta("resnext50_32x4d")
    conv = model.layer1[0].conv2
    assert conv.groups == 32 and conv.in_channels == 128  # planes 64 * 4/64 * 32
    assert build_on_meta("resnext29_cifar").layer1[0].conv2.groups == 8


# ---------------------------------------------------------------------------------------
# The identity path: gradients and zero-init
# ---------------------------------------------------------------------------------------


def test_gradient_through_f_of_x_plus_x():
    """A pre-activation unit is y = x + F(x) exactly, so dL/dx = dL/dy * F'(x) + dL/dy."""
    torch.manual_seed(0)
    unit = PreActBasicBlock(4, 4).eval()
    x = torch.randn(2, 4, 6, 6, requires_grad=True)
    g = torch.randn(2, 4, 6, 6)

    def branch(inp):  # F(x) computed by hand from the unit's layers
        out = unit.conv1(torch.relu(unit.bn1(inp)))
        return unit.conv2(torch.relu(unit.bn2(out)))

    (grad_y,) = torch.autograd.grad((unit(x) * g).sum(), x)
    (grad_f,) = torch.autograd.grad((branch(x) * g).sum(), x)
    # autograd may sum the two paths' gradients in another order: rounding of the branch's two convolutions
    assert_close_up_to_rounding(
        grad_y, grad_f + g, terms=accumulated_terms(unit), what="gradient of x + F(x) and dL/dy F'(x) + dL/dy"
    )
    assert not torch.allclose(grad_f, torch.zeros_like(grad_f))  # F's own gradient is O(1), not rounding noise


def test_zero_init_residual_blocks_start_as_identity():
    """Goyal et al. 2017: with the last BN's gamma at 0 a block is relu(x); the gradient reaches x
    through the shortcut, whereas the plain block with the same weights passes nothing back."""
    model = cnnlib.get_model("resnet18", zero_init_residual=True).eval()
    assert all(not b.bn2.weight.any() for b in model.modules() if isinstance(b, BasicBlock))
    block = model.layer1[0]
    x = torch.randn(2, 64, 8, 8, requires_grad=True)
    y = block(x)
    assert torch.equal(y, torch.relu(x))
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert torch.equal(grad, (x > 0).float())
    block.residual = False  # the plain twin
    (grad_plain,) = torch.autograd.grad(block(x).sum(), x)
    assert grad_plain.abs().sum() == 0
    assert all(isinstance(m, Bottleneck) and not m.bn3.weight.any()
               for m in cnnlib.get_model("resnet50", zero_init_residual=True).layer1)  # fmt: skip


def test_plain_imagenet_nets_have_no_shortcuts():
    model = build_on_meta("plain18")
    assert not any("downsample" in k for k in model.state_dict())
    assert all(not b.residual for b in model.modules() if isinstance(b, BasicBlock))


# ---------------------------------------------------------------------------------------
# Stochastic depth
# ---------------------------------------------------------------------------------------


def test_stochastic_depth_linear_decay():
    model = cnnlib.get_model("resnet110_stochastic_depth")
    drops = [b.drop for b in model.modules() if isinstance(b, BasicBlock)]
    probs = torch.tensor([d.survival_prob for d in drops])
    L = 54
    assert len(drops) == L
    # p_l = 1 - l/L (1 - p_L); values in [0.5, 1], computed in float64 or float32: allclose's rtol 1e-5 is ~100 ulps
    assert torch.allclose(probs, 1 - torch.arange(1, L + 1) / L * 0.5, atol=1e-7)
    assert probs[-1] == pytest.approx(0.5)


def test_resnet_stochastic_depth_is_the_papers_form():
    """Huang et al.: the whole mini-batch's branch at once, no rescaling in training, times p_l at test time."""
    drops = [b.drop for b in cnnlib.get_model("resnet110_stochastic_depth").modules() if isinstance(b, BasicBlock)]
    assert all(isinstance(d, StochasticDepth) and d.mode == "batch" and not d.inverted for d in drops)
    assert all(b.drop is None for b in cnnlib.get_model("resnet110").modules() if isinstance(b, BasicBlock))


def test_stochastic_depth_eval_is_the_expectation_scaled_network():
    """In eval mode the network equals ResNet-110 whose every branch is scaled by p_l,
    i.e. whose last BN (gamma, beta) is multiplied by p_l."""
    torch.manual_seed(0)
    sd = cnnlib.get_model("resnet110_stochastic_depth")
    ref = cnnlib.get_model("resnet110")
    ref.load_state_dict(sd.state_dict(), strict=True)  # ResidualDrop holds no parameters
    gen = torch.Generator().manual_seed(0)
    randomise_batch_norm(sd, gen)
    ref.load_state_dict(sd.state_dict())
    with torch.no_grad():
        blocks_ref = [m for m in ref.modules() if isinstance(m, BasicBlock)]
        for b_sd, b_ref in zip([m for m in sd.modules() if isinstance(m, BasicBlock)], blocks_ref, strict=True):
            b_ref.bn2.weight.mul_(b_sd.drop.survival_prob)
            b_ref.bn2.bias.mul_(b_sd.drop.survival_prob)
    sd.eval(), ref.eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        a, b = sd(x), sd(x)
        assert torch.equal(a, b)  # deterministic
        # scaling the branch's output by p_l and scaling its BN's gamma and beta by p_l round differently
        assert_close_up_to_rounding(
            a, ref(x), terms=accumulated_terms(ref), what="stochastic depth in eval mode and the p_l-scaled ResNet-110"
        )
        sd.train()
        torch.manual_seed(1)
        drop = sd(x)
        # training mode drops blocks: the outputs move by O(1) of their size, far above 1e-3 of it
        assert (drop - a).abs().max() > 1e-3 * a.abs().max()


def test_stochastic_depth_gives_every_parameter_a_gradient():
    """Design choice: a dropped branch is multiplied by 0, not skipped, so its parameters get a
    zero gradient (the generic registry test demands a gradient for every parameter)."""
    model = CifarResNet(2, num_classes=3, stochastic_depth_prob=0.9).train()  # most blocks dropped
    torch.manual_seed(0)
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


# ---------------------------------------------------------------------------------------
# Highway
# ---------------------------------------------------------------------------------------


def test_highway_conv_gate_formula_on_a_tiny_input():
    layer = HighwayConv2d(1, kernel_size=1)
    with torch.no_grad():
        layer.transform.weight.fill_(2.0), layer.transform.bias.fill_(-1.0)  # H = relu(2x - 1)
        layer.gate.weight.fill_(1.0), layer.gate.bias.fill_(-2.0)  # T = sigmoid(x - 2)
    x = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    h = torch.tensor([[[[0.0, 1.0], [3.0, 5.0]]]])
    t = torch.sigmoid(x - 2)
    expected = h * t + x * (1 - t)
    # the layer may order the gate formula's products and sums otherwise: rounding of its two 1x1 convolutions
    assert_close_up_to_rounding(
        layer(x), expected, terms=accumulated_terms(layer), what="highway layer and h t + x (1 - t)"
    )
    assert torch.allclose(
        layer.transform_gate(x), t
    )  # 1 * x - 2 is exact, then the same sigmoid; rtol 1e-5 is ~100 ulps
    assert layer.last_gate_mean.shape == (1,) and layer.last_gate_mean.item() == pytest.approx(t.mean().item())
    # T = 0 carries, T = 1 transforms
    assert torch.equal(highway(h, torch.zeros_like(t), x), x) and torch.equal(highway(h, torch.ones_like(t), x), h)


def test_highway_linear_and_mlp_gates():
    layer = HighwayLinear(3)
    x = torch.randn(4, 3)
    t = torch.sigmoid(layer.gate(x))
    # the layer may order the gate formula's products and sums otherwise: rounding of its two linear layers
    expected = torch.relu(layer.transform(x)) * t + x * (1 - t)
    assert_close_up_to_rounding(
        layer(x), expected, terms=accumulated_terms(layer), what="highway linear layer and its formula"
    )
    mlp = HighwayMLP(num_highway_layers=4, width=8, gate_bias=-3.0)
    with torch.no_grad():
        for m in mlp.modules():
            if isinstance(m, HighwayLinear):
                m.gate.weight.zero_()
        mlp(torch.randn(5, 1, 28, 28))
    means = mlp.gate_means()
    # every gate is sigmoid(-3); their mean rounds by a few ulps, well inside allclose's rtol 1e-5
    assert len(means) == 4 and all(torch.allclose(m, torch.sigmoid(torch.tensor(-3.0))) for m in means)
    assert mlp(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_highway_net_gate_bias_and_gate_means():
    model = cnnlib.get_model("highway32", gate_bias=-3.0).eval()
    gates = [m for m in model.modules() if isinstance(m, HighwayConv2d)]
    assert len(gates) == 28  # 10 + 9 + 9 highway layers
    assert all(torch.all(g.gate.bias == -3.0) for g in gates)
    with pytest.raises(RuntimeError, match="forward pass first"):
        model.gate_means()
    with torch.no_grad():
        model(torch.randn(2, 3, 32, 32))
    means = model.gate_means()
    assert [m.numel() for m in means] == [16] * 10 + [32] * 9 + [80] * 9
    assert float(torch.cat(means).mean()) < 0.5  # negative bias: mostly carrying at init
    plain = cnnlib.get_model("highway19", highway=False)
    assert not any(isinstance(m, HighwayConv2d) for m in plain.modules())


# ---------------------------------------------------------------------------------------
# Clear errors of the blocks and models outside the registry (the registry's: test_inputs.py)
# ---------------------------------------------------------------------------------------


def test_highway_mlp_wrong_size():
    with pytest.raises(ValueError, match="expects 28x28 images; got 32x32"):
        HighwayMLP()(torch.zeros(1, 1, 32, 32))


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="no grouped version"):
        BasicBlock(8, 8, groups=2)
    with pytest.raises(ValueError, match="shortcut option"):
        cnnlib.models.resnet.make_shortcut(8, 16, 2, "C")
    with pytest.raises(ValueError, match="needs an odd kernel"):
        HighwayConv2d(4, kernel_size=2)


def test_registry_lists_the_family():
    assert {"resnet18", "resnet152", "plain34", "resnext50_32x4d", "se_resnet50"} <= set(
        cnnlib.list_models(scale="imagenet")
    )
    assert {"resnet110", "preact_resnet164", "highway19", "resnext29_cifar"} <= set(cnnlib.list_models(scale="cifar"))
    assert set(cnnlib.models.TORCHVISION_EQUIVALENTS) >= {
        "resnet18",
        "resnet34",
        "resnet50",
        "resnet101",
        "resnet152",
        "resnext50_32x4d",
    }
