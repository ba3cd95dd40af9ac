"""Augmentation and normalisation of whole batches of tensors, seeded.

A per-image PIL pipeline in worker processes spends most of a 2-core CPU on
Python; these functions transform a whole ``N x C x H x W`` batch with a few
tensor operations on whatever device the batch lives on. Randomness comes from
an explicit ``torch.Generator``, so the same seed gives the same batches.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["random_crop", "random_flip", "normalize", "augment_batch", "iterate_batches"]


def _check_batch(x: Tensor) -> None:
    if x.dim() != 4:
        raise ValueError(f"expected a batch N x C x H x W, got shape {tuple(x.shape)}")


def random_crop(x: Tensor, padding: int, generator: torch.Generator | None = None) -> Tensor:
    """Zero-pad each image by ``padding`` and cut a random H x W window from it (one offset per image)."""
    _check_batch(x)
    if padding == 0:
        return x
    n, c, h, w = x.shape
    padded = F.pad(x, (padding,) * 4)  # N x C x (H+2p) x (W+2p)
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # N x 1 x H x 1
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # N x 1 x 1 x W
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]  # N x C x H x W


def random_flip(x: Tensor, generator: torch.Generator | None = None, p: float = 0.5) -> Tensor:
    """Mirror each image left-right with probability ``p``."""
    _check_batch(x)
    flip = (torch.rand(x.shape[0], generator=generator) < p).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def normalize(x: Tensor, mean: Sequence[float], std: Sequence[float], dtype: torch.dtype = torch.float32) -> Tensor:
    """uint8 images in [0, 255] -> float ``(x / 255 - mean) / std`` per channel."""
    _check_batch(x)
    if len(mean) != x.shape[1] or len(std) != x.shape[1]:
        raise ValueError(f"{x.shape[1]} channels but {len(mean)} means and {len(std)} stds")
    mean_t = torch.tensor(mean, dtype=dtype, device=x.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=dtype, device=x.device).view(1, -1, 1, 1)
    return (x.to(dtype) / 255.0 - mean_t) / std_t


def augment_batch(x: Tensor, *, crop_padding: int, flip: bool, generator: torch.Generator | None = None) -> Tensor:
    """The standard CIFAR augmentation: random crop with zero padding, then a random horizontal flip."""
    if crop_padding:
        x = random_crop(x, crop_padding, generator)
    if flip:
        x = random_flip(x, generator)
    return x


def iterate_batches(
    n: int, batch_size: int, *, shuffle: bool, generator: torch.Generator | None = None, drop_last: bool = False
) -> Iterator[Tensor]:
    """Index tensors of successive batches over ``range(n)``."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]
