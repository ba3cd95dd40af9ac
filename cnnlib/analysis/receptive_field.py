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

Why a stack of small kernels instead of one large one (Simonyan & Zisserman 2014, Sec. 2.3):
without non-linearities between them, stride-1 convolutions compose into a single one.
:func:`compose_convolutions` builds that equivalent layer (three 3x3 layers -> one 7x7 layer),
and :func:`best_single_conv` fits the best single convolution to any network by least squares,
which shows how far a stack *with* ReLUs is from every single linear layer.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..models.blocks import same_padding

__all__ = [
    "SHORTCUTS",
    "LayerSpec",
    "RFRow",
    "best_single_conv",
    "compose_convolutions",
    "compose_kernels",
    "empirical_receptive_field",
    "layer_specs",
    "receptive_field",
    "stack",
]

# Layers that do not change the spatial geometry (receptive field, jump, alignment).
ELEMENTWISE = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU,
    nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.Tanh,
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
                raise ValueError(
                    f"{field_name} must be at least 1, got {getattr(self, field_name)} ({self.name or 'layer'})"
                )
        if self.padding < 0:
            raise ValueError(f"padding must be >= 0, got {self.padding} ({self.name or 'layer'})")

    @property
    def effective_kernel(self) -> int:
        return self.dilation * (self.kernel - 1) + 1


@dataclass(frozen=True)
class RFRow:
    """Receptive field after one layer: ``size`` pixels square, units ``jump`` pixels apart, the first centred at
    ``start``."""

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
            specs.append(
                LayerSpec(
                    _pair(m.kernel_size),
                    _pair(m.stride),
                    _pair(m.padding) if not isinstance(m.padding, str) else _string_padding(m),
                    _pair(m.dilation),
                    name,
                    "conv",
                )
            )
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            stride = m.stride if m.stride is not None else m.kernel_size
            specs.append(
                LayerSpec(
                    _pair(m.kernel_size),
                    _pair(stride),
                    _pair(m.padding),
                    _pair(getattr(m, "dilation", 1)),
                    name,
                    "pool",
                )
            )
        elif isinstance(m, ELEMENTWISE) or len(list(m.children())) > 0:
            continue
        else:
            raise ValueError(
                f"layer {name!r} ({type(m).__name__}) has an unknown effect on the receptive field; "
                "pass the layers as LayerSpec"
            )
    if not specs:
        raise ValueError(f"{type(model).__name__} has no Conv2d, MaxPool2d or AvgPool2d layer before its head")
    return specs


def _string_padding(m: nn.Conv2d) -> int:
    """The padding a conv with ``padding="valid"`` or ``"same"`` (stride 1) applies on each side."""
    return 0 if m.padding == "valid" else _pair(same_padding(m.kernel_size, m.dilation))


def receptive_field(layers: Union[nn.Module, Sequence[LayerSpec]]) -> list[RFRow]:
    """Receptive field size, jump and start after every layer of ``layers`` (a model or a list of
    :class:`LayerSpec`)."""
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


def empirical_receptive_field(
    model: nn.Module, input_shape: tuple[int, int, int], samples: int = 4, seed: int = 0
) -> tuple[int, int]:
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
        raise ValueError(
            f"the receptive field reaches the border of the {H}x{W} input: use a larger input to measure it"
        )
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


# --------------------------------------------------------------------------- composing kernels


def compose_kernels(weights: Sequence[Tensor], biases: Sequence[Tensor | None] | None = None) -> tuple[Tensor, Tensor]:
    """The single kernel and bias equivalent to stride-1 convolutions applied one after the other, with nothing
    between them.

    ``weights[i]`` has PyTorch's shape ``C_{i+1} x C_i x kh_i x kw_i`` (rectangular kernels work
    too; cross-correlation, no dilation, no groups); ``biases[i]`` has ``C_{i+1}`` values or is
    ``None``. Returns ``(weight, bias)`` with weight ``C_n x C_0 x KH x KW``, ``KH = 1 + sum(kh_i - 1)``
    and likewise KW (three 3x3 -> 7x7), and bias ``C_n``: ``conv(conv(x, W1, b1), W2, b2) = conv(x, W, b)``
    for unpadded ("valid") convolutions, because

        W[c2, c0, t] = sum_{c1} sum_{u + v = t} W2[c2, c1, v] W1[c1, c0, u] (a full convolution of the kernels)
        b[c2]        = b2[c2] + sum_{c1, v} W2[c2, c1, v] b1[c1]            (the second layer applied to a constant map)
    """
    weights = list(weights)
    if not weights:
        raise ValueError("give at least one kernel")
    biases = list(biases) if biases is not None else [None] * len(weights)
    if len(biases) != len(weights):
        raise ValueError(f"{len(weights)} kernels but {len(biases)} biases")
    for i, w in enumerate(weights):
        if w.dim() != 4:
            raise ValueError(f"kernel {i} must be out x in x kh x kw, got shape {tuple(w.shape)}")
        if i and w.shape[1] != weights[i - 1].shape[0]:
            raise ValueError(
                f"kernel {i} takes {w.shape[1]} channels, but kernel {i - 1} gives {weights[i - 1].shape[0]}"
            )
    w_total = weights[0]
    b_total = biases[0] if biases[0] is not None else weights[0].new_zeros(weights[0].shape[0])
    for w, b in zip(weights[1:], biases[1:]):
        kh, kw = w.shape[-2:]
        # batch = input channels of the first kernel, channels = the middle channels: one conv2d composes all pairs
        w_total = F.conv2d(w_total.transpose(0, 1), w.flip(-2, -1), padding=(kh - 1, kw - 1)).transpose(0, 1)
        b_total = w.sum(dim=(-2, -1)) @ b_total + (b if b is not None else 0)
    return w_total.contiguous(), b_total


