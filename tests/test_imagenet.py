"""ImageNet in the course (cnnlib.data.imagenet, cnnlib.pretrained, chapter 00's ilsvrc): the ILSVRC table and its
sources, class names, top-k accuracy, the conv/dense cost split."""

import pytest
import torch

import cnnlib
from cnnlib import data as cdata
from cnnlib import pretrained
from cnnlib.analysis import costs, metrics
from cnnlib.analysis.summary import layer_table
from cnnlib.chapters.ch00_introduction import ilsvrc
from cnnlib.data import DATASETS, ImageTensors


def test_ilsvrc_table_is_complete_sourced_and_improving():
    years = [w.year for w in ilsvrc.ILSVRC_WINNERS]
    assert years == list(range(2010, 2018))
    errors = [w.top5_error for w in ilsvrc.ILSVRC_WINNERS]
    assert errors == sorted(errors, reverse=True), "every winner beat the year before"
    assert all(w.source for w in ilsvrc.ILSVRC_WINNERS)
    by_year = {w.year: w for w in ilsvrc.ILSVRC_WINNERS}
    # the figures the lectures quote (results pages and papers, see REFERENCES.md)
    assert (by_year[2012].top5_error, by_year[2014].top5_error, by_year[2015].top5_error) == (15.3, 6.67, 3.57)
    assert by_year[2017].top5_error == 2.251  # SENet's paper gives three decimals; the chart and lectures show 2.25
    assert not by_year[2011].cnn and by_year[2012].cnn
    assert ilsvrc.HUMAN_TOP5_ERROR.top5_error == 5.1
    first_below_human = min(w.year for w in ilsvrc.ILSVRC_WINNERS if w.top5_error < ilsvrc.HUMAN_TOP5_ERROR.top5_error)
    assert first_below_human == 2015
    assert ilsvrc.ILSVRC_CLASSIFICATION["classes"] == 1000


def test_class_names_match_imagenette():
    classes = cdata.imagenet_classes()
    assert len(classes) == 1000 and classes[0] == "tench"
    from cnnlib.data import IMAGENETTE_IMAGENET_INDEX

    assert [classes[i] for i in IMAGENETTE_IMAGENET_INDEX] == list(DATASETS["imagenette"].classes)


def test_imagenette_targets_and_refusal():
    spec = DATASETS["imagenette"]
    data = ImageTensors(torch.zeros(3, 3, 8, 8, dtype=torch.uint8), torch.tensor([0, 1, 9]), spec, "val", "test")
    assert cdata.imagenette_targets(data).tolist() == [0, 217, 701]
    other = ImageTensors(
        torch.zeros(1, 1, 8, 8, dtype=torch.uint8), torch.tensor([0]), DATASETS["mnist"], "test", "test"
    )
    with pytest.raises(ValueError, match="Imagenette"):
        cdata.imagenette_targets(other)


def test_imagenette_file_origins_from_an_archive_and_a_folder(tmp_path):
    import io
    import tarfile

    names = {
        "val/n01440764/n01440764_10026.JPEG": b"x",  # an ImageNet training photo
        "val/n01440764/ILSVRC2012_val_00000293.JPEG": b"x",  # an ILSVRC-2012 validation photo
        "val/n02102040/n02102040_7.JPEG": b"x",
        "train/n02102040/n02102040_8.JPEG": b"x",  # another split: not counted
        "val/n02102040/notes.txt": b"x",  # not a photo
    }
    folder = tmp_path / "imagenette2-320"
    archive = tmp_path / "imagenette.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, content in names.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            info = tarfile.TarInfo(f"imagenette/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    for source in (archive, tmp_path):
        counts = cdata.imagenette_file_origins("val", source=source)
        assert (counts["imagenet_train"], counts["imagenet_val"], counts["other"]) == (2, 1, 0)
        assert cdata.imagenette_file_origins("train", source=source)["imagenet_train"] == 1
    with pytest.raises(FileNotFoundError):
        cdata.imagenette_file_origins("test", source=archive)
    with pytest.raises(FileNotFoundError):
        cdata.imagenette_file_origins("val", source=tmp_path / "missing")


