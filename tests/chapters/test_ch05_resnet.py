"""Chapter 05: the gradient-flow stacks, the family tables, the checkers and the figures."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from cnnlib.chapters.ch05_resnet import exercises, figures, tables  # noqa: E402
from cnnlib.chapters.ch05_resnet.flow import ToyBlock, gradient_flow, toy_stack  # noqa: E402
from cnnlib.models.resnet import BasicBlock, make_shortcut  # noqa: E402


def batch(n: int = 8):
    gen = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, 8, 8, generator=gen), torch.randint(0, 10, (n,), generator=gen)


def test_toy_block_is_the_identity_path_plus_a_branch():
    block = ToyBlock(4, residual=True, batch_norm=False)
    with torch.no_grad():
        block.conv2.weight.zero_()
        block.conv2.bias.zero_()
    x = torch.rand(2, 4, 5, 5)  # non-negative: relu(0 + x) = x
    assert torch.equal(block(x), x)
    assert sum(p.numel() for p in ToyBlock(4, residual=False, batch_norm=True).parameters()) == 2 * (9 * 16) + 2 * 8


def test_toy_stack_same_seed_same_weights_and_bad_arguments():
    a = toy_stack(3, residual=True, batch_norm=False, seed=1)
    b = toy_stack(3, residual=False, batch_norm=False, seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    with pytest.raises(ValueError, match="init"):
        toy_stack(3, residual=True, batch_norm=False, init="xavier")
    with pytest.raises(ValueError, match="blocks"):
        toy_stack(0, residual=True, batch_norm=False)


def test_gradient_vanishes_without_shortcuts_and_not_with_them():
    """The seed's formula, measured: PyTorch's default init, no BN, 12 blocks (25 convolutions)."""
    x, y = batch()
    flows = gradient_flow(x, y, blocks=12, init="pytorch")
    assert set(flows) == {(False, False), (True, False), (False, True), (True, True)}
    assert all(len(v) == 25 for v in flows.values())
    plain, residual = flows[(False, False)], flows[(True, False)]
    assert plain[0] < 1e-6 * plain[-1]  # six orders of magnitude lost on the way to the input
    assert residual[0] > 0.1 * residual[-1]  # the "+ 1" keeps it


def test_resnet_family_table_equals_torchvision():
    rows = tables.resnet_family_table()
    assert [r["layers"] for r in rows] == [18, 34, 50, 101, 152]
    for r in rows:
        assert r["params"] == r["tv_params"]
        assert r["gmacs"] == pytest.approx(r["tv_gflops"], abs=5e-4)
        assert r["gmacs"] == pytest.approx(r["paper_gflops"], rel=0.1)  # ResNet-50 v1.5: 4.09 vs 3.8


def test_block_and_shortcut_costs():
    blocks = tables.block_costs()
    basic, bottleneck = blocks["basic (64-d)"], blocks["bottleneck (256-d)"]
    assert basic["params"] == 2 * 9 * 64 * 64 + 4 * 64
    assert bottleneck["params"] == 256 * 64 + 9 * 64 * 64 + 64 * 256 + 2 * (2 * 64) + 2 * 256
    assert abs(basic["mult_adds"] - bottleneck["mult_adds"]) < 0.1 * basic["mult_adds"]  # "similar time complexity"
    shortcuts = tables.shortcut_costs()
    assert shortcuts["A"] == {"shortcut_params": 0, "resnet20_params": 269_722}
    assert shortcuts["B"]["shortcut_params"] == 128 * 256 + 2 * 256
    assert shortcuts["B"]["resnet20_params"] == 269_722 + (16 * 32 + 64) + (32 * 64 + 128)


def test_zoo_rows_have_the_papers_figures_beside():
    rows = {r["name"]: r for r in tables.zoo_cifar_rows()}
    assert rows["resnet20"]["paper_error"] == 8.75 and rows["resnet56"]["paper_error"] == 6.97
    assert rows["preact_resnet20"]["paper_error"] is None
    for r in rows.values():
        assert r["test_error"] is None or 0 < r["test_error"] < 20


def option_b_block(c_in, c_out, stride):
    return BasicBlock(c_in, c_out, stride, downsample=make_shortcut(c_in, c_out, stride, option="B"))


class NoShortcut(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.inner = option_b_block(c_in, c_out, stride)

    def forward(self, x):
        inner = self.inner
        return inner.relu(inner.bn2(inner.conv2(inner.relu(inner.bn1(inner.conv1(x))))))


def test_basic_block_checker(capsys):
    assert exercises.check_basic_block(option_b_block)
    assert capsys.readouterr().out.startswith("Correct")
    with pytest.raises(AssertionError, match="parameters"):
        exercises.check_basic_block(
            lambda c_in, c_out, s: BasicBlock(c_in, c_out, s, make_shortcut(c_in, c_out, s, "A"))
        )
    with pytest.raises(AssertionError, match="added before the final ReLU"):
        exercises.check_basic_block(NoShortcut)


def test_expected_blocks_checker():
    assert exercises.check_expected_blocks(lambda L, p: L - (1 - p) * (L + 1) / 2)
    with pytest.raises(AssertionError, match="expected"):
        exercises.check_expected_blocks(lambda L, p: L * (1 + p) / 2)


def test_figures_draw():
    flows = {(r, b): [1.0, 0.5, 1e-40] for r in (False, True) for b in (False, True)}
    result = {
        "coordinates": [-1.0, 0.0, 1.0],
        "steps": 3,
        "images": 20,
        "models": {m: {"loss": [[3.0, 2.0, 3.0], [2.0, 0.1, 2.0], [3.0, 2.0, 30.0]]} for m in ("a", "b")},
    }
    for fig in (
        figures.plot_gradient_flow(flows),
        figures.plot_loss_surfaces(result),
        figures.plot_loss_slices([-1, 0, 1], {"a": [2.0, 0.1, 2.0]}),
        figures.plot_gate_means([torch.rand(5), torch.rand(5)]),
        figures.plot_survival([1.0 - 0.5 * i / 9 for i in range(1, 10)]),
    ):
        assert fig.axes
        plt.close(fig)
    assert math.isclose(figures.plot_survival([0.5]).axes[0].get_ylim()[1], 1.05)
    plt.close("all")
