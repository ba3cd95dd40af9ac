"""Plots carry titles and labelled axes; analysis hooks are always removed; confusion counts are right."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch

import cnnlib
from cnnlib import viz
from cnnlib.analysis import metrics
from cnnlib.analysis.activations import capture_activations, record_activations
from cnnlib.analysis.metrics import first_crossing, misclassified, standard_error


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def history(offset: float = 0.0) -> dict:
    epochs = [
        {
            "epoch": e,
            "train_loss": 1 / e + offset,
            "train_acc": 0.5 + e / 10,
            "test_loss": 1.2 / e,
            "test_acc": 0.5 + e / 11,
            "seconds": 1.0,
        }
        for e in (1, 2, 3)
    ]
    steps = [{"step": s, "train_loss": 1 / s, "train_acc": 0.9} for s in (10, 20, 30)]
    return {"epochs": epochs, "steps": steps}


def labelled(ax) -> bool:
    return bool(ax.get_title() and ax.get_xlabel() and ax.get_ylabel())


def test_plot_history_one_and_many():
    fig = viz.plot_history(history(), metrics=("loss", "acc", "error"), title="t")
    assert len(fig.axes) == 3 and all(labelled(ax) for ax in fig.axes)
    fig = viz.plot_history({"a": history(), "b": history(0.1)})
    assert len(fig.axes[0].lines) == 4  # two runs x (train, test)


def test_plot_steps():
    fig = viz.plot_steps({"a": history(), "b": history()}, title="t")
    assert labelled(fig.axes[0]) and len(fig.axes[0].lines) == 2
    with pytest.raises(ValueError, match="log_every"):
        viz.plot_steps({"x": {"epochs": [], "steps": []}})


def test_image_grids_and_filters():
    images = torch.randint(0, 256, (10, 1, 32, 32), dtype=torch.uint8)
    fig = viz.show_images(images, labels=torch.arange(10), predictions=torch.zeros(10), title="digits")
    assert fig._suptitle.get_text() == "digits"
    wrong_titles = [ax.get_title() for ax in fig.axes if ax.get_title().startswith("1\n")]
    assert wrong_titles == ["1\n→ 0"]
    fig = viz.plot_filters(torch.randn(6, 1, 5, 5))
    assert fig._suptitle.get_text()
    fig = viz.plot_filters(torch.randn(4, 3, 3, 3), title="rgb")
    with pytest.raises(ValueError):
        viz.show_images(images[:0])


def test_feature_maps_figure():
    fig = viz.plot_feature_maps(
        {"C1": torch.rand(6, 28, 28), "S2": torch.rand(6, 14, 14)}, image=torch.rand(1, 32, 32), title="maps"
    )
    assert fig._suptitle.get_text() == "maps"


def test_confusion_matrix_counts_and_plot():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    preds = torch.tensor([0, 1, 1, 1, 0, 2])
    cm = metrics.confusion_matrix(labels, preds, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert metrics.top_confusions(cm, ["a", "b", "c"], k=5) == [("a", "b", 1), ("c", "a", 1)]
    fig = viz.plot_confusion_matrix(cm, ["a", "b", "c"], hide_diagonal=True)
    assert labelled(fig.axes[0])


def test_plot_bars():
    fig = viz.plot_bars({"x": 1.0, "y": 2.0}, title="t", ylabel="error (%)", reference={"paper": 1.5})
    assert labelled(fig.axes[0]) or fig.axes[0].get_ylabel()


def test_capture_activations_and_hooks_removed():
    model = cnnlib.get_model("lenet5")
    x = torch.randn(2, 1, 32, 32)
    maps = capture_activations(model, x, ["features.0", "features.6"])
    assert maps["features.0"].shape == (2, 6, 28, 28) and maps["features.6"].shape == (2, 120, 1, 1)
    assert all(not m._forward_hooks for m in model.modules())
    with pytest.raises(RuntimeError):
        with record_activations(model, ["features.0"]):
            raise RuntimeError("boom")
    assert all(not m._forward_hooks for m in model.modules()), "hooks must be removed even after an error"
    with pytest.raises(KeyError, match="no layer"):
        capture_activations(model, x, ["features.42"])


def test_misclassified_most_confident_first():
    logits = torch.tensor([[5.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 9.0]])
    labels = torch.tensor([1, 1, 1, 0])
    assert misclassified(logits, labels).tolist() == [3, 0, 2]


def test_widget_shows_a_static_figure_headless(monkeypatch):
    import IPython.display

    from cnnlib.data import DATASETS, ImageTensors
    from cnnlib.widgets import feature_map_explorer

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    data = ImageTensors(
        torch.randint(0, 256, (3, 1, 32, 32), dtype=torch.uint8),
        torch.tensor([1, 2, 3]),
        DATASETS["mnist"],
        "test",
        "synthetic",
    )
    box = feature_map_explorer(cnnlib.get_model("lenet5"), data, {"C1": "features.0"}, index=1)
    assert isinstance(shown[0], plt.Figure), "the first output must be a static figure"
    assert "test image #1" in shown[0]._suptitle.get_text()
    slider = box.children[1].children[0]
    slider.value = 2  # a live change redraws into the widget's output area without error
    assert slider.max == 2
    with pytest.raises(IndexError, match="0..2"):
        feature_map_explorer(cnnlib.get_model("lenet5"), data, ["features.0"], index=3)


def test_controls_explorer_redraws_once_per_change_and_names_unknown_controls(monkeypatch):
    import IPython.display
    import ipywidgets as widgets

    from cnnlib.widgets import controls_explorer

    monkeypatch.setattr(IPython.display, "display", lambda obj: None)
    calls = []

    def draw(a, b):
        calls.append((a, b))
        fig, _ = plt.subplots()
        return fig

    controls = {"a": widgets.IntSlider(value=1, min=0, max=9), "b": widgets.IntSlider(value=2, min=0, max=9)}
    box = controls_explorer(draw, controls, rows=[["a"], ["b"]])
    assert calls == [(1, 2)], "the static figure is drawn once from the controls' start values"
    controls["a"].value = 5
    assert calls[-1] == (5, 2)
    box.set_values({"a": 7, "b": 8})
    assert calls[1:] == [(5, 2), (7, 8)], "set_values changes several controls with one redraw"
    with pytest.raises(KeyError, match="'c'"):
        box.set_values({"c": 1})


def test_chapter_explorers_show_their_static_figure_headless(monkeypatch):
    import IPython.display

    from cnnlib.chapters.ch02_alexnet.figures import lrn_explorer
    from cnnlib.chapters.ch03_vgg.figures import receptive_field_explorer

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    for explorer in (lrn_explorer, receptive_field_explorer):
        shown.clear()
        box = explorer()
        assert isinstance(shown[0], plt.Figure)
        slider = box.children[1].children[0]
        slider.value = slider.max  # redraws without error
    plt.close("all")


def test_first_crossing_reads_any_curve_of_a_history():
    steps = [{"step": 20, "train_loss": 2.1}, {"step": 40, "train_loss": 0.5}, {"step": 60, "train_loss": 0.3}]
    assert first_crossing(steps, 0.5, key="train_loss") == 40  # at or below
    assert first_crossing(steps, 0.1, key="train_loss") is None
    with pytest.raises(KeyError):
        first_crossing(steps, 0.5)  # the default key is the training error, which this curve lacks


def test_standard_error_of_a_rate():
    assert standard_error(0.1, 10_000) == pytest.approx(0.003)  # sqrt(0.1 * 0.9 / 10000)
    assert standard_error(0.0, 50) == 0.0
    with pytest.raises(ValueError, match="rate in"):
        standard_error(1.5, 10)
    with pytest.raises(ValueError, match="n >= 1"):
        standard_error(0.5, 0)


def test_mcnemar_counts_only_the_disagreements():
    # 100 images: both right on 80, only A right on 12, only B right on 3, both wrong on 5.
    a = torch.tensor([1] * 80 + [1] * 12 + [0] * 3 + [0] * 5, dtype=torch.bool)
    b = torch.tensor([1] * 80 + [0] * 12 + [1] * 3 + [0] * 5, dtype=torch.bool)
    result = metrics.mcnemar(a, b)
    assert (result["a_only"], result["b_only"], result["n"]) == (12, 3, 100)
    assert result["accuracy_a"] == pytest.approx(0.92) and result["accuracy_b"] == pytest.approx(0.83)
    assert result["chi2"] == pytest.approx((9 - 1) ** 2 / 15)
    # the paired difference b - a per image is +1 (3 images), -1 (12) or 0: its sample variance / n
    d = b.float() - a.float()
    assert result["difference_se"] == pytest.approx(d.var(unbiased=False).sqrt().item() / 10)
    # exact: 2 * P(X <= 3), X ~ Binomial(15, 1/2) = 2 * (1 + 15 + 105 + 455) / 2^15
    assert result["p_value"] == pytest.approx(2 * 576 / 2**15)
    assert metrics.mcnemar(b, a)["p_value"] == result["p_value"]  # symmetric
    same = metrics.mcnemar(a, a)
    assert same["p_value"] == 1.0 and same["chi2"] == 0.0
    # The 80 shared right answers do not matter: only the 15 disagreements do.
    assert metrics.mcnemar(a[80:], b[80:])["p_value"] == result["p_value"]
    with pytest.raises(ValueError, match="same images"):
        metrics.mcnemar(a, b[:50])


def test_mcnemar_agrees_with_scipy_binomtest():
    stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        a, b = torch.rand(400, generator=g) < 0.8, torch.rand(400, generator=g) < 0.75
        result = metrics.mcnemar(a, b)
        k, n = result["a_only"], result["a_only"] + result["b_only"]
        assert result["p_value"] == pytest.approx(stats.binomtest(k, n, 0.5).pvalue, rel=1e-9)


def test_place_labels_keeps_crowded_labels_apart():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    xy = [(1.0, 1.0), (1.05, 1.02), (1.1, 0.98), (0.95, 1.01), (1.02, 0.96), (2.0, 2.0)]
    ax.plot(*zip(*xy), "o")
    ax.set_xlim(0, 3)
    ax.set_ylim(0, 3)
    labels = ["alpha", "beta", "gamma", "delta", "epsilon", "far"]
    anns = viz.place_labels(ax, xy, labels, colours=["red"] * 6)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    from matplotlib.text import Text

    boxes = [Text.get_window_extent(a, renderer) for a in anns]
    assert [a.get_text() for a in anns] == labels and anns[0].get_color() == "red"
    assert not any(boxes[i].overlaps(boxes[j]) for i in range(6) for j in range(i + 1, 6))
    assert anns[5].arrow_patch is None  # a lone point gets its label right beside it, without a line
    plt.close(fig)


def test_place_labels_keeps_labels_off_big_markers():
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    fig, ax = plt.subplots(figsize=(5, 4))
    xy = [(1.0, 1.0), (1.3, 1.0), (2.5, 2.5)]
    ax.set_xlim(0, 3)
    ax.set_ylim(0, 3)
    anns = viz.place_labels(ax, xy, ["a", "b", "c"], radii=[6, 40, 6])
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    big = ax.transData.transform(xy[1])
    r = 40 * fig.dpi / 72
    for ann in (anns[0], anns[2]):
        box = Text.get_window_extent(ann, renderer)
        assert not (box.x1 > big[0] - r and box.x0 < big[0] + r and box.y1 > big[1] - r and box.y0 < big[1] + r)
    plt.close(fig)


def test_one_colour_blind_safe_style_for_every_figure():
    """cnnlib's colours come from Okabe-Ito (or Tol's muted scheme, or grey); text is projector-sized."""
    import re
    from pathlib import Path

    import matplotlib as mpl

    from cnnlib import viz

    allowed = {c.upper() for c in [*viz.PALETTE.values(), *viz.TOL_MUTED]}
    found = {}
    for path in (Path(viz.__file__).parent).rglob("*.py"):
        for colour in re.findall(r"[\"'](#[0-9a-fA-F]{6})[\"']", path.read_text(encoding="utf-8")):
            r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
            if colour.upper() not in allowed and not (r == g == b):
                found.setdefault(colour, []).append(path.name)
    assert found == {}, f"colours outside the course's palette: {found}"
    sizes = [viz.STYLE[k] for k in ("font.size", "axes.labelsize", "xtick.labelsize", "legend.fontsize")]
    assert min(sizes) >= 11
    # dense annotations (values in cells, many tick labels) may go smaller, never below 8 pt
    small = {
        f"{path.name}: {size}"
        for path in Path(viz.__file__).parent.rglob("*.py")
        for size in re.findall(r"fontsize=(\d+(?:\.\d+)?)", path.read_text(encoding="utf-8"))
        if float(size) < 8
    }
    assert small == set(), f"text below 8 pt: {sorted(small)}"
    with mpl.rc_context():
        viz.use_course_style()
        assert mpl.rcParams["axes.prop_cycle"].by_key()["color"][:3] == ["#0072B2", "#D55E00", "#009E73"]
        assert mpl.rcParams["font.size"] == 12
