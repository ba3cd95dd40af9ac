"""Chapter 04's measurements (cnnlib.analysis.costs, cnnlib.analysis.lesion, cnnlib.chapters.ch04_googlenet) and its
widget: Table 1 against the paper, naive vs reduced module costs, factorisation savings, composed convolutions, branch
ablation."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import cnnlib
from cnnlib import build_on_meta
from cnnlib.analysis import costs as cost_analysis
from cnnlib.analysis import lesion
from cnnlib.chapters.ch04_googlenet import figures as ch04_figures
from cnnlib.chapters.ch04_googlenet import table1 as ch04_table1
from cnnlib.data import DATASETS, ImageTensors, normalize

# ---------------------------------------------------------------------------------------------
# Table 1


@pytest.fixture(scope="module")
def table1():
    return ch04_table1.googlenet_table(build_on_meta("googlenet_paper"))


def test_table1_rows_agree_except_the_papers_typos(table1):
    differs = {row.paper.modules[0] for row in table1.rows if not row.agrees}
    # the first conv (2.7K / 34M for a 7x7x3x64 conv) and six params entries that the channel columns do not give
    assert differs == {
        "conv1",
        "inception4a",
        "inception4c",
        "inception4d",
        "inception4e",
        "inception5a",
        "inception5b",
    }
    assert all(row.output == row.paper.output for row in table1.rows)  # every output size as printed
    assert table1["conv1"].weights == 7 * 7 * 3 * 64 and table1["conv1"].mult_adds == 9_408 * 112 * 112
    assert (
        table1["inception (3a)"].weights == 192 * 64 + 192 * 96 + 96 * 9 * 128 + 192 * 16 + 16 * 25 * 32 + 192 * 32
    )  # 163,328
    assert table1["inception (3a)"].mult_adds == 163_328 * 28 * 28
    assert table1["fc"].weights == 1024 * 1000 and table1["fc"].params == 1_025_000
    for name in (
        "inception4a",
        "inception4c",
        "inception4d",
        "inception4e",
        "inception5b",
    ):  # ops from the columns, params typos
        row = table1[name]
        assert abs(row.ops_m - row.paper.ops_m) <= 1 and abs(row.params_k - row.paper.params_k) > 1


def test_table1_totals(table1):
    assert (
        round(table1.paper_params_k, 1) == 6797.7 and table1.paper_ops_m == 1502
    )  # the "6.8M" and "1.5G" of the paper
    assert table1.total_params == 6_998_552  # every parameter of googlenet_paper (biases included, no aux heads)
    assert table1.total_mult_adds == sum(r.mult_adds for r in table1.rows) == 1_582_671_872
    text = table1.to_text()
    assert "inception (5b)" in text and "differs" in text and "<table>" in table1._repr_html_()


def test_table1_refuses_other_models():
    with pytest.raises(TypeError, match="GoogLeNet"):
        ch04_table1.googlenet_table(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="CIFAR stem"):
        ch04_table1.googlenet_table(build_on_meta("googlenet_cifar"))


def test_googlenet_variant_totals_equal_torchvision_metadata():
    from cnnlib.analysis.summary import count_mult_adds, count_parameters

    tv = build_on_meta("googlenet")
    assert (
        count_parameters(tv) == 6_624_904 and round(count_mult_adds(tv, (3, 224, 224)) / 1e9, 3) == 1.498
    )  # REFERENCES.md


# ---------------------------------------------------------------------------------------------
# Naive vs reduced module


def test_module_costs_of_3a_equal_the_formulas():
    costs = ch04_table1.table1_module_costs("3a")
    naive_weights = 192 * 64 + 192 * 9 * 128 + 192 * 25 * 32
    assert costs.naive_total.params == naive_weights + 64 + 128 + 32
    assert costs.naive_total.mult_adds == naive_weights * 28 * 28  # 303 M
    assert costs.naive["5x5"].mult_adds == 192 * 25 * 32 * 28 * 28
    assert costs.naive["pool"] == cost_analysis.BranchCost(192, 0, 0)  # the pool passes the input through, for free
    assert costs.naive_total.channels == 416 and costs.reduced_total.channels == 256
    assert costs.reduced_total.params == 163_696 and costs.reduced_total.mult_adds == 163_328 * 28 * 28
    assert costs.reduced["5x5"].params == 192 * 16 + 16 + 16 * 25 * 32 + 32
    assert costs.size == 28 and costs.in_channels == 192


def test_module_costs_reject_bad_widths():
    with pytest.raises(ValueError, match="positive integers"):
        cost_analysis.module_costs(
            in_channels=192, ch1x1=0, ch3x3_reduce=96, ch3x3=128, ch5x5_reduce=16, ch5x5=32, pool_proj=32, size=28
        )
    with pytest.raises(KeyError, match="3c"):
        ch04_table1.table1_module_costs("3c")


# ---------------------------------------------------------------------------------------------
# Factorisations and composed convolutions


def test_factorization_savings_are_the_papers():
    rows = {f.name: f for f in cost_analysis.factorization_costs(channels=64, size=9)}
    c = 64
    assert (
        rows["5x5 -> 3x3 then 3x3"].params_before == 25 * c * c
        and rows["5x5 -> 3x3 then 3x3"].params_after == 18 * c * c
    )
    expected = {
        "5x5 -> 3x3 then 3x3": 7 / 25,
        "3x3 -> 1x3 then 3x1": 1 / 3,
        "7x7 -> 1x7 then 7x1": 35 / 49,
        "3x3 -> 2x2 then 2x2": 1 / 9,
    }
    for name, saving in expected.items():
        f = rows[name]
        assert f.saving == pytest.approx(saving)
        assert (
            f.mult_adds_before == f.params_before * 9 * 9 and f.mult_adds_after == f.params_after * 9 * 9
        )  # same-size outputs
    with pytest.raises(ValueError):
        cost_analysis.factorization_costs(channels=0)


# ---------------------------------------------------------------------------------------------
# Branch ablation (on an untrained small Inception, as the zoo's entry)


def _data(n: int = 48, seed: int = 0) -> ImageTensors:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(
        n, 3, 4, 4, generator=g
    )  # smooth random images: their pooled features differ, unlike white noise
    images = (255 * F.interpolate(coarse, size=32, mode="bilinear", align_corners=False)).round().to(torch.uint8)
    return ImageTensors(images, torch.randint(0, 10, (n,), generator=g), DATASETS["cifar10"], "test", "synthetic")


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    model = cnnlib.get_model("inception_small_cifar", width=0.25)
    data = _data()
    for m in model.modules():  # batch-norm statistics of the data, so that the untrained network's predictions vary
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # cumulative average
    x = normalize(data.images, data.spec.mean, data.spec.std)
    with torch.no_grad():
        model.train()(x)
        model.fc.bias -= model.eval()(x).mean(
            dim=0
        )  # centre each class score, so that the predictions differ between images
    return model


def _predictions_with(model: nn.Module, data: ImageTensors, silenced: str | None) -> torch.Tensor:
    handle = None
    if silenced is not None:
        handle = model.get_submodule(silenced).register_forward_hook(lambda m, i, o: torch.zeros_like(o))
    try:
        with torch.no_grad():
            return model(normalize(data.images, data.spec.mean, data.spec.std)).argmax(1)
    finally:
        if handle is not None:
            handle.remove()


def test_find_branches_of_the_small_inception(small):
    blocks = lesion.find_branches(small)
    assert list(blocks) == [f"features.{i}" for i in range(10)] and all(
        b == ["branch1", "branch2"] for b in blocks.values()
    )
    assert lesion.find_branches(cnnlib.get_model("lenet5")) == {}


def test_branch_ablation_matches_a_full_forward_pass(small):
    data = _data(24)
    base = _predictions_with(small, data, None)
    assert len(base.unique()) > 1
    candidates = ("features.1.branch1", "features.3.branch2", "features.5.branch1", "features.8.branch2")
    ablated = {name: _predictions_with(small, data, name) for name in candidates}
    changed = {name: (pred != base).sum().item() for name, pred in ablated.items()}
    target = max(changed, key=changed.get)
    assert changed[target] > 0  # silencing the branch changes some predictions (else the test could not fail)
    # labels = the ablated model's predictions: the ablation must then report 100 % for that branch
    relabelled = ImageTensors(data.images, _predictions_with(small, data, target), data.spec, "test", "synthetic")
    baseline_acc = (_predictions_with(small, data, None) == relabelled.labels).float().mean().item()
    blocks = {name.rpartition(".")[0]: [name.rpartition(".")[2]] for name in candidates}
    result = lesion.ablate(small, relabelled, blocks=blocks, batch_size=10)  # several batches, a partial last one
    assert result.baseline == pytest.approx(baseline_acc)
    accs = {(b, br): acc for b, br, _, acc in result.rows}
    block, _, branch = target.rpartition(".")
    assert accs[(block, branch)] == 1.0
    assert len(result.rows) == 4 and result.images == len(data) and result.mode == "zero"
    for (
        name,
        pred,
    ) in ablated.items():  # the staged shortcut (starting at the silenced block) equals a full forward pass
        b, _, br = name.rpartition(".")
        assert accs[(b, br)] == pytest.approx((pred == relabelled.labels).float().mean().item())
    channels = {(b, br): c for b, br, c, _ in result.rows}
    assert channels[("features.3", "branch2")] == small.features[3].branch2.out_channels
    assert result.drop(block, branch) == pytest.approx(100 * (baseline_acc - 1.0))
    assert "baseline" in result.to_text()


def test_branch_ablation_leaves_the_model_as_it_was(small):
    small.train()
    before = {k: v.clone() for k, v in small.state_dict().items()}
    result = lesion.ablate(small, _data(16), blocks={"features.8": ["branch1"]}, mode="mean")
    assert small.training  # mode restored
    small.eval()
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in small.modules())
    assert all(torch.equal(before[k], v) for k, v in small.state_dict().items())
    assert [r[:2] for r in result.rows] == [("features.8", "branch1")]


def test_branch_ablation_errors(small):
    with pytest.raises(ValueError, match="mode"):
        lesion.ablate(small, _data(4), mode="drop")
    with pytest.raises(KeyError, match="branch9"):
        lesion.ablate(small, _data(4), blocks={"features.0": ["branch9"]})
    with pytest.raises(ValueError, match="no block"):
        lesion.ablate(cnnlib.get_model("lenet5"), _data(4))


def test_plot_branch_ablation(small):
    result = lesion.ablate(
        small, _data(8), blocks={"features.0": ["branch1", "branch2"], "features.2": ["branch1", "branch2"]}
    )
    fig = ch04_figures.plot_branch_ablation(result, labels={"features.0": "I0", "features.2": "D2"})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["I0", "D2"] and ax.get_ylabel() == "accuracy lost (points)"
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# The widget


def test_module_designer_draws_a_static_figure(monkeypatch):
    from cnnlib.chapters.ch04_googlenet import figures as w

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    box = w.inception_module_designer("4e")
    figures = [o for o in shown if isinstance(o, plt.Figure)]
    assert len(figures) == 1 and box in shown
    title = figures[0]._suptitle.get_text()
    assert "528 input channels" in title
    preset, first_row = box.children[1], box.children[2]
    preset.value = "3a"  # loading a preset moves every slider
    assert first_row.children[0].value == 192 and first_row.children[1].value == 64
    with pytest.raises(KeyError, match="3c"):
        w.inception_module_designer("3c")


def test_plot_module_costs_stacks_the_branches():
    from cnnlib.chapters.ch04_googlenet.figures import plot_module_costs

    costs = ch04_table1.table1_module_costs("3a")
    fig = plot_module_costs(costs)
    params_ax = fig.axes[0]
    heights = sorted(p.get_y() + p.get_height() for p in params_ax.patches)
    assert heights[-1] == pytest.approx(costs.naive_total.params / 1e3)  # top of the naive stack
    assert any(h == pytest.approx(costs.reduced_total.params / 1e3) for h in heights)
    plt.close(fig)


def test_googlenet_overview_draws_one_box_per_row_and_both_auxiliary_heads():
    from matplotlib.patches import FancyBboxPatch

    from cnnlib.chapters.ch04_googlenet.figures import plot_googlenet_overview

    with torch.device("meta"):
        table = ch04_table1.googlenet_table(cnnlib.get_model("googlenet_paper"))
    fig = plot_googlenet_overview(table)
    ax = fig.axes[0]
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    assert len(boxes) == len(table.rows) == 18
    heights = [b.get_height() for b in boxes]
    assert heights[table.rows.index(table["inception5b"])] == max(heights)  # 1,024 channels: the widest row
    texts = [t.get_text() for t in ax.texts]
    assert sum("auxiliary classifier" in t for t in texts) == 2
    assert {"112×112", "56×56", "28×28", "14×14", "7×7", "1×1"} <= set(texts)
    with pytest.raises(KeyError, match="6a"):
        plot_googlenet_overview(table, aux_after=("6a",))
    plt.close("all")
