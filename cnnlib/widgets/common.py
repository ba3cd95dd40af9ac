"""Explorers several chapters use (see the package docstring for how every explorer behaves)."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
import torch.nn as nn

from ..analysis import capture_activations
from ..data import ImageTensors, normalize
from ..viz import plot_feature_maps

__all__ = ["feature_map_explorer"]


def _feature_figure(model: nn.Module, data: ImageTensors, index: int, layers: Mapping[str, str], max_maps: int):
    device = next(model.parameters()).device
    image = data.images[index : index + 1]
    x = normalize(image.to(device), data.spec.mean, data.spec.std)
    captured = capture_activations(model, x, list(layers.values()))
    maps = {label: captured[name] for label, name in layers.items()}
    with torch.no_grad():
        pred = model(x).argmax(1).item()
    title = f"{data.split} image #{index}: label {data.classes[int(data.labels[index])]}, predicted {data.classes[pred]}"
    return plot_feature_maps({k: v[0] for k, v in maps.items()}, image=image[0], max_maps=max_maps, title=title)


def feature_map_explorer(
    model: nn.Module, data: ImageTensors, layers: Mapping[str, str] | Sequence[str], index: int = 0, max_maps: int = 16
):
    """Pick an image of ``data`` with a slider and see the feature maps of each layer.

    ``layers``: module names, or ``{label: module name}`` to caption the rows (e.g. ``{"C1": "features.1"}``).
    """
    import ipywidgets as widgets
    from IPython.display import display

    if not isinstance(layers, Mapping):
        layers = {name: name for name in layers}

    fig = _feature_figure(model, data, index, layers, max_maps)
    display(fig)  # the static view, kept in the notebook's outputs
    plt.close(fig)

    slider = widgets.IntSlider(value=index, min=0, max=len(data) - 1, description="image #", continuous_update=False)
    out = widgets.Output()

    def redraw(change=None) -> None:
        with out:
            out.clear_output(wait=True)
            f = _feature_figure(model, data, slider.value, layers, max_maps)
            display(f)
            plt.close(f)

    slider.observe(redraw, names="value")
    box = widgets.VBox([widgets.HTML("<b>Explore:</b> move the slider to pick another test image (live kernel only)."), slider, out])
    display(box)
    return box
