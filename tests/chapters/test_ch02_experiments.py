"""Chapter 02 experiments: the race to a training error, quick runs of every experiment, stored results' form."""

from __future__ import annotations

import pytest
import torch

from cnnlib import experiments
from cnnlib.analysis.metrics import first_crossing
from cnnlib.chapters.ch02_alexnet.experiments import ErrorRace
from cnnlib.data import DATASETS, ImageTensors
from cnnlib.models.alexnet import Fig1CNN


def test_first_crossing():
    curve = [{"step": 10, "train_error": 0.5}, {"step": 20, "train_error": 0.25}, {"step": 30, "train_error": 0.1}]
    assert first_crossing(curve, 0.25) == 20
    assert first_crossing(curve, 0.05) is None


def easy_data(n: int = 256) -> ImageTensors:
    """Two classes told apart by brightness: any working training loop gets below 25 % error fast."""
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (n,), generator=gen)
    images = (torch.rand(n, 3, 32, 32, generator=gen) * 100 + labels[:, None, None, None] * 120).to(torch.uint8)
    return ImageTensors(images, labels, DATASETS["cifar10"], "train", "synthetic")


def test_error_race_reaches_an_easy_target_and_stops():
    torch.manual_seed(0)
    race = ErrorRace(Fig1CNN(torch.nn.ReLU, width=4), easy_data(), lr=0.01, batch_size=32, windows_per_epoch=4).run(
        max_epochs=6
    )
    assert race.steps_to_target is not None and race.steps_to_target <= race.epochs * race.steps_per_epoch
    assert race.epochs < 6 or race.curve[-1]["train_error"] <= 0.25  # stopped once reached
    assert all(0 <= p["train_error"] <= 1 for p in race.curve)
    assert [p["step"] for p in race.curve] == sorted(p["step"] for p in race.curve)


def test_error_race_refuses_bad_arguments():
    with pytest.raises(ValueError, match="target"):
        ErrorRace(Fig1CNN(), easy_data(), lr=0.01, target=25)
    with pytest.raises(ValueError, match="batch"):
        ErrorRace(Fig1CNN(), easy_data(16), lr=0.01, batch_size=32)


def test_fig1_cnn_shape_and_size():
    model = Fig1CNN(torch.nn.Tanh)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert sum(p.numel() for p in model.parameters()) == 89_578
    with pytest.raises(ValueError):
        model(torch.zeros(2, 3, 28, 28))


@pytest.mark.parametrize("name", ["relu_vs_tanh", "dropout_augmentation", "ten_crop_tta"])
def test_quick_runs_are_not_stored(name, tmp_path, monkeypatch):
    monkeypatch.setenv(experiments.EXPERIMENTS_ENV, str(tmp_path))
    record = experiments.run(name, quick=True)
    assert record["quick"] and record["chapter"] == "02" and not list(tmp_path.iterdir())
    result = record["result"]
    if name == "relu_vs_tanh":
        assert set(result["relu"]) >= {"lr", "steps_to_target", "curve"} and result["target_error"] == 0.25
    elif name == "dropout_augmentation":
        assert set(result["runs"]) == {"neither", "dropout", "augmentation", "both"}
        assert all(
            0 <= r["train_acc"] <= 1 and r["gap"] == pytest.approx(r["train_acc"] - r["test_acc"])
            for r in result["runs"].values()
        )
    else:
        (model,) = result["models"].values()
        assert len(model["per_view_acc"]) == 10 and model["single_centre"] == model["per_view_acc"]["centre"]
        assert model["mirror_centre"] == model["per_view_acc"]["mirror centre"]
        for test in model["mcnemar"].values():
            assert test["n"] == result["test_images"] == 50 and 0 <= test["p_value"] <= 1


@pytest.mark.parametrize("name", ["relu_vs_tanh", "dropout_augmentation", "ten_crop_tta"])
def test_stored_results_are_consistent(name):
    try:
        result = experiments.load_result(name)["result"]
    except experiments.ExperimentNotRunError:
        pytest.skip(f"{name} has not been run yet")
    if name == "relu_vs_tanh":
        relu, tanh = result["relu"]["steps_to_target"], result["tanh"]["steps_to_target"]
        assert relu is not None and result["relu"]["lr"] in result["relu"]["lr_grid"]
        if tanh is not None:
            assert result["ratio"] == pytest.approx(tanh / relu)
    elif name == "dropout_augmentation":
        runs = result["runs"]
        assert runs["neither"]["train_acc"] > runs["neither"]["test_acc"]
        # chapter 02's notes: with both regularisers the net fits its training images least and tests below
        # the unregularised net; augmentation alone tests best
        assert min(runs, key=lambda r: runs[r]["train_acc"]) == "both"
        assert runs["both"]["test_acc"] < runs["neither"]["test_acc"]
        assert max(runs, key=lambda r: runs[r]["test_acc"]) == "augmentation"
    else:
        assert result["test_images"] == 10_000 and result["orientation"]["mirrored"] == []
        for model in result["models"].values():
            # The centre view is the image itself, so it scores what the zoo measured on the same 10,000 images.
            assert model["single_centre"] == pytest.approx(model["zoo_test_acc_all_10000"], abs=2e-4)
            pair = model["mcnemar"]["single_centre vs mirror_centre"]
            assert (pair["accuracy_a"], pair["accuracy_b"]) == (model["single_centre"], model["mirror_centre"])
        # What chapter 02's "What the measurement supports" slide says, held to the stored numbers:
        alexnet, resnet = result["models"]["alexnet_cifar"], result["models"]["resnet20"]
        tests = alexnet["mcnemar"]
        assert tests["single_centre vs mirror_centre"]["p_value"] > 0.05  # the mirror alone is no better
        assert abs(alexnet["mirror_centre"] - alexnet["single_centre"]) < 0.001  # "equal within a few images"
        disagree = tests["single_centre vs mirror_centre"]
        assert disagree["a_only"] + disagree["b_only"] > 200  # "several hundred images" right in one view only
        assert tests["centre_and_mirror vs ten_crop_logits"]["p_value"] > 0.05  # eight more views: not clear
        for model in (alexnet, resnet):
            assert model["mcnemar"]["single_centre vs centre_and_mirror"]["p_value"] < 0.01  # the pair: clear
            assert model["mcnemar"]["ten_crop_logits vs ten_crop_softmax"]["p_value"] > 0.05  # logits or softmax
            gain_pair = model["centre_and_mirror"] - model["single_centre"]
            assert gain_pair > model["ten_crop_logits"] - model["centre_and_mirror"]  # the largest single gain
            corners = [acc for view, acc in model["per_view_acc"].items() if "centre" not in view]
            assert max(corners) < model["single_centre"]  # every corner view alone is worse
        # the first edition's 1.55-point lead of ResNet-20's mirrored view (2,000 images) shrinks on 10,000
        assert resnet["mirror_centre"] - resnet["single_centre"] < 0.01
