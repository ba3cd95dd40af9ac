"""Augmentation and normalisation of whole batches of tensors, seeded.

A per-image PIL pipeline in worker processes spends most of a 2-core CPU on
Python; these functions transform a whole ``N x C x H x W`` batch with a few
tensor operations on whatever device the batch lives on. Randomness comes from
an explicit ``torch.Generator``, so the same seed gives the same batches.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["random_crop", "random_flip", "normalize", "augment_batch", "iterate_batches", "mix_batch", "MixedBatch"]


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


class MixedBatch(NamedTuple):
    """A batch after mixup or CutMix: train on ``lam * loss(images, labels) + (1 - lam) * loss(images, partners)``."""

    images: Tensor
    labels: Tensor
    partners: Tensor  # the label of the image mixed into each one
    lam: float  # the share of each image that is still its own (1.0: not mixed)
    kind: str  # "none", "mixup" or "cutmix"


def mix_batch(
    x: Tensor,
    labels: Tensor,
    *,
    mixup_alpha: float = 0.0,
    cutmix_alpha: float = 0.0,
    generator: torch.Generator | None = None,
) -> MixedBatch:
    """Mix each image with another of the same batch (a random permutation of it), one lambda per batch.

    mixup (Zhang et al. 2018): ``lam * x + (1 - lam) * x[perm]``, ``lam ~ Beta(alpha, alpha)``.
    CutMix (Yun et al. 2019): a box of area ``(1 - lam) H W`` at a uniform random centre is pasted from
    ``x[perm]``; the box is clipped at the border and ``lam`` becomes the share of pixels left unpasted.
    With both alphas > 0 each batch picks one of the two with probability 1/2 (as timm does). With both 0
    the batch comes back unchanged and ``generator`` is not touched.
    """
    _check_batch(x)
    if mixup_alpha < 0 or cutmix_alpha < 0:
        raise ValueError(f"mixup_alpha and cutmix_alpha must be >= 0, got {mixup_alpha} and {cutmix_alpha}")
    if mixup_alpha == 0 and cutmix_alpha == 0:
        return MixedBatch(x, labels, labels, 1.0, "none")
    # lambda from numpy's Beta, seeded by the generator (torch's Beta sampler cannot take a generator)
    rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
    kind = "cutmix" if cutmix_alpha > 0 and (mixup_alpha == 0 or rng.random() < 0.5) else "mixup"
    alpha = cutmix_alpha if kind == "cutmix" else mixup_alpha
    lam = float(rng.beta(alpha, alpha))
    perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
    partners = labels[perm]
    if kind == "mixup":
        return MixedBatch(lam * x + (1 - lam) * x[perm], labels, partners, lam, kind)
    h, w = x.shape[-2:]
    cut_h, cut_w = int(round(h * np.sqrt(1 - lam))), int(round(w * np.sqrt(1 - lam)))
    cy, cx = int(rng.integers(h)), int(rng.integers(w))
    y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h - cut_h // 2, h)
    x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w - cut_w // 2, w)
    mixed = x.clone()
    mixed[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
    return MixedBatch(mixed, labels, partners, 1 - (y1 - y0) * (x1 - x0) / (h * w), kind)


def iterate_batches(
    n: int, batch_size: int, *, shuffle: bool, generator: torch.Generator | None = None, drop_last: bool = False
) -> Iterator[Tensor]:
    """Index tensors of successive batches over ``range(n)``."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]
