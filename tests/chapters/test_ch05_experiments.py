"""Chapter 05 experiments: a quick run of the loss landscape is not stored and has the stored result's form."""

from __future__ import annotations

import math

import pytest

from cnnlib import experiments
from cnnlib.chapters.ch05_resnet.experiments import LANDSCAPE_MODELS


def _check_form(result: dict) -> None:
    steps = result["steps"]
    assert len(result["coordinates"]) == steps and result["coordinates"][steps // 2] == pytest.approx(0, abs=1e-6)
    assert set(result["models"]) == set(LANDSCAPE_MODELS)
    for record in result["models"].values():
        assert len(record["loss"]) == steps and all(len(row) == steps for row in record["loss"])
        assert all(0 <= a <= 1 for row in record["accuracy"] for a in row)
        assert all(math.isfinite(v) and v >= 0 for row in record["loss"] for v in row)


@pytest.mark.slow
def test_quick_run_is_not_stored(tmp_path, monkeypatch):
    monkeypatch.setenv(experiments.EXPERIMENTS_ENV, str(tmp_path))
    record = experiments.run("loss_landscape", quick=True)
    assert record["quick"] and record["chapter"] == "05" and not list(tmp_path.iterdir())
    result = record["result"]
    assert result["steps"] == 3 and result["images"] == 20
    _check_form(result)


def test_stored_result_is_consistent():
    try:
        result = experiments.load_result("loss_landscape")["result"]
    except experiments.ExperimentNotRunError:
        pytest.skip("loss_landscape has not been run yet")
    _check_form(result)
    centre = result["steps"] // 2
    for record in result["models"].values():
        loss = record["loss"]
        # the trained weights sit at the bottom of the slice: the centre is its lowest point
        assert loss[centre][centre] == min(v for row in loss for v in row)
    resnet, plain = (result["models"][m]["loss"] for m in LANDSCAPE_MODELS)
    assert resnet[centre][centre] < plain[centre][centre]  # the residual net also fits the training set better


@pytest.mark.slow
def test_stochastic_depth_quick_run(tmp_path, monkeypatch):
    monkeypatch.setenv(experiments.EXPERIMENTS_ENV, str(tmp_path))
    record = experiments.run("stochastic_depth", quick=True)
    assert record["quick"] and record["chapter"] == "05" and not list(tmp_path.iterdir())
    runs = record["result"]["runs"]
    assert [r["stochastic_depth_prob"] for r in runs.values()] == [0.0, 0.5]
    assert all(len(r["epochs"]) == 1 and 0 <= r["test_acc"] <= 1 for r in runs.values())


def test_stored_stochastic_depth_is_consistent():
    try:
        result = experiments.load_result("stochastic_depth")["result"]
    except experiments.ExperimentNotRunError:
        pytest.skip("stochastic_depth has not been run yet")
    for run in result["runs"].values():
        assert len(run["epochs"]) == result["epochs"] and run["test_acc"] == run["epochs"][-1]["test_acc"]
        assert run["train_acc_clean"] > 0.3  # both nets learn in the short run (chance: 0.1)
