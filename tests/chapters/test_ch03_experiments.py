"""Chapter 03's experiments run (quick) and their model variants are what they claim."""

import pytest
import torch

import cnnlib
from cnnlib import experiments
from cnnlib.analysis.summary import count_parameters


def test_vgg_fc_head_is_the_papers_classifier_on_a_1x1_map():
    gap = cnnlib.get_model("vgg11_bn_cifar")  # the default is unchanged: 9,231,114 parameters
    fc = cnnlib.get_model("vgg11_bn_cifar", head="fc")
    assert count_parameters(gap) == 9_231_114
    # FC-4096, FC-4096, FC-10 on the 512 channels: (512+1)*4096 + (4096+1)*4096 + (4096+1)*10
    assert count_parameters(fc) - count_parameters(gap.features) == 513 * 4096 + 4097 * 4096 + 4097 * 10
    quarter = cnnlib.get_model("vgg11_bn_cifar", width=0.25, head="fc")
    assert (
        quarter.classifier[0].in_features == 128 and quarter.classifier[0].out_features == 1024
    )  # hidden = 4096 x width
    assert cnnlib.get_model("vgg16_bn_cifar", head="fc", hidden=100).classifier[3].out_features == 100
    x = torch.randn(2, 3, 32, 32)
    assert quarter(x).shape == (2, 10)
    with pytest.raises(ValueError, match="head"):
        cnnlib.get_model("vgg11_bn_cifar", head="imagenet")
    with pytest.raises(ValueError, match="hidden"):
        cnnlib.get_model("vgg11_bn_cifar", head="fc", hidden=0)


def test_vgg_heads_quick_run():
    record = experiments.run("vgg_heads", quick=True)
    result = record["result"]
    assert set(result["runs"]) == {"fc", "cifar"}
    fc, gap = result["runs"]["fc"], result["runs"]["cifar"]
    assert fc["params"] - fc["head_params"] == gap["params"] - gap["head_params"]  # same convolutional part
    assert gap["head_params"] == 128 * 10 + 10 and fc["head_params"] > 1_000_000
    assert 0 <= fc["test_acc"] <= 1 and len(fc["epochs"]) == 1
    assert record["quick"] is True


def test_vgg_transfer_quick_run():
    record = experiments.run("vgg_transfer", quick=True)
    result = record["result"]
    assert result["pretrained"]["feature_dim"] == 1280 and result["pretrained"]["probe_params"] == 1280 * 10 + 10
    for key in ("probe_val_acc", "imagenet_head_val_acc"):
        assert 0 <= result["pretrained"][key] <= 1
    assert result["scratch"]["image_size"] == 64 and 0 <= result["scratch"]["val_acc"] <= 1
    assert "mirror" in result["pretrained"]["weights"] or "official" in result["pretrained"]["weights"]


def test_stored_results_exist_and_are_full_runs():
    for name in ("vgg_heads", "vgg_transfer"):
        try:
            record = experiments.load_result(name)
        except experiments.ExperimentNotRunError:
            pytest.skip(f"{name} not run yet")
        assert record["quick"] is False and record["chapter"] == "03"
