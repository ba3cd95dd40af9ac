"""Receptive fields: which input pixels a unit of a convolutional layer can see.

For a chain of convolution and pooling layers, each with kernel ``k``, stride ``s``,
padding ``p`` and dilation ``d`` (effective kernel ``k' = d (k - 1) + 1``), three numbers
per layer follow from the ones before it (Araujo, Norris, Sim 2019, "Computing receptive
fields of convolutional neural networks", Distill, https://doi.org/10.23915/distill.00021;
Dumoulin & Visin 2016, https://arxiv.org/abs/1603.07285):

    size   r_out  = r_in + (k' - 1) * j_in      side of the input square one output unit sees
    jump   j_out  = j_in * s                    input pixels between two neighbouring output units
    start  c_out  = c_in + ((k' - 1) / 2 - p) * j_in   input coordinate of the first unit's centre

starting from the input itself: r = 1, j = 1, c = 0. Element-wise layers (ReLU, batch norm,
dropout, LRN) leave all three unchanged.

:func:`layer_specs` reads the chain from a model (its convolutions and poolings in the order
they were registered, which is the forward order of sequential networks such as LeNet, AlexNet
and VGG; in residual networks it follows the main path, whose receptive field is the largest,
and skips the projection shortcuts (modules named ``downsample`` or ``shortcut``); networks
with parallel branches such as Inception need the path passed explicitly as :class:`LayerSpec`).
:func:`empirical_receptive_field` measures the same thing with a gradient: the input pixels
whose change moves one output unit.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence, Union

import torch
import torch.nn as nn

__all__ = ["SHORTCUTS", "LayerSpec", "RFRow", "empirical_receptive_field", "layer_specs", "receptive_field", "stack"]

# Layers that do not change the spatial geometry (receptive field, jump, alignment).
ELEMENTWISE = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.Tanh,
    nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm, nn.Dropout, nn.Dropout2d, nn.Identity,
)  # fmt: skip
# Layers that end the spatial part of a network: the walk stops at the first of them.
TERMINAL = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten, nn.Linear)


def _pair(v: Union[int, tuple[int, ...]]) -> int:
    """One number for a square kernel/stride/padding; non-square ones are refused (the calculator is 1-D)."""
    if isinstance(v, (tuple, list)):
        if len(set(v)) != 1:
            raise ValueError(f"only square kernels, strides, paddings and dilations are supported, got {tuple(v)}")
        return int(v[0])
    return int(v)


@dataclass(frozen=True)
class LayerSpec:
    """The geometry of one convolution or pooling layer along one spatial axis."""

    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    name: str = ""
    kind: str = "conv"  # "conv" or "pool", for tables and plots

    def __post_init__(self) -> None:
        for field_name in ("kernel", "stride", "dilation"):
            if getattr(self, field_name) < 1:
                raise ValueError(f"{field_name} must be at least 1, got {getattr(self, field_name)} ({self.name or 'layer'})")
        if self.padding < 0:
            raise ValueError(f"padding must be >= 0, got {self.padding} ({self.name or 'layer'})")

    @property
    def effective_kernel(self) -> int:
        return self.dilation * (self.kernel - 1) + 1


@dataclass(frozen=True)
class RFRow:
    """Receptive field after one layer: ``size`` pixels square, units ``jump`` pixels apart, the first centred at ``start``."""

    name: str
    kind: str
    kernel: int
    stride: int
    size: int
    jump: int
    start: float


def stack(kernel: int, n: int, stride: int = 1, padding: int | None = None, kind: str = "conv") -> list[LayerSpec]:
    """``n`` identical layers (``padding=None``: "same" padding ``kernel // 2``)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    pad = kernel // 2 if padding is None else padding
    return [LayerSpec(kernel, stride, pad, name=f"{kind}{i + 1}", kind=kind) for i in range(n)]


SHORTCUTS = ("downsample", "shortcut")  # names of residual projection branches (torchvision, cnnlib)


def layer_specs(model: nn.Module, skip: Sequence[str] = SHORTCUTS) -> list[LayerSpec]:
    """The convolutions and poolings of ``model`` in registration order, up to its first global pool/linear layer.

    Modules inside a submodule whose name is in ``skip`` (residual projection shortcuts, which run
    beside the main path, not after it) are left out. Raises ``ValueError`` on a leaf layer whose
    effect on the geometry is unknown (rather than silently ignoring it), and when the model has no
    convolution or pooling at all.
    """
    specs: list[LayerSpec] = []
    for name, m in model.named_modules():
        if any(part in skip for part in name.split(".")):
            continue
        if isinstance(m, TERMINAL):
            break
        if isinstance(m, nn.Conv2d):
            specs.append(LayerSpec(_pair(m.kernel_size), _pair(m.stride), _pair(m.padding) if not isinstance(m.padding, str) else _same_padding(m), _pair(m.dilation), name, "conv"))
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            stride = m.stride if m.stride is not None else m.kernel_size
            specs.append(LayerSpec(_pair(m.kernel_size), _pair(stride), _pair(m.padding), _pair(getattr(m, "dilation", 1)), name, "pool"))
        elif isinstance(m, ELEMENTWISE) or len(list(m.children())) > 0:
            continue
        else:
            raise ValueError(f"layer {name!r} ({type(m).__name__}) has an unknown effect on the receptive field; pass the layers as LayerSpec")
    if not specs:
        raise ValueError(f"{type(model).__name__} has no Conv2d, MaxPool2d or AvgPool2d layer before its head")
    return specs


def _same_padding(m: nn.Conv2d) -> int:
    if m.padding == "valid":
        return 0
    return (_pair(m.dilation) * (_pair(m.kernel_size) - 1)) // 2  # "same" (stride 1)


def receptive_field(layers: Union[nn.Module, Sequence[LayerSpec]]) -> list[RFRow]:
    """Receptive field size, jump and start after every layer of ``layers`` (a model or a list of :class:`LayerSpec`)."""
    specs = layer_specs(layers) if isinstance(layers, nn.Module) else list(layers)
    if not all(isinstance(s, LayerSpec) for s in specs):
        raise TypeError("layers must be an nn.Module or a sequence of LayerSpec")
    size, jump, start = 1, 1, 0.0
    rows = []
    for i, s in enumerate(specs):
        start = start + ((s.effective_kernel - 1) / 2 - s.padding) * jump
        size = size + (s.effective_kernel - 1) * jump
        jump = jump * s.stride
        rows.append(RFRow(s.name or f"layer{i + 1}", s.kind, s.kernel, s.stride, size, jump, start))
    return rows


def empirical_receptive_field(model: nn.Module, input_shape: tuple[int, int, int], samples: int = 4, seed: int = 0) -> tuple[int, int]:
    """Measure the receptive field of the centre unit of ``model``'s output map with a gradient.

    ``model`` maps ``N x C x H x W`` to ``N x C' x H' x W'``. For ``samples`` random inputs
    the gradient of the centre unit (summed over channels) with respect to the input is
    computed; the input pixels where any of them is non-zero form the measured field. Random
    inputs and random positive weights make sure that no pixel inside the field is missed by
    a dead ReLU or a max pool that happened to pick another pixel. Returns (height, width) of
    the field's bounding box; raises ``ValueError`` when the field touches the border of the
    input (the input is then too small to measure it).
    """
    probe = copy.deepcopy(model).eval()  # the caller's model is not touched
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in probe.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.1)  # positive: no cancellation
                if m.bias is not None:
                    m.bias.zero_()
    total = torch.zeros(input_shape)
    for _ in range(samples):
        x = torch.rand((1, *input_shape), generator=gen).requires_grad_(True)
        out = probe(x)
        if out.dim() != 4:
            raise ValueError(f"the model must output feature maps N x C x H x W, got shape {tuple(out.shape)}")
        h, w = out.shape[-2] // 2, out.shape[-1] // 2
        out[0, :, h, w].sum().backward()
        total += x.grad[0].abs()
    support = total.sum(0) > 0
    rows = torch.nonzero(support.any(1)).flatten()
    cols = torch.nonzero(support.any(0)).flatten()
    if len(rows) == 0:
        raise ValueError("the centre unit does not depend on any input pixel")
    H, W = input_shape[-2:]
    if rows[0] == 0 or cols[0] == 0 or rows[-1] == H - 1 or cols[-1] == W - 1:
        raise ValueError(f"the receptive field reaches the border of the {H}x{W} input: use a larger input to measure it")
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)
