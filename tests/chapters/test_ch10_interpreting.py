"""Chapter 10: the checkers accept right answers and reject wrong ones; the chapter's tables, figures and
experiments (quick runs and the stored results)."""

from __future__ import annotations

import matplotlib
import pytest
import torch
import torch.nn.functional as F

from cnnlib import experiments, get_model
from cnnlib.chapters.ch10_interpreting import exercises
from cnnlib.chapters.ch10_interpreting.experiments import decode_png, encode_png, to_uint8
from cnnlib.chapters.ch10_interpreting.figures import plot_attributions, plot_deletion, plot_sanity
from cnnlib.chapters.ch10_interpreting.tables import (
    compute_maps,
    faithfulness_rows,
    receptive_rows,
    sanity_summary,
    two_class_maps,
)
from cnnlib.interpret import GradCAM, Saliency

matplotlib.use("Agg")


def _grad_cam(model, layer, x, target, relu=True, hook_left=False):
    kept = {}
    handle = layer.register_forward_hook(lambda m, i, o: kept.update(A=o))
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x)[:, target].sum(), kept["A"])
    if not hook_left:
        handle.remove()
    out = (grad.mean((2, 3), keepdim=True) * kept["A"]).sum(1)
    return (F.relu(out) if relu else out).detach()


def test_check_grad_cam_accepts_the_method_and_rejects_a_missing_relu_or_a_leftover_hook():
    assert exercises.check_grad_cam(_grad_cam)
    with pytest.raises(AssertionError, match="ReLU"):
        exercises.check_grad_cam(lambda *a: _grad_cam(*a, relu=False))
    with pytest.raises(AssertionError, match="hooks are left"):
        exercises.check_grad_cam(lambda *a: _grad_cam(*a, hook_left=True))


@torch.no_grad()
def _occlusion(model, x, target, window, stride, fill, size_off=0):
    base = model(x)[:, target]
    ys = range(0, x.shape[2] - window + 1 + size_off, stride)
    xs = range(0, x.shape[3] - window + 1 + size_off, stride)
    out = torch.empty(len(x), len(ys), len(xs))
    for a, i in enumerate(ys):
        for b, j in enumerate(xs):
            covered = x.clone()
            covered[:, :, i : i + window, j : j + window] = fill
            out[:, a, b] = base - model(covered)[:, target]
    return out


def test_check_occlusion_accepts_the_method_and_rejects_a_wrong_grid():
    assert exercises.check_occlusion(_occlusion)
    with pytest.raises(AssertionError, match="positions"):
        exercises.check_occlusion(lambda *a: _occlusion(*a, size_off=-1))  # misses the last position
    with pytest.raises(AssertionError, match="differ"):
        exercises.check_occlusion(lambda m, x, t, w, s, f: _occlusion(m, x, t, w, s, 0.0))  # ignores fill


def test_check_receptive_field_accepts_the_recursion_and_rejects_forgetting_the_jump():
    def sizes(kernels, strides, jump=True):
        r, j, out = 1, 1, []
        for k, s in zip(kernels, strides):
            r, j = r + (k - 1) * j, j * s if jump else 1
            out.append(r)
        return out

    assert exercises.check_receptive_field(sizes)
    with pytest.raises(AssertionError, match="expected"):
        exercises.check_receptive_field(lambda k, s: sizes(k, s, jump=False))


def test_png_round_trip_and_denormalisation():
    img = torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8)
    assert torch.equal(decode_png(encode_png(img)), img)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    x = ((img.float() / 255 - mean[:, None, None]) / std[:, None, None])[None]
    assert (to_uint8(x).int() - img.int()).abs().max() <= 1


def test_compute_maps_and_the_gallery_figure():
    torch.manual_seed(0)
    model = get_model("resnet20").eval()
    x = torch.randn(2, 3, 32, 32)
    maps, seconds = compute_maps({"gradient": Saliency, "grad-cam": GradCAM}, model, x, [1, 2])
    assert set(maps) == set(seconds) == {"gradient", "grad-cam"} and maps["grad-cam"].shape == (2, 32, 32)
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    fig = plot_attributions(images, maps, ["a", "b"])
    assert len(fig.axes) == 2 * 3


