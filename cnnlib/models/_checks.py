"""Input validation shared by every model: a clear error instead of a shape error deep inside."""

from __future__ import annotations

from torch import Tensor


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
