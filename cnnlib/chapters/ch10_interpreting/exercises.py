"""Checkers for chapter 10 (Interpreting CNNs).

Each checker takes the student's function, raises ``AssertionError`` with a hint when it is wrong,
and prints what was verified when it is right. The reference answers come from
:mod:`cnnlib.interpret` (itself cross-checked against captum and pytorch-grad-cam in the tests)
and :mod:`cnnlib.analysis.receptive_field`.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn as nn

from ...analysis.receptive_field import LayerSpec, receptive_field
from ...interpret import GradCAM, Occlusion
from ...models.registry import get_model
from .. import passed as _passed

__all__ = ["check_grad_cam", "check_occlusion", "check_receptive_field"]


def _models() -> list[tuple[str, nn.Module, str]]:
    torch.manual_seed(0)
    return [("resnet20", get_model("resnet20").eval(), "layer2"), ("vgg11_bn_cifar", get_model("vgg11_bn_cifar").eval(),
            "features.21")]  # fmt: skip


def _hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def check_grad_cam(grad_cam: Callable[[nn.Module, nn.Module, torch.Tensor, int], torch.Tensor]) -> bool:
    """``grad_cam(model, layer, x, target)`` -> ``N x h x w``: Grad-CAM at ``layer`` (a module), not upsampled.

    Compared with :class:`cnnlib.interpret.GradCAM` on two CIFAR-10 models of different families;
    also checks that no hook is left on the model afterwards.
    """
    for name, model, layer_name in _models():
        x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
        target = 3
        layer = model.get_submodule(layer_name)
        got = grad_cam(model, layer, x, target)
        assert isinstance(got, torch.Tensor), f"grad_cam must return a tensor, got {type(got).__name__}"
        want = GradCAM(model, layer=layer_name, upsample=False).attribute(x, target)
        assert tuple(got.shape) == tuple(want.shape), (
            f"{name} at {layer_name}: expected a map N x h x w = {tuple(want.shape)} (the layer's own resolution), "
            f"got {tuple(got.shape)}"
        )
        assert _hooks(model) == 0, "hooks are left on the model: remove every handle (handle.remove()) in a finally"
        assert (got >= 0).all(), "Grad-CAM keeps the positive part: ReLU of the weighted sum"
        assert torch.allclose(got.detach(), want, rtol=1e-4, atol=1e-6 * (1 + want.abs().max().item())), (
            f"{name} at {layer_name}: the map differs from Grad-CAM's by up to {(got - want).abs().max():.3g}. "
            "alpha_k = the spatial mean of d score / d A_k (the logit, before softmax), map = ReLU(sum_k alpha_k A_k)"
        )
    return _passed("Grad-CAM maps equal cnnlib's on resnet20 (layer2) and vgg11_bn_cifar, and no hook is left")


def check_occlusion(occlusion: Callable[..., torch.Tensor]) -> bool:
    """``occlusion(model, x, target, window, stride, fill)`` -> ``N x n_y x n_x``: the logit's drop per window.

    Compared with :meth:`cnnlib.interpret.Occlusion.grid` on resnet20 with two window/stride settings.
    """
    _, model, _ = _models()[0]
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    for window, stride, fill in ((8, 4, 0.0), (12, 5, 0.5)):
        got = occlusion(model, x, 1, window, stride, fill)
        want = Occlusion(model, window=window, stride=stride, fill=fill).grid(x, 1)
        assert tuple(got.shape) == tuple(want.shape), (
            f"window {window}, stride {stride} on 32x32: expected {tuple(want.shape)} positions per image "
            f"(range(0, 32 - window + 1, stride) along each axis), got {tuple(got.shape)}"
        )
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-4), (
            f"window {window}, stride {stride}, fill {fill}: values differ by up to {(got - want).abs().max():.3g}; "
            "each value is score(x) - score(x with the window set to fill), on all channels"
        )
    return _passed("occlusion grids equal cnnlib's for two window sizes, strides and fill values")


def check_receptive_field(sizes: Callable[[Sequence[int], Sequence[int]], list[int]]) -> bool:
    """``sizes(kernels, strides)`` -> the receptive-field side after each layer of a chain."""
    chains = [([3, 3, 3], [1, 1, 1]), ([7, 3, 3, 3], [2, 2, 1, 1]), ([11, 3, 5, 3, 3, 3, 3], [4, 2, 1, 2, 1, 1, 2])]
    for kernels, strides in chains:
        want = [r.size for r in receptive_field([LayerSpec(k, s, k // 2) for k, s in zip(kernels, strides)])]
        got = list(sizes(kernels, strides))
        assert got == want, (
            f"kernels {kernels}, strides {strides}: expected {want}, got {got}. r_out = r_in + (k - 1) * j_in, "
            "j_out = j_in * s, starting from r = j = 1"
        )
    return _passed(f"receptive fields of {len(chains)} chains, e.g. AlexNet-like {want}")
