"""Input validation shared by every model: a clear error instead of a shape error deep inside,
and the map-size arithmetic that finds the smallest input a model accepts."""

from __future__ import annotations

from typing import Iterable

from torch import Tensor

Window = tuple[int, int, int, bool]  # kernel, stride, padding, ceil_mode of a conv or pool


def check_input(
    x: Tensor,
    *,
    model: str,
    in_channels: int,
    exact_size: tuple[int, int] | None = None,
    min_size: int | None = None,
) -> None:
    """Raise ``ValueError`` saying what is wrong with ``x`` and what to do about it."""
    if x.dim() != 4:
        raise ValueError(
            f"{model} expects a batch of images shaped N x C x H x W; got a {x.dim()}-D tensor of shape "
            f"{tuple(x.shape)}. Add the batch dimension with x.unsqueeze(0)."
        )
    _, c, h, w = x.shape
    if c != in_channels:
        raise ValueError(
            f"{model} was built for {in_channels}-channel input; got {c} channels (shape {tuple(x.shape)}). "
            f"Build it with in_channels={c} or convert the images."
        )
    if exact_size is not None and (h, w) != tuple(exact_size):
        eh, ew = exact_size
        raise ValueError(
            f"{model} expects {eh}x{ew} images; got {h}x{w}. Its fully connected part fixes the input size: "
            f"pad or resize the images to {eh}x{ew} (MNIST's 28x28 digits: cnnlib.data pad(2))."
        )
    if min_size is not None and min(h, w) < min_size:
        raise ValueError(
            f"{model} downsamples too much for {h}x{w} images: it needs at least {min_size}x{min_size}. "
            "Resize the images up or use the model's CIFAR-scale variant."
        )


def output_size(size: int, kernel: int, stride: int, padding: int, ceil_mode: bool = False) -> int:
    """Side of a conv or pool output by PyTorch's formula; 0 or less when the layer cannot run."""
    out = (size + 2 * padding - kernel + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:  # the last window must start inside the input
        out -= 1
    return out


def map_sizes(size: int, windows: Iterable[Window]) -> list[int]:
    """Sides of the maps after each conv or pool of ``windows`` in turn, from a ``size`` x ``size`` input."""
    sizes = []
    for window in windows:
        size = output_size(size, *window)
        sizes.append(size)
    return sizes


def min_input_size(windows: Iterable[Window], limit: int = 1024) -> int:
    """The smallest square input that leaves at least a 1x1 map after every layer of ``windows``."""
    windows = list(windows)
    for size in range(1, limit):
        if all(s >= 1 for s in map_sizes(size, windows)):
            return size
    raise ValueError(f"no input size up to {limit - 1} fits this table")
