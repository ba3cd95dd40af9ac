"""Interactive explorers (ipywidgets) that several chapters use; a chapter's own explorers are in its
``cnnlib/chapters/chNN_slug/figures.py`` and are built from these.

Each explorer first draws a static figure for its default selection as a normal cell output, so
an executed notebook (CI, a static HTML or slide export) still shows something useful; the
controls below it redraw into their own output area when a live kernel is attached.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
from matplotlib.figure import Figure

from .analysis.activations import capture_activations
from .data import ImageTensors, normalize
from .viz import plot_feature_maps

__all__ = ["controls_explorer", "feature_map_explorer", "index_slider_explorer"]


def _feature_figure(model: nn.Module, data: ImageTensors, index: int, layers: Mapping[str, str], max_maps: int):
    device = next(model.parameters()).device
    image = data.images[index : index + 1]
    x = normalize(image.to(device), data.spec.mean, data.spec.std)
    captured = capture_activations(model, x, list(layers.values()))
    maps = {label: captured[name] for label, name in layers.items()}
    with torch.no_grad():
        pred = model(x).argmax(1).item()
    title = (
        f"{data.split} image #{index}: label {data.classes[int(data.labels[index])]}, predicted {data.classes[pred]}"
    )
    return plot_feature_maps({k: v[0] for k, v in maps.items()}, image=image[0], max_maps=max_maps, title=title)


def feature_map_explorer(
    model: nn.Module, data: ImageTensors, layers: Mapping[str, str] | Sequence[str], index: int = 0, max_maps: int = 16
):
    """Pick an image of ``data`` with a slider and see the feature maps of each layer.

    ``layers``: module names, or ``{label: module name}`` to caption the rows (e.g. ``{"C1": "features.1"}``).
    """
    if not isinstance(layers, Mapping):
        layers = {name: name for name in layers}

    return index_slider_explorer(
        lambda i: _feature_figure(model, data, i, layers, max_maps),
        len(data),
        index,
        "image #",
        "pick another test image",
    )


def controls_explorer(
    draw: Callable[..., Figure],
    controls: Mapping[str, object],
    rows: Sequence[Sequence[str]] | None = None,
    note: str = "move the controls to redraw",
    above: Sequence[object] = (),
):
    """The explorers' common shape: ``draw(**values)`` shown once as a static output, then redrawn from widgets.

    ``controls`` maps ``draw``'s keyword arguments to ipywidgets controls (sliders, dropdowns); ``rows``
    groups their names into lines (default: one line); ``above`` are extra widgets placed above the rows.
    The static figure stays in the notebook's outputs (CI, HTML and slide exports show it); the
    controls redraw into their own output area when a live kernel is attached. The returned box has
    ``set_values(mapping)``, which changes several controls at once and redraws once.
    """
    import ipywidgets as widgets
    from IPython.display import display

    def values() -> dict:
        return {name: control.value for name, control in controls.items()}

    fig = draw(**values())
    display(fig)
    plt.close(fig)

    out = widgets.Output()
    paused = False

    def redraw(change=None) -> None:
        if paused:
            return
        with out:
            out.clear_output(wait=True)
            f = draw(**values())
            display(f)
            plt.close(f)

    def set_values(new: Mapping[str, object]) -> None:
        nonlocal paused
        unknown = set(new) - set(controls)
        if unknown:
            raise KeyError(f"no control named {sorted(unknown)}; controls: {list(controls)}")
        paused = True
        try:
            for name, value in new.items():
                controls[name].value = value
        finally:
            paused = False
        redraw()

    for control in controls.values():
        control.observe(redraw, names="value")
    rows = rows or [list(controls)]
    lines = [widgets.HBox([controls[name] for name in row]) for row in rows]
    box = widgets.VBox([widgets.HTML(f"<b>Explore:</b> {note} (live kernel only)."), *above, *lines, out])
    box.set_values = set_values
    display(box)
    return box


def index_slider_explorer(
    draw: Callable[[int], Figure], count: int, index: int = 0, label: str = "image #", what: str = "pick another image"
):
    """One slider over ``0 .. count-1`` that redraws ``draw(index)`` (see :func:`controls_explorer`)."""
    import ipywidgets as widgets

    if not 0 <= index < count:
        raise IndexError(f"index must be in 0..{count - 1}, got {index}")
    slider = widgets.IntSlider(value=index, min=0, max=count - 1, description=label, continuous_update=False)
    return controls_explorer(lambda index: draw(index), {"index": slider}, note=f"move the slider to {what}")
