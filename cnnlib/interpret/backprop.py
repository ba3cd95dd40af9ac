"""Three ways for a ReLU to pass a signal back to the input.

For a ReLU ``y = max(x, 0)`` with incoming signal ``g`` (from the layer above):

============================  ================================  =========================================
rule                          signal passed down                 paper
============================  ================================  =========================================
gradient (backpropagation)    ``g * [x > 0]``                    Simonyan et al. 2014
DeconvNet                     ``max(g, 0)``                      Zeiler & Fergus 2014 (Sec. 2.1, "rectification")
guided backpropagation        ``max(g, 0) * [x > 0]``            Springenberg et al. 2015 (Fig. 1)
============================  ================================  =========================================

Everything else (convolutions, pooling, batch norm) passes the ordinary gradient back: a
"deconvolution" with the transposed filters is exactly that gradient (Zeiler & Fergus's switches of
max pooling are the gradient of max pooling). Only the ReLU rule differs. The methods change the
rule by patching the ``forward`` of every ``nn.ReLU`` (and ``nn.ReLU6``, the same rule clipped at
6) module for the duration of one call; a ReLU applied as a function (``F.relu``) inside a
module's ``forward`` cannot be reached and keeps the gradient rule, which a warning says.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn as nn
from torch import Tensor

from .base import Method, input_gradient, patched_forward

__all__ = ["Deconvnet", "GuidedBackprop", "relu_modules"]

_FUNCTIONAL_RELU_MODELS = ("DenseNet", "ShuffleNet", "GoogLeNet")


def relu_modules(model: nn.Module) -> list[nn.Module]:
    """The ``nn.ReLU`` and ``nn.ReLU6`` modules of ``model``, in registration order."""
    return [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]


class _GuidedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, top: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.top = top
        return x.clamp(0, top)

    @staticmethod
    def backward(ctx, g: Tensor):
        (x,) = ctx.saved_tensors
        return g.clamp(min=0) * ((x > 0) & (x < ctx.top)).to(g.dtype), None


class _DeconvReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, top: float) -> Tensor:
        return x.clamp(0, top)

    @staticmethod
    def backward(ctx, g: Tensor):
        return g.clamp(min=0), None


class _ModifiedReLU(Method):
    per_channel = True
    rule: type[torch.autograd.Function]

    def _channels(self, x: Tensor, target: Tensor) -> Tensor:
        relus = relu_modules(self.model)
        if not relus:
            warnings.warn(
                f"{type(self.model).__name__} has no nn.ReLU modules: {type(self).__name__} equals the plain gradient",
                stacklevel=3,
            )
        elif any(type(m).__name__.startswith(_FUNCTIONAL_RELU_MODELS) for m in self.model.modules()):
            warnings.warn(
                f"{type(self.model).__name__} also applies ReLU as a function in places; those keep the gradient rule",
                stacklevel=3,
            )

        def forward(module: nn.Module, inp: Tensor) -> Tensor:
            top = 6.0 if isinstance(module, nn.ReLU6) else float("inf")
            return self.rule.apply(inp, top)

        with patched_forward(relus, forward):
            return input_gradient(self.model, x, target)


class GuidedBackprop(_ModifiedReLU):
    """Guided backpropagation (Springenberg et al. 2015): only positive signals, only through active units.

    ``attribute_channels``: the guided gradient, N x C x H x W (shown as an image, it looks like the
    object's edges); ``attribute``: its largest magnitude over channels.
    """

    rule = _GuidedReLU


class Deconvnet(_ModifiedReLU):
    """Zeiler & Fergus's DeconvNet (2014) for one class score: positive signals only, whatever the forward mask.

    ``attribute_channels``: the reconstruction, N x C x H x W; ``attribute``: its largest magnitude
    over channels.
    """

    rule = _DeconvReLU