def test_topk_by_hand():
    logits = torch.tensor([[0.1, 0.5, 0.3, 0.2], [0.9, 0.0, 0.05, 0.04], [0.0, 0.1, 0.2, 0.3]])
    targets = torch.tensor([2, 0, 0])  # row 0: second best; row 1: best; row 2: worst
    assert metrics.topk_correct(logits, targets, 1).tolist() == [False, True, False]
    assert metrics.topk_correct(logits, targets, 2).tolist() == [True, True, False]
    acc = metrics.topk_accuracy(logits, targets, ks=(1, 2, 4))
    assert acc == pytest.approx({1: 1 / 3, 2: 2 / 3, 4: 1.0})


def test_topk_refuses_bad_input():
    logits = torch.randn(4, 10)
    with pytest.raises(ValueError, match="k must be"):
        metrics.topk_correct(logits, torch.zeros(4, dtype=torch.long), 11)
    with pytest.raises(ValueError, match="targets"):
        metrics.topk_correct(logits, torch.zeros(3, dtype=torch.long), 1)
    with pytest.raises(ValueError, match="N x C"):
        metrics.topk_correct(logits[0], torch.zeros(1, dtype=torch.long), 1)
    with pytest.raises(ValueError, match="class indices"):
        metrics.topk_correct(logits, torch.full((4,), 10), 1)


def test_top_predictions_are_sorted_probabilities_with_names():
    logits = torch.zeros(1000)
    logits[217], logits[0] = 5.0, 4.0
    preds = metrics.top_predictions(logits, k=3)
    assert [p[0] for p in preds[:2]] == [217, 0]
    assert preds[0][1] == "English springer"
    probs = [p[2] for p in preds]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) < 1
    with pytest.raises(ValueError, match="class names"):
        metrics.top_predictions(torch.zeros(5), classes=["a", "b"])


def test_accuracy_interval():
    lo, hi = metrics.accuracy_interval(0.7, 500)
    assert lo < 0.7 < hi and hi - lo == pytest.approx(2 * 1.96 * (0.7 * 0.3 / 500) ** 0.5, rel=0.05)
    assert metrics.accuracy_interval(1.0, 10)[1] == 1.0
    with pytest.raises(ValueError):
        metrics.accuracy_interval(0.5, 0)


def test_cost_split_on_alexnet():
    # torchvision's AlexNet: 2,469,696 convolution weights and 58,631,144 dense ones (61,100,840 in all)
    split = costs.cost_split(layer_table(cnnlib.get_model("alexnet"), (3, 224, 224)))
    assert split["params"] == {"conv": 2_469_696, "dense": 58_631_144, "other": 0}
    assert split["mult_adds"]["dense"] == 37_748_736 + 16_777_216 + 4_096_000
    assert split["params_share"]["dense"] > 0.95 and split["mult_adds_share"]["conv"] > 0.9
    assert sum(split["params_share"].values()) == pytest.approx(1.0)


def test_published_figures_from_torchvision_metadata():
    figures = pretrained.published_figures("mobilenet_v2")
    assert (figures["top1"], figures["top5"], figures["params"]) == (71.878, 90.286, 3_504_872)  # REFERENCES.md
    assert pretrained.published_figures("vgg16")["gflops"] == pytest.approx(15.47)
    with pytest.raises(KeyError):
        pretrained.published_figures("no_such_model")
    with pytest.raises(KeyError):
        pretrained.published_figures("mobilenet_v2", "IMAGENET9K_V9")


def test_chapter_figures_render():
    import matplotlib.pyplot as plt

    from cnnlib.chapters.ch00_introduction import figures as intro

    fig = intro.plot_ilsvrc_history(ilsvrc.ILSVRC_WINNERS, ilsvrc.HUMAN_TOP5_ERROR)
    assert len(fig.axes[0].patches) == len(ilsvrc.ILSVRC_WINNERS)
    labels = [t.get_text().split("\n")[0] for t in fig.axes[0].texts]
    assert labels[0] == "28.2 %" and labels[-1] == "2.25 %"  # at most two decimals, as the lecture quotes them
    logits = torch.zeros(1000)
    logits[217] = 3.0
    fig2 = intro.plot_top5(torch.zeros(3, 16, 16, dtype=torch.uint8), logits, true_index=217)
    assert [t.get_text() for t in fig2.axes[1].get_yticklabels()][-1] == "English springer"  # best guess on top
    plt.close("all")
