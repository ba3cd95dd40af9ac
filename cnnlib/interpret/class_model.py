"""Class-model visualisation: the image a network finds most typical of a class.

Simonyan, Vedaldi, Zisserman 2014 (https://arxiv.org/abs/1312.6034), Sec. 2: start from a zero
(mean-colour) image and climb the class score by gradient ascent on the *input*,

    x* = argmax_x  y_c(x) - lambda ||x||_2^2 ,

with ``y_c`` the logit (not the softmax, which could rise by pushing other classes down). Plain
ascent gives high-frequency noise that the network happens to like; regularisers make the result
readable, and each is switched on and off here:

- ``l2``: the paper's penalty, pulls pixels toward the mean colour (weight decay on the image);
- ``jitter``: shift the image by up to this many pixels at random before every step, so that the
  image cannot rely on exact pixel positions (Mordvintsev, Olah, Tyka 2015, "Inceptionism";
  Olah, Mordvintsev, Schubert 2017, https://distill.pub/2017/feature-visualization/);
- ``blur_every`` / ``blur_sigma``: a Gaussian blur every few steps, which removes high frequencies
  (Yosinski et al. 2015, https://arxiv.org/abs/1506.06579, Sec. 3);
- ``clip``: keep pixels inside the range real images occupy (``[0, 1]`` before normalisation); a
  plain range clamp, not Yosinski et al.'s clipping, which zeroes pixels of small norm.

Each step moves by ``lr`` times the gradient divided by its mean magnitude, so that ``lr`` is in
units of normalised pixel values whatever the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .base import AttributionError, preserved

__all__ = ["ClassModel", "Visualisation", "gaussian_blur"]


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Blur a batch N x C x H x W with a Gaussian of standard deviation ``sigma`` pixels (reflect padding)."""
    if sigma <= 0:
        return x
    radius = max(1, int(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


@dataclass
class Visualisation:
    """The result: the image (1 x C x H x W, normalised space) and the class score after every step."""

    image: Tensor
    scores: list[float] = field(default_factory=list)
    probability: float = 0.0


class ClassModel:
    """Gradient ascent on the input toward class ``target``; ``generate`` returns a :class:`Visualisation`.

    ``mean``/``std``: the normalisation the model expects (per channel), used by ``clip`` to keep
    pixels inside ``[0, 1]`` before normalisation; ``None`` leaves the range free.
    """

    def __init__(
        self,
        model: nn.Module,
        steps: int = 100,
        lr: float = 0.05,
        l2: float = 1e-3,
        jitter: int = 8,
        blur_every: int = 4,
        blur_sigma: float = 0.5,
        clip: bool = True,
        mean: tuple[float, ...] | None = (0.485, 0.456, 0.406),
        std: tuple[float, ...] | None = (0.229, 0.224, 0.225),
    ):
        if steps < 1 or lr <= 0 or l2 < 0 or jitter < 0 or blur_every < 0:
            raise AttributionError("ClassModel needs steps >= 1, lr > 0 and non-negative l2, jitter, blur_every")
        if clip and (mean is None or std is None):
            raise AttributionError("clip=True needs the model's normalisation (mean and std)")
        self.model, self.steps, self.lr, self.l2 = model, steps, lr, l2
        self.jitter, self.blur_every, self.blur_sigma, self.clip = jitter, blur_every, blur_sigma, clip
        self.mean, self.std = mean, std

    def _bounds(self, channels: int, device) -> tuple[Tensor, Tensor]:
        mean = torch.tensor(self.mean, device=device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=device).view(1, -1, 1, 1)
        if mean.shape[1] != channels:
            raise AttributionError(f"mean/std have {mean.shape[1]} channels, the image has {channels}")
        return (0 - mean) / std, (1 - mean) / std

    def generate(self, target: int, size: tuple[int, int, int] = (3, 224, 224), seed: int = 0) -> Visualisation:
        """Climb class ``target`` from a near-zero image of ``size`` (C x H x W)."""
        gen = torch.Generator().manual_seed(seed)
        device = next(self.model.parameters()).device
        x = (torch.randn((1, *size), generator=gen) * 0.01).to(device)
        low, high = self._bounds(size[0], device) if self.clip else (None, None)
        scores = []
        with preserved(self.model), torch.enable_grad():
            out = self.model(x)
            if not 0 <= target < out.shape[1]:
                raise AttributionError(f"target {target} out of range: the model has {out.shape[1]} classes")
            for step in range(self.steps):
                dy, dx = (torch.randint(-self.jitter, self.jitter + 1, (2,), generator=gen).tolist()
                          if self.jitter else (0, 0))  # fmt: skip
                shifted = torch.roll(x, (dy, dx), (2, 3)).requires_grad_(True)
                score = self.model(shifted)[0, target]
                objective = score - self.l2 * (shifted**2).sum()
                (grad,) = torch.autograd.grad(objective, shifted)
                with torch.no_grad():  # a step of lr in units of the gradient's mean size; roll back the jitter
                    x = torch.roll(shifted + self.lr * grad / (grad.abs().mean() + 1e-12), (-dy, -dx), (2, 3))
                    if self.blur_every and (step + 1) % self.blur_every == 0:
                        x = gaussian_blur(x, self.blur_sigma)
                    if self.clip:
                        x = torch.maximum(torch.minimum(x, high), low)
                scores.append(score.item())
            with torch.no_grad():
                probability = self.model(x).softmax(1)[0, target].item()
        return Visualisation(x.detach(), scores, probability)