def test_receptive_rows_give_an_effective_field_inside_the_theoretical_one():
    torch.manual_seed(0)
    model = get_model("resnet20").eval()
    rows, maps = receptive_rows(model, ["stem", "layer1"], torch.randn(4, 3, 48, 48))
    assert [r["theoretical"] for r in rows] == [3, 15]
    for r in rows:
        assert 1 <= r["trained"] <= r["theoretical"] and 1 <= r["random init"] <= r["theoretical"]
    assert len(maps["trained"]) == 2 and maps["trained"][0].shape == (48, 48)


def _stored(name):
    try:
        return experiments.load_result(name)["result"]
    except experiments.ExperimentNotRunError:
        pytest.skip(f"{name} has not been run yet")


def test_stored_faithfulness_beats_random_and_is_tabled():
    result = _stored("interpret_faithfulness")
    rows = faithfulness_rows(result)
    assert [r["deletion"] for r in rows] == sorted(r["deletion"] for r in rows)
    assert len(result["fraction"]) == result["steps"] + 1 and result["photos"] == 32
    random = result["methods"]["random"]
    for name, row in result["methods"].items():
        probs = row["deletion"]["probability"]
        assert len(probs) == result["steps"] + 1 and 0 <= min(probs) <= max(probs) <= 1
    # Petsiuk et al.'s premise, which the chapter teaches: Grad-CAM's order deletes the evidence faster than
    # a random order, and restores it faster
    assert result["methods"]["grad-cam"]["deletion"]["auc"] < random["deletion"]["auc"]
    assert result["methods"]["grad-cam"]["insertion"]["auc"] > random["insertion"]["auc"]
    plot_deletion(result)


def test_stored_sanity_check_has_every_stage_and_the_maps_shown():
    result = _stored("interpret_sanity")
    assert result["stages"][0] == "none" and len(result["stages"]) == 21
    for name, rows in result["rows"].items():
        assert [r["layer"] for r in rows] == result["stages"] and rows[0]["spearman"] == 1.0
        assert len(result["maps"][name]) == len(result["shown_stages"])
    summary = sanity_summary(result)
    # the gradient depends on the model: once every layer is random its map is no longer the trained one's
    assert summary["gradient"]["all"] < 0.5
    plot_sanity(result)


@pytest.mark.slow
def test_quick_runs_have_the_stored_form(tmp_path, monkeypatch):
    monkeypatch.setenv(experiments.EXPERIMENTS_ENV, str(tmp_path))
    faith = experiments.run("interpret_faithfulness", quick=True)["result"]
    assert set(faith["methods"]) >= {"random", "occlusion", "grad-cam"} and faith["steps"] == 4
    sanity = experiments.run("interpret_sanity", quick=True)["result"]
    assert len(sanity["stages"]) == 4 and all(len(r) == 4 for r in sanity["rows"].values())
    classes = experiments.run("class_models", quick=True)["result"]
    assert decode_png(classes["classes"][0]["png"]).shape == (3, 64, 64) and len(classes["ablation"]) == 4
    assert not list(tmp_path.iterdir())


def test_two_class_maps_picks_the_image_whose_two_maps_differ_most():
    torch.manual_seed(0)
    model = get_model("resnet20").eval()
    x = torch.randn(3, 3, 32, 32)
    method = GradCAM(model, upsample=False)
    predictions, labels = torch.tensor([1, 2, 3]), torch.tensor([1, 5, 7])  # image 0: the same class twice
    i, rho, two = two_class_maps(method, x, predictions, labels, [0, 1, 2])
    assert two.shape == (2, 8, 8) and i in (1, 2)
    assert two_class_maps(method, x, predictions, labels, [0])[1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no candidate"):
        two_class_maps(method, x, predictions, labels, [])