def compose_convolutions(convs: Sequence[nn.Conv2d]) -> nn.Conv2d:
    """One ``nn.Conv2d`` that computes what ``convs`` compute one after the other, if nothing stands between them.

    All layers must have stride 1, dilation 1, one group and zero padding given as numbers. The
    result's kernel is ``1 + sum(k - 1)`` wide and its padding the sum of the paddings. Without
    padding the two agree everywhere; with padding they agree except within that many pixels of the
    border, where the stack reads zeros inserted between its layers that the single layer cannot see.
    """
    convs = list(convs)
    for i, c in enumerate(convs):
        if not isinstance(c, nn.Conv2d):
            raise TypeError(f"layer {i} is a {type(c).__name__}, not an nn.Conv2d")
        if (
            c.stride != (1, 1)
            or c.dilation != (1, 1)
            or c.groups != 1
            or isinstance(c.padding, str)
            or c.padding_mode != "zeros"
        ):
            raise ValueError(
                f"layer {i}: only stride-1, undilated, ungrouped convolutions with numeric zero padding "
                "compose into one"
            )
    with torch.no_grad():
        weight, bias = compose_kernels([c.weight for c in convs], [c.bias for c in convs])
    padding = tuple(sum(c.padding[d] for c in convs) for d in (0, 1))
    single = nn.Conv2d(weight.shape[1], weight.shape[0], tuple(weight.shape[-2:]), padding=padding,
                       device=weight.device, dtype=weight.dtype)  # fmt: skip
    with torch.no_grad():
        single.weight.copy_(weight)
        single.bias.copy_(bias)
    return single


def best_single_conv(net: nn.Module, kernel: int, inputs: Tensor) -> tuple[nn.Conv2d, float]:
    """The single unpadded ``kernel x kernel`` convolution (with bias) closest to ``net`` on ``inputs``, by least
    squares.

    ``net`` must map ``N x C x H x W`` to ``N x C' x (H - kernel + 1) x (W - kernel + 1)`` (e.g. a
    stack of unpadded convolutions whose field is ``kernel``). Returns the fitted layer and the
    fraction of the output's variance it leaves unexplained (``|y - y_fit|^2 / |y - mean(y)|^2``,
    per output channel, summed): about 0 when ``net`` is itself a linear convolution, clearly
    more when non-linearities stand between its layers.
    """
    if inputs.dim() != 4:
        raise ValueError(f"inputs must be N x C x H x W, got shape {tuple(inputs.shape)}")
    with torch.no_grad():
        y = net(inputs)
    n, c_in, h, w = inputs.shape
    if y.dim() != 4 or y.shape[-2:] != (h - kernel + 1, w - kernel + 1):
        raise ValueError(f"a valid {kernel}x{kernel} convolution maps {h}x{w} to {h - kernel + 1}x{w - kernel + 1}; "
                         f"the network gives shape {tuple(y.shape)}")  # fmt: skip
    patches = (
        F.unfold(inputs.double(), kernel).transpose(1, 2).reshape(-1, c_in * kernel * kernel)
    )  # one row per output pixel
    design = torch.cat([patches, torch.ones(len(patches), 1, dtype=torch.float64)], dim=1)
    targets = y.double().flatten(2).transpose(1, 2).reshape(-1, y.shape[1])
    solution = torch.linalg.lstsq(design, targets).solution  # (C * k * k + 1) x C'
    residual = targets - design @ solution
    unexplained = (residual.pow(2).sum() / (targets - targets.mean(0)).pow(2).sum()).item()
    fitted = nn.Conv2d(c_in, y.shape[1], kernel)
    with torch.no_grad():
        fitted.weight.copy_(solution[:-1].T.reshape(y.shape[1], c_in, kernel, kernel))
        fitted.bias.copy_(solution[-1])
    return fitted, unexplained
