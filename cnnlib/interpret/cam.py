"""Class activation maps: where in a layer's feature maps the evidence for a class lies.

- :class:`CAM` (Zhou et al. 2016, https://arxiv.org/abs/1512.04150, Sec. 2): for a network that
  ends in global average pooling and one linear layer, ``y_c = sum_k w_k^c mean(A^k) + b_c``, so
  the map ``M_c = sum_k w_k^c A^k`` shows where each location adds to the score. It needs that
  architecture and reads the weights ``w`` from the model's final linear layer.
- :class:`GradCAM` (Selvaraju et al. 2017, https://arxiv.org/abs/1610.02391, Eq. 1-2): at any
  convolutional layer, weight each map by the spatial mean of the score's gradient,
  ``alpha_k^c = (1 / hw) sum_ij d y_c / d A^k_ij``, and keep the positive part,
  ``ReLU(sum_k alpha_k^c A^k)``. For a GAP + linear network at the last layer,
  ``alpha_k^c = w_k^c / hw``: Grad-CAM is ReLU(CAM) / hw.

Both return ``N x H x W`` maps upsampled bilinearly to the input (``upsample=False``: the layer's own
``h x w``). The default layer is the registry's ``gradcam_layer`` (the last feature map before the
head) when the model is a registry model, else the layer must be named.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..models.registry import list_models, model_info
from .base import AttributionError, Method, layer_and_gradient

__all__ = ["CAM", "GradCAM", "default_layer"]


def default_layer(model: nn.Module) -> str:
    """The registry's Grad-CAM layer for ``model``: its ``gradcam_layer``, found by the model's class.

    Several registry entries share a class (resnet20 and resnet18 are both ``ResNet``-family classes
    of one module); among the entries of the model's module whose ``gradcam_layer`` and
    ``classifier`` exist in it, the deepest layer is the model's own (the last feature map before
    the head). A model that is no registry model gets an error asking for ``layer=...``.
    """
    modules = dict(model.named_modules())
    order = {name: i for i, name in enumerate(modules)}
    cls = type(model)
    found = {
        info.gradcam_layer
        for info in map(model_info, list_models())
        if getattr(info.builder, "__module__", None) == cls.__module__
        and info.gradcam_layer in modules
        and info.classifier in modules
    }
    if not found:
        raise AttributionError(
            f"{cls.__name__} is not a registry model with a known Grad-CAM layer: pass layer=... "
            "(conv_layer_names(model) lists the candidates)"
        )
    return max(found, key=order.__getitem__)


def _upsample(maps: Tensor, size: tuple[int, int]) -> Tensor:
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


class GradCAM(Method):
    uses_layer = True

    def __init__(self, model: nn.Module, layer: str | nn.Module | None = None, upsample: bool = True):
        super().__init__(model, layer if layer is not None else default_layer(model))
        self.upsample = upsample

    def _attribute(self, x: Tensor, target: Tensor) -> Tensor:
        A, grad, _ = layer_and_gradient(self.model, self.layer, x, target)
        alpha = grad.mean((2, 3), keepdim=True)  # N x K x 1 x 1
        maps = F.relu((alpha * A).sum(1))
        return _upsample(maps, x.shape[2:]) if self.upsample else maps


class CAM(Method):
    """Zhou et al.'s CAM, ``sum_k w_k^c A^k`` (signed, not rectified), for GAP + linear networks.

    ``layer`` must be the feature map the global pooling reads (the registry's default); the
    constructor checks on the first call that the model's scores equal ``W mean(A) + b`` and says
    so when they do not (use :class:`GradCAM` for other heads).
    """

    uses_layer = True

    def __init__(self, model: nn.Module, layer: str | nn.Module | None = None, upsample: bool = True):
        super().__init__(model, layer if layer is not None else default_layer(model))
        self.upsample = upsample
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise AttributionError(f"CAM needs a final nn.Linear layer; {type(model).__name__} has none: use GradCAM")
        self.fc = linears[-1]

    def _attribute(self, x: Tensor, target: Tensor) -> Tensor:
        A, _, scores = layer_and_gradient(self.model, self.layer, x, target)
        if A.shape[1] != self.fc.in_features:
            raise AttributionError(
                f"CAM needs the layer the global pooling reads: {self.layer_name!r} has {A.shape[1]} channels, "
                f"the final linear layer takes {self.fc.in_features} (for any other layer, use GradCAM)"
            )
        expected = F.linear(A.mean((2, 3)), self.fc.weight, self.fc.bias)
        if not torch.allclose(expected, scores, rtol=1e-3, atol=1e-3 * (1 + scores.abs().max().item())):
            raise AttributionError(
                f"{type(self.model).__name__}'s scores are not global average pooling of {self.layer_name!r} "
                "followed by its final linear layer, so CAM does not apply: use GradCAM"
            )
        weights = self.fc.weight[target]  # N x K
        maps = torch.einsum("nk,nkhw->nhw", weights, A)
        return _upsample(maps, x.shape[2:]) if self.upsample else maps
