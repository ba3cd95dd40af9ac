"""Transfer learning: a frozen pretrained network as a feature extractor, and a linear probe on its features.

The recipe of Donahue et al. 2014 (DeCAF, https://arxiv.org/abs/1310.1531) and Razavian et al. 2014
(CNN features off-the-shelf, https://arxiv.org/abs/1403.6382): run every image once through a
network trained on ImageNet, keep a late layer's activations (here: the vector the model's
classifier receives, ``forward_head(forward_features(x), pre_logits=True)``), and train only a
linear classifier on them.

    feats = extract_features(model, images)          # N x D, computed once, no gradients
    probe = fit_linear_probe(feats, labels)           # multinomial logistic regression
    probe_accuracy(probe, val_feats, val_labels)

The extractor never changes the model's weights (eval mode, ``torch.no_grad``); the probe
standardises the features with the training set's mean and standard deviation and is fitted
full-batch with L-BFGS and an L2 penalty, so the same features give the same probe.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..data import ImageTensors, iterate_batches, normalize

__all__ = ["LinearProbe", "extract_features", "fit_linear_probe", "probe_accuracy", "resize_images"]


@torch.no_grad()
def extract_features(model: nn.Module, data: ImageTensors, batch_size: int = 64, pool: bool = True) -> Tensor:
    """Features of every image of ``data`` (float32, CPU, in order): ``N x D``.

    ``model.forward_features`` gives ``N x C x H x W`` maps; with ``pool`` the model's own head
    turns them into the vector its classifier receives (``forward_head(maps, pre_logits=True)``:
    global average pooling for most nets, after DenseNet's final BN and ReLU, AlexNet's and VGG's
    fixed-size pooling flattened), else they are flattened to ``N x C·H·W``. Images are normalised
    with ``data``'s statistics (ImageNet's for Imagenette, what a pretrained ImageNet model
    expects). The model is put in eval mode (batch norm uses its running statistics, dropout is
    off) and its weights are not touched.
    """
    if not (hasattr(model, "forward_features") and hasattr(model, "forward_head")):
        raise TypeError(
            f"{type(model).__name__} has no forward_features() and forward_head(); "
            "pass a cnnlib model (every cnnlib model has them)"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    model.eval()
    device = next(model.parameters()).device
    out = []
    for idx in iterate_batches(len(data), batch_size, shuffle=False):
        x = normalize(data.images[idx].to(device), data.spec.mean, data.spec.std)
        maps = model.forward_features(x)
        features = model.forward_head(maps, pre_logits=True) if pool else maps
        out.append(features.flatten(1).float().cpu())
    return torch.cat(out)


@dataclass
class LinearProbe:
    """A linear classifier on standardised features: ``logits = W (x - mean) / std + b``."""

    linear: nn.Linear
    mean: Tensor  # D, of the training features
    std: Tensor  # D
    train_loss: float  # final regularised training loss
    fit_seconds: float

    @property
    def num_features(self) -> int:
        return self.linear.in_features

    @torch.no_grad()
    def __call__(self, features: Tensor) -> Tensor:
        if features.dim() != 2 or features.shape[1] != self.num_features:
            raise ValueError(f"expected N x {self.num_features} features, got {tuple(features.shape)}")
        return self.linear((features.float() - self.mean) / self.std)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.linear.parameters())


def _check_features(features: Tensor, labels: Tensor) -> None:
    if features.dim() != 2:
        raise ValueError(f"features must be N x D, got shape {tuple(features.shape)}")
    if labels.shape != (features.shape[0],):
        raise ValueError(f"{features.shape[0]} feature rows but labels of shape {tuple(labels.shape)}")
    if not torch.isfinite(features).all():
        raise ValueError("features contain NaN or infinite values")


def fit_linear_probe(
    features: Tensor,
    labels: Tensor,
    num_classes: int | None = None,
    weight_decay: float = 1e-3,
    max_iter: int = 200,
    seed: int = 0,
) -> LinearProbe:
    """Multinomial logistic regression on ``features`` (N x D) by full-batch L-BFGS.

    Minimises mean cross-entropy + ``weight_decay`` / 2 · ||W||² (the bias is not penalised) on
    features standardised with their own mean and std (constant features get std 1).
    """
    _check_features(features, labels)
    if num_classes is None:
        num_classes = int(labels.max()) + 1
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, found {int(labels.min())}..{int(labels.max())}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    t0 = time.perf_counter()
    x = features.float()
    mean = x.mean(0)
    std = x.std(0, unbiased=False)
    std = torch.where(std > 1e-8, std, torch.ones_like(std))
    x = (x - mean) / std
    torch.manual_seed(seed)
    linear = nn.Linear(x.shape[1], num_classes)
    nn.init.zeros_(linear.weight)
    nn.init.zeros_(linear.bias)
    opt = torch.optim.LBFGS(
        linear.parameters(), lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe"
    )

    def closure() -> Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(linear(x), labels) + 0.5 * weight_decay * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        final = (F.cross_entropy(linear(x), labels) + 0.5 * weight_decay * linear.weight.pow(2).sum()).item()
    for p in linear.parameters():
        p.requires_grad_(False)
    return LinearProbe(linear, mean, std, final, time.perf_counter() - t0)


def probe_accuracy(probe: LinearProbe, features: Tensor, labels: Tensor) -> float:
    """Share of rows of ``features`` whose highest logit is the label."""
    _check_features(features, labels)
    return (probe(features).argmax(1) == labels).float().mean().item()


def resize_images(data: ImageTensors, size: int) -> ImageTensors:
    """``data`` with every image resized to ``size`` x ``size`` (bilinear, antialiased, still uint8)."""
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    chunks = []
    for idx in iterate_batches(len(data), 256, shuffle=False):  # in chunks: a float copy of all images is large
        x = F.interpolate(
            data.images[idx].float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
        chunks.append(x.round().clamp(0, 255).to(torch.uint8))
    images = torch.cat(chunks)
    return replace(data, images=images, notes=data.notes + (f"resized to {size}x{size}",))
