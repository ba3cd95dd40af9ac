"""Chapter 07 (After ResNet): costs against formulas, the SE block, ResNeXt's forms, DenseNet, charts, checkers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
import torch.nn as nn

from cnnlib.analysis.summary import count_parameters
from cnnlib.chapters.ch07_after_resnet import charts, costs, dense, exercises, figures, se, tables
from cnnlib.chapters.ch07_after_resnet.aggregated import AggregatedWeights
from cnnlib.data import ImageTensors
from cnnlib.data.sources import DATASETS
from cnnlib.models import get_model
from cnnlib.models.blocks import SqueezeExcitation
from cnnlib.models.xception import SeparableConv2d


# --------------------------------------------------------------------------- costs
def test_cost_formulas_by_hand():
    assert costs.conv_cost(4, 8, 3, 5) == {"params": 4 * 8 * 9, "mult_adds": 4 * 8 * 9 * 25}
    assert costs.conv_cost(4, 8, 3, 5, groups=4) == {"params": 8 * 1 * 9, "mult_adds": 8 * 9 * 25}
    assert costs.separable_cost(4, 8, 3, 5) == {"params": 36 + 32, "mult_adds": (36 + 32) * 25}
    assert costs.separable_ratio(8, 3) == pytest.approx(68 / 288)
    with pytest.raises(ValueError, match="must divide"):
        costs.conv_cost(6, 8, 3, 5, groups=4)


def test_separable_rows_count_every_layer_and_equal_the_formula():
    model = get_model("xception_cifar", width=0.25)
    rows = costs.separable_rows(model, (3, 32, 32))
    assert len(rows) == sum(isinstance(m, SeparableConv2d) for m in model.modules())
    for r in rows:
        assert r["params"] == r["params_formula"] and r["mult_adds"] == r["mult_adds_formula"]
        assert r["ratio_counted"] == pytest.approx(r["ratio_formula"])
        assert r["ratio_counted"] < 0.2
    assert {r["size"] for r in rows} == {32, 16, 8, 4}  # the entry flow starts at full size


def test_flow_rows_add_up_to_the_model():
    model = get_model("xception_cifar", width=0.25)
    rows = costs.flow_rows(model, (3, 32, 32))
    assert [r["flow"] for r in rows] == ["stem", "entry flow", "middle flow", "exit flow", "head (pool, fc)"]
    assert sum(r["params"] for r in rows) == count_parameters(model)
    assert sum(r["params_share"] for r in rows) == pytest.approx(1.0)
    assert sum(r["mult_adds_share"] for r in rows) == pytest.approx(1.0)


def test_grouping_rows_fall_to_one_filter_per_channel():
    rows = costs.grouping_rows(channels=16, k=3, size=4)
    assert [r["groups"] for r in rows] == [1, 2, 4, 8, 16]
    params = [r["params"] for r in rows]
    assert params == sorted(params, reverse=True)
    assert rows[0]["spatial_params"] == 16 * 16 * 9 and rows[-1]["spatial_params"] == 16 * 9
    assert rows[-1]["params"] == 16 * 16 + 16 * 9


def test_equal_budget_rows_match_the_paper_formula_and_budget():
    rows = costs.equal_budget_rows()
    assert [r["label"] for r in rows] == ["1x64d", "2x40d", "4x24d", "8x14d", "32x4d"]
    for r in rows:
        assert r["params"] == r["params_formula"]
        assert abs(r["params"] - 69_632) / 69_632 < 0.03  # "about 70k", the same budget
        assert r["group_conv_width"] == r["cardinality"] * r["width"]


# --------------------------------------------------------------------------- SE
def test_se_formulas_agree_with_the_seed_code_and_cnnlib():
    torch.manual_seed(0)
    seed_layer = se.SeedSELayer(32, reduction=8)
    w1, w2 = seed_layer.fc[0].weight, seed_layer.fc[2].weight
    ours = SqueezeExcitation(32, 4)
    with torch.no_grad():
        ours.fc1.weight.copy_(w1[:, :, None, None]), ours.fc1.bias.zero_()
        ours.fc2.weight.copy_(w2[:, :, None, None]), ours.fc2.bias.zero_()
        u = torch.randn(3, 32, 5, 5)
        y = se.se_from_formulas(u, w1, w2)
        torch.testing.assert_close(y, seed_layer(u))
        torch.testing.assert_close(y, ours(u))
        assert not torch.allclose(y, se.se_from_formulas(u, w1, -w2))  # the weights matter


def test_class_specificity_is_zero_for_agnostic_and_one_for_class_determined_weights():
    labels = torch.arange(40) % 4
    agnostic = torch.rand(40, 6)
    agnostic = agnostic[torch.randperm(40)]
    determined = torch.stack([labels.float() / 4] * 6, 1)
    assert se.class_specificity(determined, labels, 4) == pytest.approx(1.0)
    constant = torch.full((40, 6), 0.3)
    assert se.class_specificity(constant, labels, 4) == 0.0
    torch.manual_seed(0)
    noise = torch.rand(4000, 6)
    assert se.class_specificity(noise, torch.arange(4000) % 4, 4) < 0.01
    with pytest.raises(ValueError, match="N x C"):
        se.class_specificity(torch.rand(5), labels[:5], 4)


def _images(n: int = 40) -> ImageTensors:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8)
    return ImageTensors(images, torch.arange(n) % 10, DATASETS["cifar10"], "test", "random")


def test_excitations_by_class_records_every_se_block():
    torch.manual_seed(0)
    model = get_model("se_resnet20").eval()
    stats = se.excitations_by_class(model, _images(), batch_size=16)
    assert len(stats.blocks) == 9 and stats.images == 40
    first = stats.blocks[0]
    assert stats.means[first].shape == (10, 16) and stats.means[stats.blocks[-1]].shape == (10, 64)
    assert bool(((stats.means[first] > 0) & (stats.means[first] < 1)).all())
    assert all(0 <= v <= 1 for v in stats.specificity.values())
    assert stats.spread[first] == pytest.approx(float(stats.means[first].std(0).mean()))
    assert not any(m._forward_hooks for m in model.modules())
    with pytest.raises(ValueError, match="no SqueezeExcitation"):
        se.excitations_by_class(get_model("resnet20"), _images())


# --------------------------------------------------------------------------- ResNeXt
def test_the_three_aggregated_forms_are_equal():
    paths = AggregatedWeights(in_channels=16, cardinality=4, width=3, seed=1)
    x = torch.randn(2, 16, 6, 6)
    a, b, c = paths.form_a(x), paths.form_b(x), paths.form_c(x)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a, c, atol=1e-5, rtol=1e-5)
    assert a.shape == (2, 16, 6, 6)
    paths.middle[2] = paths.middle[2] * 0  # one path silenced: all forms follow
    torch.testing.assert_close(paths.form_a(x), paths.form_c(x), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(paths.form_c(x), c)


# --------------------------------------------------------------------------- DenseNet
def test_densenet_counts_equal_torchvision_and_the_paper():
    rows = {r["model"].split(" ")[0]: r for r in dense.densenet_count_rows()}
    for name in ("DenseNet-121", "DenseNet-169", "DenseNet-201"):
        assert rows[name]["difference"] == 0
    assert abs(rows["DenseNet-BC-100"]["difference"]) < 0.05
    assert abs(rows["DenseNet-BC-190"]["difference"]) < 0.005


def test_feature_reuse_is_the_mean_absolute_weight_per_source():
    torch.manual_seed(0)
    model = get_model("densenet_bc_cifar", depth=16, growth_rate=4)  # two layers per block
    maps = dense.feature_reuse(model)
    assert [tuple(m.heat.shape) for m in maps] == [(3, 3), (3, 3), (3, 3)]
    assert maps[0].targets == ("1", "2", "trans.") and maps[2].targets == ("1", "2", "classifier")
    layer2 = model.features.denseblock1.denselayer2
    c0 = model.features.denseblock1.denselayer1.conv1.in_channels
    w = layer2.conv1.weight.detach().abs()
    heat = maps[0].heat
    assert heat[1, 0] == pytest.approx(float(w[:, :c0].mean()))
    assert heat[1, 1] == pytest.approx(float(w[:, c0:].mean()))
    assert torch.isnan(heat[0, 1]) and not torch.isnan(heat[2]).any()
    last = model.classifier.weight.detach().abs()
    assert maps[2].heat[2, 2] == pytest.approx(float(last[:, -4:].mean()))
    with pytest.raises(ValueError, match="no DenseBlock"):
        dense.feature_reuse(get_model("resnet20"))


# --------------------------------------------------------------------------- charts, tables
def test_imagenet_rows_read_torchvision_metadata():
    rows = {r["model"]: r for r in charts.imagenet_rows()}
    assert rows["resnet50"]["top1"] == pytest.approx(76.13) and rows["resnet50"]["gmult_adds"] == pytest.approx(4.089)
    assert rows["resnet50"]["params"] == count_parameters(get_model("resnet50"))
    assert {"googlenet", "densenet121", "mobilenet_v2", "vgg16", "efficientnet_b0", "squeezenet1_1"} <= set(rows)


def test_zoo_rows_and_the_chapter_table():
    rows = {r["entry"]: r for r in charts.zoo_rows(["resnet20", "lenet5", "se_resnet20"])}
    assert set(rows) == {"resnet20", "se_resnet20"}  # MNIST's LeNet is not on the CIFAR-10 chart
    assert 85 < rows["resnet20"]["test_acc"] < 100 and rows["resnet20"]["params"] == 269_722
    assert rows["resnet20"]["grouped"] is False
    assert charts.zoo_rows(["resnext29"])[0]["grouped"] is True
    (row,) = tables.zoo_check_rows(("se_resnet20",), subset_size=200)
    assert row["images"] == 200 and 70 < row["subset_here"] <= 100
    (row,) = tables.zoo_check_rows(("se_resnet20",), reevaluate=())
    assert row["subset_here"] is None and row["subset_log"] > 85


def test_figures_draw(monkeypatch):
    model = get_model("xception_cifar", width=0.25)
    figs = [
        figures.plot_separable_ratios(costs.separable_rows(model, (3, 32, 32))),
        figures.plot_grouping(costs.grouping_rows(channels=16, size=4)),
        figures.plot_feature_reuse(dense.feature_reuse(get_model("densenet_bc_cifar", depth=16, growth_rate=4))),
        figures.plot_imagenet_bubbles(charts.imagenet_rows()[:5]),
        figures.plot_zoo_bubbles(charts.zoo_rows(["resnet20", "se_resnet20"])),
        figures._cost_figure(16, 32, 3, 8),
    ]
    stats = se.excitations_by_class(get_model("se_resnet20").eval(), _images(20))
    figs += [figures.plot_excitations(stats, stats.blocks[:2]), figures.plot_specificity(stats)]
    assert all(len(f.axes) >= 1 for f in figs)


# --------------------------------------------------------------------------- checkers
def test_check_se_block_accepts_right_and_rejects_wrong_blocks(capsys):
    assert exercises.check_se_block(lambda c, r: SqueezeExcitation(c, c // r))
    assert exercises.check_se_block(lambda c, r: se.SeedSELayer(c, r))
    assert "Correct" in capsys.readouterr().out
    for wrong in (
        lambda c, r: nn.Identity(),  # weights all 1
        lambda c, r: nn.Conv2d(c, c, 1),  # mixes channels
        lambda c, r: se.SeedSELayer(c, r // 2),  # the wrong bottleneck
    ):
        with pytest.raises(AssertionError):
            exercises.check_se_block(wrong)


class _MaxGate(nn.Module):  # a gate from the channel *maxima*: not a squeeze by averaging
    def __init__(self, c: int, r: int) -> None:
        super().__init__()
        self.inner = SqueezeExcitation(c, c // r)

    def forward(self, x):
        s = self.inner.scale(x.amax((2, 3), keepdim=True).expand_as(x).contiguous() + x.mean((2, 3), keepdim=True))
        return x * s


def test_check_se_block_rejects_a_gate_that_is_not_a_mean():
    with pytest.raises(AssertionError):
        exercises.check_se_block(_MaxGate)


def test_check_separable_conv():
    def right(c_in, c_out, k):
        return nn.Sequential(nn.Conv2d(c_in, c_in, k, padding=k // 2, groups=c_in), nn.Conv2d(c_in, c_out, 1))

    assert exercises.check_separable_conv(right)
    with pytest.raises(AssertionError, match="depthwise"):
        exercises.check_separable_conv(lambda c_in, c_out, k: nn.Conv2d(c_in, c_out, k, padding=k // 2))
    with pytest.raises(AssertionError):  # no padding: the shape changes
        exercises.check_separable_conv(
            lambda c_in, c_out, k: nn.Sequential(nn.Conv2d(c_in, c_in, k, groups=c_in), nn.Conv2d(c_in, c_out, 1))
        )


def test_check_se_overhead():
    assert exercises.se_overhead_formula() == 2_514_944  # ResNet-50: the paper's "~2.5 million"
    assert exercises.se_overhead_formula() == count_parameters(get_model("se_resnet50")) - count_parameters(
        get_model("resnet50")
    ) - sum(c + c // 16 for n, c in ((3, 256), (4, 512), (6, 1024), (3, 2048)) for _ in range(n))  # biases
    answer = exercises.se_overhead_formula("resnet101")
    assert answer == 2 * sum(n * c * c // 16 for n, c in ((3, 256), (4, 512), (23, 1024), (3, 2048)))
    assert exercises.check_se_overhead(answer)
    with_biases = count_parameters(get_model("resnet101", se_reduction=16)) - count_parameters(get_model("resnet101"))
    assert exercises.check_se_overhead(with_biases)
    with pytest.raises(AssertionError):
        exercises.check_se_overhead(exercises.se_overhead_formula())  # ResNet-50's, not ResNet-101's


def test_family_span():
    rows = charts.imagenet_rows()
    vgg = charts.family_span(rows, "vgg")
    assert vgg["gmult_adds"] == (pytest.approx(7.609), pytest.approx(19.632)) and vgg["mparams"][0] > 130
    with pytest.raises(KeyError, match="families"):
        charts.family_span(rows, "transformer")


def test_latency_per_mult_add_splits_grouped_from_dense():
    rows = [
        {"latency1_ms": 2.0, "latency64_ms": 64.0, "mmult_adds": 10.0, "grouped": True},
        {"latency1_ms": 1.0, "latency64_ms": None, "mmult_adds": 40.0, "grouped": False},
        {"latency1_ms": None, "latency64_ms": None, "mmult_adds": 5.0, "grouped": False},
    ]
    assert charts.latency_per_mult_add(rows) == {"grouped": pytest.approx(200.0), "dense": pytest.approx(25.0)}
    assert charts.latency_per_mult_add(rows, 64) == {"grouped": pytest.approx(100.0)}
