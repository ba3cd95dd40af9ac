"""What every attribution method shares: one call shape, checked inputs, and a model left as it was.

Every method is used the same way::

    method = GradCAM(model, layer="layer3")      # the method's own settings are keywords too
    maps = method.attribute(x, target=3)          # N x H x W, one number per input pixel

- ``x`` is a batch ``N x C x H x W``, normalised as the model expects; it is never modified.
- ``target`` is the class to explain: an int for the whole batch, one int per image (a list or
  a tensor), or ``None`` for the class the model predicts.
- :meth:`Method.attribute` returns a map ``N x H x W`` at the input's resolution, so that every
  method can be shown, compared and scored (deletion curves) the same way. Methods whose raw
  result has one value per input channel (gradients, Integrated Gradients, guided backpropagation,
  DeconvNet, occlusion) also give it from :meth:`Method.attribute_channels` (``N x C x H x W``);
  that is the tensor the cross-checks compare with captum.

While a method runs, the model is in eval mode and its parameters do not require gradients
(nothing is accumulated in ``.grad``); afterwards the mode and every ``requires_grad`` flag are
what they were, and every hook or patched ``forward`` is gone, also when the method raises.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Sequence, Union

import torch
import torch.nn as nn
from torch import Tensor

from ..analysis.activations import forward_hooks
from ..runtime import reuse_freed_memory

__all__ = ["AttributionError", "Method", "Target", "conv_layer_names", "patched_forward", "preserved", "resolve_layer"]

Target = Union[int, Sequence[int], Tensor, None]


class AttributionError(ValueError):
    """An input, target or layer an attribution method cannot use; the message says what is valid."""


def conv_layer_names(model: nn.Module) -> list[str]:
    """Dotted names of the modules whose output is a feature map: convolutions and the blocks around them."""
    names = []
    for name, module in model.named_modules():
        if name and any(isinstance(m, nn.Conv2d) for m in module.modules()):
            names.append(name)
    return names


def resolve_layer(model: nn.Module, layer: str | nn.Module) -> tuple[str, nn.Module]:
    """(name, module) of ``layer``, given by dotted name or as a module of ``model``; a clear error otherwise."""
    modules = dict(model.named_modules())
    if isinstance(layer, nn.Module):
        for name, module in modules.items():
            if module is layer:
                return name, module
        raise AttributionError(
            f"the module {type(layer).__name__} given as layer is not part of {type(model).__name__}"
        )
    if layer not in modules or layer == "":
        valid = conv_layer_names(model)
        close = [n for n in valid if n.startswith(str(layer).split(".")[0])][:8]
        hint = f" Close: {close}." if close else ""
        raise AttributionError(
            f"{type(model).__name__} has no layer {layer!r}.{hint} Layers with feature maps: "
            f"{valid[:12]}{' ...' if len(valid) > 12 else ''} ({len(valid)} in all; conv_layer_names(model) lists them)"
        )
    return layer, modules[layer]


@contextlib.contextmanager
def preserved(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and frozen parameters inside the block; the mode and every ``requires_grad`` restored after.

    Also keeps freed memory in the process (:func:`cnnlib.runtime.reuse_freed_memory`): the methods run
    many forward and backward passes of the same size, which otherwise pay the kernel for fresh pages
    each time (as ``predict`` and ``fit`` do; the measurement is in that function's docstring).
    """
    reuse_freed_memory()
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(was_training)


@contextlib.contextmanager
def patched_forward(modules: Sequence[nn.Module], forward: Callable[[nn.Module, Tensor], Tensor]) -> Iterator[None]:
    """Inside the block, each of ``modules`` computes ``forward(module, x)`` instead of its own forward.

    Used to change how ReLUs pass gradients back (guided backpropagation, DeconvNet) without
    touching the model's code; the instance attribute is deleted afterwards, whatever happens.
    """
    patched = []
    try:
        for m in modules:
            m.forward = (lambda mod: lambda x: forward(mod, x))(m)
            patched.append(m)
        yield
    finally:
        for m in patched:
            del m.forward


def _input_channels(model: nn.Module) -> int | None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m.in_channels
    return None


