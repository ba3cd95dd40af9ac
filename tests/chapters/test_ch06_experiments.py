"""Chapter 06 experiments: which blocks can be deleted, the swaps, a quick lesion run and the stored result."""

from __future__ import annotations

import random

import pytest

from cnnlib import experiments, models
from cnnlib.analysis.lesion import swapped_order
from cnnlib.chapters.ch06_why_resnet.experiments import _deletable_blocks, _vgg_layers


def test_deletable_blocks_skip_each_downsampling_block():
    blocks = _deletable_blocks(models.get_model("resnet20"))
    assert len(blocks) == 9 - 2 and "layer2.0" not in blocks and "layer3.0" not in blocks and "layer1.0" in blocks


def test_vgg_layers_are_the_shape_preserving_convolutions():
    layers = _vgg_layers(models.get_model("vgg11_bn_cifar"))
    assert len(layers) == 4 and all(len(names) == 3 for _, names in layers)
    assert [label for label, _ in layers] == ["conv4", "conv6", "conv7", "conv8"]


def test_swaps_keep_a_permutation_and_the_first_block():
    order = swapped_order(9, 5, random.Random(0), fixed_first=True)
    assert sorted(order) == list(range(9)) and order[0] == 0


@pytest.mark.slow
def test_quick_run_is_not_stored(tmp_path, monkeypatch):
    monkeypatch.setenv(experiments.EXPERIMENTS_ENV, str(tmp_path))
    record = experiments.run("lesions", quick=True)
    assert record["quick"] and record["chapter"] == "06" and not list(tmp_path.iterdir())
    result = record["result"]
    assert set(result["models"]) == {"resnet56", "plain56", "vgg11_bn_cifar"}
    for record in result["models"].values():
        assert record["images"] == 50 and all(0 <= a <= 1 for a in record["single"].values())


def test_stored_result_is_consistent():
    try:
        result = experiments.load_result("lesions")["result"]
    except experiments.ExperimentNotRunError:
        pytest.skip("lesions has not been run yet")
    resnet, plain, vgg = (result["models"][m] for m in ("resnet56", "plain56", "vgg11_bn_cifar"))
    assert len(resnet["single"]) == 25 and len(vgg["single"]) == 4
    assert all(len(v) == result["repeats"] for v in resnet["k_deleted"].values())
    # Veit et al.'s finding, which the chapter teaches: one deleted block barely hurts the residual net
    # on average, and ruins the plain one
    mean = sum(resnet["single"].values()) / len(resnet["single"])
    assert resnet["intact"] - mean < 0.1 and plain["intact"] - min(plain["single"].values()) > 0.3
