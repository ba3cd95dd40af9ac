"""Chapter 09: the fusion steps, the fused model's agreement, the memory of a skip connection, the kernel-density
and speed helpers, the recipes and the ablation table, the 1-D residual stack, the checkers (right and wrong
answers), the figures and the experiments' quick runs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import dataclasses  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from cnnlib import experiments, zoo  # noqa: E402
from cnnlib.analysis.memory import activation_memory  # noqa: E402
from cnnlib.chapters.ch09_classics_today import beyond, exercises, figures, recipes, reparam, speed  # noqa: E402
from cnnlib.data import DATASETS, ImageTensors  # noqa: E402
from cnnlib.models import get_model  # noqa: E402
from cnnlib.models.repvgg import fuse_conv_bn, pad_1x1_to_3x3  # noqa: E402


def test_every_fusion_step_holds_to_rounding_and_a_wrong_step_shows():
    block = reparam.small_block(4, seed=3)
    x = torch.randn(2, 4, 6, 6)
    rows = reparam.fusion_steps(block, x)
    assert [r["step"] for r in rows] == ["1", "1", "2", "3", "3", "4", "all"]
    assert all(r["max_difference"] < 1e-5 * max(1.0, r["scale"]) for r in rows)
    assert rows[3]["max_difference"] == 0.0  # the identity kernel copies exactly
    with torch.no_grad():  # a BN that is not folded in is visible: the check can fail
        k, _ = fuse_conv_bn(block.conv3x3[0].weight, block.conv3x3[1])
        assert (F.conv2d(x, block.conv3x3[0].weight, padding=1) - block.conv3x3(x)).abs().max() > 0.1
    with pytest.raises(ValueError, match="three branches"):
        reparam.fusion_steps(reparam.small_block(4).reparameterize(), x)


def test_fused_agreement_counts_predictions_and_parameters():
    torch.manual_seed(0)
    model = speed.calibrate_batch_norms(get_model("repvgg_a0_cifar"), 32)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, 10, (16,), generator=gen)
    data = ImageTensors(images, labels, DATASETS["cifar10"], "test", "synthetic")
    result = reparam.fused_agreement(model, data)
    assert result["images"] == 16 and result["different_predictions"] == 0
    assert result["acc_multi"] == result["acc_fused"]
    assert result["max_logit_difference"] < 1e-3 * result["logit_scale"]
    assert (result["params_multi"], result["params_fused"]) == (7_840_874, 7_041_194)  # the model's docstring


def test_activation_memory_counts_what_is_alive():
    one = 1 * 8 * 16 * 16 * 4  # bytes of one 8-channel 16 x 16 float map
    plain = speed.plain_stack(8, 4)
    assert activation_memory(plain, (1, 8, 16, 16)).peak_bytes == 3 * one  # input + a layer's input and output
    residual = speed.residual_stack(8, 4)
    assert activation_memory(residual, (1, 8, 16, 16)).peak_bytes == 4 * one  # + the shortcut's x
    rows = speed.stack_memory(channels=8, size=16, convs=4)
    assert [r["maps"] for r in rows] == [3.0, 4.0] and rows[0]["params"] == rows[1]["params"]
    linear = activation_memory(nn.Linear(1000, 1000), (1, 1000))  # the transposed weight is not an activation
    assert linear.peak_bytes == 2 * 4000
    not_inplace = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())  # ReLU's output is a new map
    assert activation_memory(not_inplace, (1, 8, 16, 16)).peak_bytes == 3 * one
    with pytest.raises(ValueError, match="odd"):
        speed.residual_stack(8, 3)


def test_kernel_density_and_repvgg_speed_rows():
    rows = speed.kernel_density(channels=8, size=8, batch=1, repeats=1, kernels=(1, 3))
    assert [(r["kernel"], r["precision"]) for r in rows] == [(1, "float32"), (3, "float32"), (1, "bfloat16"),
                                                             (3, "bfloat16")]  # fmt: skip
    assert rows[1]["gmacs"] == pytest.approx(9 * rows[0]["gmacs"]) and rows[0]["relative"] == 1.0
    assert rows[1]["paper_relative"] == pytest.approx(38.10 / 9.96)
    fast = speed.repvgg_speed((("repvgg_a0_cifar", 32, {"width": 0.5}),), batches=(1,), repeats=1)
    assert [r["form"] for r in fast] == ["multi-branch", "BN folded", "fused"]
    assert fast[0]["model"] == "repvgg_a0_cifar width=0.5" and fast[0]["max_difference"] == 0.0
    assert fast[0]["mult_adds"] > fast[2]["mult_adds"] and max(r["max_difference"] for r in fast) < 1e-3
    assert fast[0]["peak_mb"] >= fast[1]["peak_mb"] > fast[2]["peak_mb"]  # no branch outputs after fusion
    assert fast[1]["params"] < fast[0]["params"] and fast[2]["params"] < fast[1]["params"]
    (gains,) = speed.fusion_gains(fast)
    assert gains["mult_adds_kept"] == pytest.approx(fast[2]["mult_adds"] / fast[0]["mult_adds"])
    assert gains["speedup_fused"] == pytest.approx(fast[0]["ms"] / fast[2]["ms"]) and gains["memory_fused"] < 1
    rows = speed.paper_table4_rows()
    a0 = next(r for r in rows if r["model"] == "RepVGG-A0")
    assert a0["gmacs_per_s"] == pytest.approx(3256 * 1.4) and rows[-1]["wino"] is None


def test_ablation_configs_change_one_thing():
    base = zoo.entry("resnet20").config
    for name in recipes.INGREDIENTS:
        config = recipes.ablation_config(base, name, seed=1)
        changed = {k for k, v in dataclasses.asdict(config).items() if dataclasses.asdict(base)[k] != v}
        expected = {"epochs", "seed", "ema_decay"} | set(recipes.INGREDIENTS[name])
        assert changed <= expected and "ema_decay" in changed
    assert recipes.ablation_config(base, "mixup", 0, epochs=3).epochs == 3
    with pytest.raises(KeyError, match="unknown ingredient"):
        recipes.ablation_config(base, "dropout", 0)
    assert recipes.describe("mixup") == "mixup_alpha = 0.2" and "zoo's recipe" in recipes.describe("baseline")
    rows = recipes.rsb_rows()
    assert rows[-1] == {"ingredient": "ImageNet top-1 (%)", "ResNet (2015)": "75.3", "PyTorch": "76.1", "A1": "80.4",
                        "A2": "79.8", "A3": "78.1"}  # fmt: skip
    assert {r["ingredient"] for r in rows} >= {"mixup α", "CutMix α", "label smoothing ε", "EMA of weights"}
    assert recipes.RSB_TABLE1["A3"]["train_res"] == 160


def _fake_result(accs, ema=None, flip=None, epochs=4):
    runs = [{"seed": s, "test_acc": a, "ema_test_acc": (ema or accs)[s], "flip_test_acc": (flip or accs)[s],
             "train_seconds": 60.0, "epochs": [{"epoch": 1, "test_acc": a}]} for s, a in enumerate(accs)]  # fmt: skip
    return {"runs": runs, "config": {"epochs": epochs}}


def test_ablation_rows_gain_and_spread():
    results = {"baseline": _fake_result([0.80, 0.82], ema=[0.81, 0.83], flip=[0.82, 0.84]),
               "mixup": _fake_result([0.79, 0.80])}  # fmt: skip
    rows = recipes.ablation_rows(results)
    assert [r["ingredient"] for r in rows] == ["baseline", "EMA of weights", "test-time flip", "mixup"]
    assert rows[0]["mean"] == pytest.approx(81.0) and rows[0]["spread"] == pytest.approx(2.0)
    assert rows[1]["gain"] == pytest.approx(1.0) and rows[2]["gain"] == pytest.approx(2.0)
    assert rows[3]["gain"] == pytest.approx(-1.5) and rows[3]["minutes"] == pytest.approx(1.0)
    verdicts = recipes.ablation_verdicts(rows)
    assert [v["verdict"] for v in verdicts] == ["within the seed spread", "within the seed spread",
                                                "within the seed spread"]  # fmt: skip
    assert verdicts[2]["noise"] == pytest.approx(2.0)  # the baseline's spread is the larger
    assert recipes.ablation_verdicts([rows[0], {**rows[3], "gain": -2.5}])[0]["verdict"] == "beyond the seed spread"
    with pytest.raises(KeyError, match="recipe_baseline"):
        recipes.ablation_rows({"mixup": results["mixup"]})
    zoo_log = {"epochs": [{}] * 30, "stored": {"test_acc": 0.9}, "train_seconds": 600.0}
    last = recipes.ablation_rows(results, longer=zoo_log)[-1]
    assert last["ingredient"] == "longer: 30 epochs (zoo, 1 seed)" and last["gain"] == pytest.approx(9.0)
    assert last["spread"] == 0 and last["minutes"] == pytest.approx(10.0) and last["epochs"] == 30
    assert rows[0]["epochs"] == 4


def test_dilated_stack_is_causal_and_sees_two_to_the_layers():
    torch.manual_seed(0)
    model = beyond.DilatedResidualStack1d(layers=4, channels=4)
    assert model.receptive_field == 16
    x = torch.randn(1, 1, 40)
    y = model(x)
    x2 = x.clone()
    x2[..., 30] += 1.0  # a change at t = 30 reaches t = 30 ... 45 only
    changed = (model(x2) - y).abs()[0, 0] > 1e-7
    assert not changed[:30].any() and changed[30] and not changed[46:].any()
    assert changed[30:46].sum() >= 8
    with pytest.raises(ValueError, match="N x 1 x T"):
        model(torch.randn(1, 2, 8))
    rows = beyond.delay_experiment(stacks=((2, True), (3, False)), delay=8, steps=2)
    assert [r["receptive_field"] for r in rows] == [4, 4] and not rows[0]["sees_the_delay"]
    assert beyond.DilatedResidualStack1d(6, dilated=False).receptive_field == 7


def test_checkers_accept_right_answers_and_reject_wrong_ones(capsys):
    assert exercises.check_fold_bn(fuse_conv_bn)

    def no_eps(w, bn):
        s = bn.weight / bn.running_var.sqrt()
        return w * s.view(-1, 1, 1, 1), bn.bias - bn.running_mean * s

    with pytest.raises(AssertionError, match="epsilon"):
        exercises.check_fold_bn(no_eps)
    assert exercises.check_fuse_block(lambda block: block.equivalent_kernel_bias())

    def no_identity(block):
        k3, b3 = fuse_conv_bn(block.conv3x3[0].weight, block.conv3x3[1])
        k1, b1 = fuse_conv_bn(block.conv1x1[0].weight, block.conv1x1[1])
        return k3 + pad_1x1_to_3x3(k1), b3 + b1

    with pytest.raises(AssertionError, match="identity"):
        exercises.check_fuse_block(no_identity)
    with pytest.raises(AssertionError, match="3x3"):
        exercises.check_fuse_block(lambda block: fuse_conv_bn(block.conv1x1[0].weight, block.conv1x1[1]))
    assert exercises.check_label_smoothing(lambda z, y, e: F.cross_entropy(z, y, label_smoothing=e))
    with pytest.raises(AssertionError, match="expected"):
        exercises.check_label_smoothing(lambda z, y, e: F.cross_entropy(z, y))
    assert capsys.readouterr().out.count("Correct:") == 3


def test_figures_draw():
    import matplotlib.pyplot as plt

    block = reparam.small_block(2)
    density = speed.kernel_density(channels=8, size=8, batch=1, repeats=1, kernels=(1, 3))
    speed_rows = speed.repvgg_speed((("repvgg_a0_cifar", 32, {"width": 0.5}),), batches=(1,), repeats=1)
    results = {"baseline": _fake_result([0.8, 0.82]), "cutmix": _fake_result([0.81, 0.83])}
    for fig in (
        figures.plot_kernels(block),
        figures._fusion_figure(2.0, 0.5, 1.0, False),
        figures.plot_kernel_density(density),
        figures.plot_repvgg_speed(speed_rows, "repvgg_a0_cifar width=0.5"),
        figures.plot_ablation(recipes.ablation_rows(results)),
        figures.plot_ablation_curves(results),
    ):
        assert fig.axes
        plt.close(fig)


@pytest.mark.slow
def test_experiments_quick_runs_have_the_stored_form():
    result = experiments.run("recipe_cutmix", quick=True)["result"]
    run = result["runs"][0]
    assert result["config"]["cutmix_alpha"] == 1.0 and result["config"]["epochs"] == 1
    assert {"test_acc", "ema_test_acc", "flip_test_acc", "train_seconds", "epochs"} <= set(run)
    density = experiments.run("kernel_density", quick=True)["result"]
    assert {r["kernel"] for r in density["rows"]} == {1, 3, 5, 7}
    rows = experiments.run("repvgg_speed", quick=True)["result"]["rows"]
    assert {r["form"] for r in rows} == {"multi-branch", "BN folded", "fused"}


def test_every_ingredient_is_an_experiment():
    names = set(experiments.EXPERIMENTS)
    assert {f"recipe_{n}" for n in recipes.INGREDIENTS} | {"kernel_density", "repvgg_speed"} <= names


@pytest.mark.parametrize("name", [*(f"recipe_{n}" for n in recipes.INGREDIENTS), "kernel_density", "repvgg_speed"])
def test_stored_results_exist_and_are_full_runs(name):
    record = experiments.load_result(name)
    assert not record["quick"] and record["hardware"]
    result = record["result"]
    if name.startswith("recipe_"):
        assert [r["seed"] for r in result["runs"]] == list(recipes.ABLATION_SEEDS)
        assert result["train_images"] == 50_000 and result["test_images"] == 10_000
        ingredient = name.removeprefix("recipe_")
        assert result["config"] == dataclasses.asdict(
            recipes.ablation_config(zoo.entry("resnet20").config, ingredient, 0)
        )
        assert all(len(r["epochs"]) == recipes.ABLATION_EPOCHS for r in result["runs"])
        assert all(0.5 < r["test_acc"] < 1 for r in result["runs"])  # trained, not chance
    elif name == "kernel_density":
        assert result["shape"] == speed.DENSITY_SHAPE and len(result["rows"]) == 8
    else:
        assert {r["batch"] for r in result["rows"]} == {1, 64} and len(result["rows"]) == 12