class Method:
    """Base class: subclasses implement :meth:`_attribute` on a checked input with one target per image."""

    #: whether the method reads a layer (CAM, Grad-CAM); the others work on the input only
    uses_layer = False
    #: whether :meth:`attribute_channels` is defined (a value per input channel)
    per_channel = False

    def __init__(self, model: nn.Module, layer: str | nn.Module | None = None):
        if not isinstance(model, nn.Module):
            raise AttributionError(f"model must be an nn.Module, got {type(model).__name__}")
        self.model = model
        if layer is not None and not self.uses_layer:
            raise AttributionError(f"{type(self).__name__} works on the input and takes no layer (got {layer!r})")
        self.layer_name, self.layer = resolve_layer(model, layer) if layer is not None else (None, None)

    # ------------------------------------------------------------------ checks
    def _check_input(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise AttributionError(f"x must be a tensor N x C x H x W, got {type(x).__name__}")
        if x.dim() != 4:
            hint = " (add a batch dimension: x[None])" if x.dim() == 3 else ""
            raise AttributionError(f"x must be a batch N x C x H x W, got shape {tuple(x.shape)}{hint}")
        if not x.is_floating_point():
            raise AttributionError(f"x must be a float tensor (normalised images), got {x.dtype}")
        channels = _input_channels(self.model)
        if channels is not None and x.shape[1] != channels:
            raise AttributionError(
                f"{type(self.model).__name__} takes {channels}-channel images, got x of shape {tuple(x.shape)}"
            )

    def _targets(self, x: Tensor, target: Target) -> Tensor:
        """One class index per image; the predicted ones for ``None``. Checks the range against the output."""
        with torch.no_grad():
            logits = self.model(x)
        if logits.dim() != 2:
            raise AttributionError(f"the model must return N x classes scores, got shape {tuple(logits.shape)}")
        n, classes = logits.shape
        if target is None:
            return logits.argmax(1)
        raw = torch.as_tensor(target).flatten()
        if raw.is_floating_point() or raw.is_complex() or raw.dtype == torch.bool:
            raise AttributionError(f"target must be class indices (integers), got a {raw.dtype} tensor: {raw.tolist()}")
        t = raw.long()
        if t.numel() == 1:
            t = t.expand(n)
        if t.numel() != n:
            raise AttributionError(f"target must be one class or one class per image ({n}), got {t.numel()} classes")
        bad = t[(t < 0) | (t >= classes)]
        if len(bad):
            raise AttributionError(
                f"target {sorted(set(bad.tolist()))} out of range: the model has {classes} classes (0..{classes - 1})"
            )
        return t.to(x.device)

    # ------------------------------------------------------------------ the public calls
    def attribute(self, x: Tensor, target: Target = None) -> Tensor:
        """The method's map, ``N x H x W`` at the input's resolution (see the subclass for its meaning)."""
        self._check_input(x)
        with preserved(self.model):
            t = self._targets(x, target)
            return self._attribute(x.detach(), t).detach()

    def attribute_channels(self, x: Tensor, target: Target = None) -> Tensor:
        """The raw per-channel attribution ``N x C x H x W`` (methods that have one)."""
        if not self.per_channel:
            raise AttributionError(
                f"{type(self).__name__} gives one map per image, not one per channel: use attribute()"
            )
        self._check_input(x)
        with preserved(self.model):
            t = self._targets(x, target)
            return self._channels(x.detach(), t).detach()

    def _attribute(self, x: Tensor, target: Tensor) -> Tensor:
        return self.reduce(self._channels(x, target))

    def _channels(self, x: Tensor, target: Tensor) -> Tensor:  # pragma: no cover - per-channel methods override
        raise NotImplementedError

    @staticmethod
    def reduce(channels: Tensor) -> Tensor:
        """Per-channel attribution -> one value per pixel: the largest magnitude over channels (Simonyan et al.)."""
        return channels.abs().amax(1)

    def __repr__(self) -> str:
        layer = f", layer={self.layer_name!r}" if self.layer_name is not None else ""
        return f"{type(self).__name__}({type(self.model).__name__}{layer})"


def input_gradient(model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
    """d score[target] / d x for a batch (each image's own target class); the model's raw scores (logits)."""
    x = x.detach().clone().requires_grad_(True)  # the parameters are frozen: the graph starts at x
    with torch.enable_grad():
        scores = model(x)
        # each image's score depends only on that image, so the gradient of the sum over the batch
        # is every image's own gradient, in one backward pass
        picked = scores.gather(1, target[:, None]).sum()
        (grad,) = torch.autograd.grad(picked, x)
    return grad


def layer_and_gradient(model: nn.Module, layer: nn.Module, x: Tensor, target: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(activations A of ``layer``, d score[target] / dA, scores) for a batch, with a forward hook removed after."""
    seen: dict[str, Tensor] = {}

    def keep(_m, _i, out):
        if not isinstance(out, Tensor) or out.dim() != 4:
            raise AttributionError(
                f"the layer's output must be a feature map N x C x h x w, got "
                f"{tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__}"
            )
        seen["A"] = out
        # the rest of the network gets a copy: an in-place op after the layer (ReLU(inplace=True)) would
        # otherwise overwrite A, and the map would be the next layer's
        return out.clone()

    with torch.enable_grad(), forward_hooks({layer: keep}):
        x = x.detach().clone().requires_grad_(True)  # so that the graph reaches the layer in a frozen model
        scores = model(x)
        if "A" not in seen:
            raise AttributionError("the layer was not used in the forward pass")
        picked = scores.gather(1, target[:, None]).sum()
        (grad,) = torch.autograd.grad(picked, seen["A"])
    return seen["A"].detach(), grad, scores.detach()
