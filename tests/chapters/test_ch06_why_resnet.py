"""Chapter 06: the capacity construction, the seed's table, the path checker and the figures."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from cnnlib.chapters.ch06_why_resnet import exercises, figures, tables  # noqa: E402
from cnnlib.chapters.ch06_why_resnet.capacity import embed_shallow, make_identity_block  # noqa: E402
from cnnlib.data import DATASETS, ImageTensors  # noqa: E402
from cnnlib.models import get_model  # noqa: E402
from cnnlib.testing import randomise_batch_norm  # noqa: E402


@pytest.mark.parametrize("kind", ["plain", "resnet"])
def test_a_deeper_net_computes_exactly_what_the_shallow_one_does(kind):
    torch.manual_seed(0)
    shallow = randomise_batch_norm(get_model(f"{kind}20")).eval()  # trained-like BN statistics
    deep = get_model(f"{kind}32")
    embedded = embed_shallow(shallow, deep)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(embedded(x), shallow(x), atol=1e-5)
        assert not torch.allclose(deep.eval()(x), shallow(x), atol=1e-2)  # deep itself is untouched
    assert sum(p.numel() for p in embedded.parameters()) == sum(p.numel() for p in deep.parameters())


def test_embedding_refuses_mismatched_nets():
    with pytest.raises(ValueError, match="plain, or both residual"):
        embed_shallow(get_model("plain20"), get_model("resnet32"))
    with pytest.raises(ValueError, match="more blocks"):
        embed_shallow(get_model("resnet32"), get_model("resnet20"))
    with pytest.raises(TypeError):
        embed_shallow(get_model("vgg11_bn_cifar"), get_model("resnet20"))
    with pytest.raises(ValueError, match="shape"):
        make_identity_block(get_model("resnet20").layer2[0])


def test_architecture_table_matches_the_seed_where_it_counts_alike():
    rows = {r["name"]: r for r in tables.architecture_table()}
    for name in ("AlexNet", "VGG16", "VGG19", "ResNet50", "ResNet101", "ResNet152"):
        assert (rows[name]["convs"], rows[name]["dense"]) == (rows[name]["seed_convs"], rows[name]["seed_dense"])
    assert rows["AlexNet"]["params"] == 62_378_344 and rows["ResNet50"]["params"] == 25_557_032
    assert rows["LeNet"]["convs"] + rows["LeNet"]["dense"] == 5  # C5 is a convolution here, "dense" in the seed


def test_paths_checker():
    assert exercises.check_paths_of_length(math.comb)
    with pytest.raises(AssertionError, match="paths_of_length"):
        exercises.check_paths_of_length(lambda n, k: n * k)


def test_figures_draw():
    single = {f"layer1.{i}": 0.9 for i in range(3)}
    resnet = {"images": 50, "intact": 0.9, "single": single, "k_deleted": {"1": [0.8, 0.85], "2": [0.7, 0.6]}}
    resnet["shuffled"] = [{"swaps": 1, "kendall_tau": 0.9, "acc": 0.8}]
    plain = {"images": 50, "intact": 0.8, "single": dict.fromkeys(single, 0.1), "k_deleted": {"1": [0.1], "2": [0.1]}}
    plain["shuffled"] = [{"swaps": 1, "kendall_tau": 0.9, "acc": 0.1}]
    vgg = {"images": 50, "intact": 0.9, "single": {"conv 11": 0.1}}
    lesions = {"repeats": 2, "models": {"resnet56": resnet, "plain56": plain, "vgg11_bn_cifar": vgg}}
    paths = {"blocks": 3, "lengths": [0, 1, 2, 3], "gradient_norm": [1, 0.1, 0.01, 0.001], "path_count": [1, 3, 3, 1]}
    for fig in (
        figures.plot_layer_statistic({"plain56": [1.0, 0.5]}, "norm"),
        figures.plot_response_std({"plain20": [1.0, 2.0], "resnet20": [0.5, 0.4]}),
        figures.plot_path_gradients(paths),
        figures.plot_lesions(lesions),
        figures.plot_depth_returns({20: 8.75, 56: 6.97}, {"resnet20": (20, 9.6)}),
    ):
        assert fig.axes
        plt.close(fig)


def test_lesion_explorer_renders_headless(capsys):
    images = torch.randint(0, 256, (20, 3, 32, 32), dtype=torch.uint8)
    data = ImageTensors(images, torch.randint(0, 10, (20,)), DATASETS["cifar10"], "test", "synthetic")
    model = get_model("resnet20").eval()
    box = figures.lesion_explorer(model, data, ["layer1.1", "layer1.2"], ["layer1", "layer2", "layer3"])
    box.set_values({"deleted": ("layer1.1",), "swaps": 2})
    plt.close("all")


def test_lesion_rows_summarise_the_single_deletions():
    result = {"models": {"resnet56": {"intact": 0.9, "single": {"layer1.1": 0.89, "layer2.1": 0.8}}}}
    (row,) = tables.lesion_rows(result)
    assert row["deletions"] == 2 and row["worst_at"] == "layer2.1"
    assert row["worst_drop"] == pytest.approx(10.0) and row["mean_drop"] == pytest.approx(5.5)


def test_stage_drops_average_per_stage():
    record = {"intact": 0.9, "single": {"layer1.1": 0.8, "layer1.2": 0.9, "layer2.1": 0.85}}
    drops = tables.stage_drops(record)
    assert drops == pytest.approx({"layer1": 5.0, "layer2": 5.0})
