"""The effective receptive field (Luo, Li, Urtasun, Zemel 2016, https://arxiv.org/abs/1701.04128).

The theoretical receptive field of a unit (:mod:`cnnlib.analysis.receptive_field`) is every input
pixel that *can* change it. Luo et al. measure how much each pixel *does*: the gradient of the
centre unit of a layer with respect to the input, averaged in magnitude over images. It is roughly
Gaussian, concentrated in the middle of the theoretical field, grows like the square root of the
depth (the theoretical one grows linearly), and widens with training (Sec. 4.3, Fig. 4).
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch import Tensor

from ..analysis.activations import forward_hooks
from ..analysis.receptive_field import layer_specs, receptive_field
from .base import AttributionError, preserved, resolve_layer

__all__ = ["effective_receptive_field", "field_extent", "theoretical_receptive_field"]


def effective_receptive_field(model: nn.Module, layer: str, x: Tensor) -> Tensor:
    """Mean over the batch of ``|d (sum over channels of the layer's centre unit) / d x|``, summed over
    input channels: an ``H x W`` map that sums to 1."""
    _, module = resolve_layer(model, layer)
    seen: dict[str, Tensor] = {}

    def keep(_m, _i, out):
        seen["A"] = out
        # a copy goes on, so that an in-place op after the layer cannot overwrite its output
        return out.clone() if isinstance(out, Tensor) else None

    with preserved(model), forward_hooks({module: keep}):
        with torch.enable_grad():
            inp = x.detach().clone().requires_grad_(True)
            model(inp)
            A = seen.get("A")
            if A is None or A.dim() != 4:
                raise AttributionError(f"layer {layer!r} must output a feature map N x C x h x w")
            h, w = A.shape[2] // 2, A.shape[3] // 2
            (grad,) = torch.autograd.grad(A[:, :, h, w].sum(), inp)
    erf = grad.abs().sum(1).mean(0)
    total = erf.sum()
    if total == 0:
        raise AttributionError(f"the centre unit of {layer!r} does not depend on the input (dead units?)")
    return erf / total


def field_extent(erf: Tensor, mass: float = 0.9) -> int:
    """Side, in pixels, of the smallest square centred on the map's centre of mass that holds ``mass`` of it.

    The centre of mass is where the unit looks (for the centre unit of an even-sized map it is half a
    pixel off the image's middle); odd and even sizes are both tried, so a 1-pixel field gives 1.
    """
    if not 0 < mass <= 1:
        raise AttributionError(f"mass must be in (0, 1], got {mass}")
    erf = erf.detach().double()  # in float32 the sums over the box and over the map differ in the last bits
    H, W = erf.shape
    total = erf.sum()
    if total <= 0:
        raise AttributionError("the map is empty: no gradient reached the input")
    ys = torch.arange(H, dtype=erf.dtype, device=erf.device)
    xs = torch.arange(W, dtype=erf.dtype, device=erf.device)
    cy, cx = float((erf.sum(1) * ys).sum() / total), float((erf.sum(0) * xs).sum() / total)
    for side in range(1, max(H, W) + 1):
        top, left = round(cy - (side - 1) / 2), round(cx - (side - 1) / 2)
        box = erf[max(top, 0) : top + side, max(left, 0) : left + side]
        if box.sum() >= mass * total - 1e-9:
            return side
    return max(H, W)


def theoretical_receptive_field(model: nn.Module, layer: str) -> int:
    """Receptive-field side of ``layer``'s units along the main path (:func:`receptive_field`)."""
    resolve_layer(model, layer)
    rows = receptive_field(layer_specs(model))
    inside = [r for r in rows if r.name == layer or r.name.startswith(layer + ".")]
    if not inside:
        before = [r for r in rows if _registered_before(model, r.name, layer)]
        if not before:
            raise AttributionError(f"no convolution or pooling up to layer {layer!r}")
        return before[-1].size
    return inside[-1].size


def _registered_before(model: nn.Module, name: str, layer: str) -> bool:
    order = [n for n, _ in model.named_modules()]
    return order.index(name) < order.index(layer)
