"""Attribution by gradients with respect to the input pixels.

- :class:`Saliency`: Simonyan, Vedaldi, Zisserman 2014 (https://arxiv.org/abs/1312.6034), Sec. 3:
  ``w = d y_c / d x``, the class score's gradient; the map is ``max_c |w|`` over colour channels.
- :class:`SmoothGrad`: Smilkov et al. 2017 (https://arxiv.org/abs/1706.03825): the gradient averaged
  over copies of the image with Gaussian noise, which removes much of its speckle.
- :class:`IntegratedGradients`: Sundararajan, Taly, Yan 2017 (https://arxiv.org/abs/1703.01365):
  ``(x - x') * mean over a of grad(x' + a (x - x'))``, the gradient integrated along the straight
  path from a baseline ``x'`` (often black; here 0 in normalised space, the mean colour) to ``x``; its
  sum over pixels equals ``y_c(x) - y_c(x')`` (completeness), up to the integration error.

Scores are the logits (before softmax), as in the papers: a softmax gradient also depends on
every other class.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import AttributionError, Method, input_gradient, preserved

__all__ = ["IntegratedGradients", "Saliency", "SmoothGrad"]


class Saliency(Method):
    """Vanilla gradient. ``attribute``: ``max over channels |d y_c / d x|`` (N x H x W);
    ``attribute_channels``: the gradient itself, signed (N x C x H x W)."""

    per_channel = True

    def _channels(self, x: Tensor, target: Tensor) -> Tensor:
        return input_gradient(self.model, x, target)


class SmoothGrad(Method):
    """The gradient averaged over ``samples`` noisy copies ``x + N(0, sigma^2)``.

    ``noise``: sigma as a fraction of each image's value range (max - min), 0.15 by default
    (Smilkov et al. find 10-20 % best). ``seed`` fixes the noise, so maps are reproducible.
    ``batch_size`` noisy copies go through the model at once.
    """

    per_channel = True

    def __init__(
        self, model, samples: int = 25, noise: float = 0.15, seed: int = 0, batch_size: int = 16, *, layer=None
    ):
        super().__init__(model, layer)  # layer: refused with a clear error, as by every input-only method
        if samples < 1 or noise < 0:
            raise AttributionError(f"SmoothGrad needs samples >= 1 and noise >= 0, got {samples}, {noise}")
        self.samples, self.noise, self.seed, self.batch_size = samples, noise, seed, batch_size

    def _channels(self, x: Tensor, target: Tensor) -> Tensor:
        gen = torch.Generator(device="cpu").manual_seed(self.seed)
        total = torch.zeros_like(x)
        for i in range(len(x)):
            xi = x[i : i + 1]
            sigma = self.noise * (xi.max() - xi.min())
            done = 0
            while done < self.samples:
                k = min(self.batch_size, self.samples - done)
                noise = torch.randn((k, *xi.shape[1:]), generator=gen).to(x.device) * sigma
                total[i] += input_gradient(self.model, xi + noise, target[i].expand(k)).sum(0)
                done += k
        return total / self.samples


class IntegratedGradients(Method):
    """Integrated Gradients with ``steps`` points of the midpoint rule (captum's ``riemann_middle``).

    ``baseline``: a number (0 = the dataset's mean colour once normalised) or a tensor shaped like
    one image or the batch. ``attribute`` sums over channels (the signed contribution of each pixel);
    ``attribute_channels`` is per channel. :meth:`delta` gives the completeness error.
    """

    per_channel = True

    def __init__(self, model, baseline: float | Tensor = 0.0, steps: int = 32, batch_size: int = 32, *, layer=None):
        super().__init__(model, layer)  # layer: refused with a clear error
        if steps < 1:
            raise AttributionError(f"IntegratedGradients needs steps >= 1, got {steps}")
        self.baseline, self.steps, self.batch_size = baseline, steps, batch_size

    def baseline_like(self, x: Tensor) -> Tensor:
        """The baseline, shaped like the batch ``x``."""
        if isinstance(self.baseline, Tensor):
            b = self.baseline.to(x.device, x.dtype)
            if b.shape not in (x.shape, x.shape[1:]):
                raise AttributionError(f"baseline of shape {tuple(b.shape)} does not match x of shape {tuple(x.shape)}")
            return b.expand_as(x)
        return torch.full_like(x, float(self.baseline))

    def _channels(self, x: Tensor, target: Tensor) -> Tensor:
        base = self.baseline_like(x)
        alphas = (torch.arange(self.steps, dtype=x.dtype, device=x.device) + 0.5) / self.steps
        out = torch.empty_like(x)
        for i in range(len(x)):
            grads = torch.zeros_like(x[i])
            for a in alphas.split(self.batch_size):
                points = base[i] + a[:, None, None, None] * (x[i] - base[i])
                grads += input_gradient(self.model, points, target[i].expand(len(a))).sum(0)
            out[i] = (x[i] - base[i]) * grads / self.steps
        return out

    @staticmethod
    def reduce(channels: Tensor) -> Tensor:
        """Sum over channels: a pixel's signed contribution to ``y_c(x) - y_c(baseline)``."""
        return channels.sum(1)

    def delta(self, x: Tensor, target=None) -> Tensor:
        """Completeness error per image: ``sum(attributions) - (y_c(x) - y_c(baseline))``."""
        attributions = self.attribute_channels(x, target)
        with preserved(self.model), torch.no_grad():
            t = self._targets(x, target)
            gap = self.model(x).gather(1, t[:, None]) - self.model(self.baseline_like(x)).gather(1, t[:, None])
        return attributions.sum((1, 2, 3)) - gap.flatten()
