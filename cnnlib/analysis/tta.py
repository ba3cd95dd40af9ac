"""Test-time augmentation (TTA): AlexNet's ten-crop testing, and the flip alone.

Krizhevsky et al. 2012, Sec. 4.1: "At test time, the network makes a prediction by extracting five
224 x 224 patches (the four corner patches and the center patch) as well as their horizontal
reflections (hence ten patches in all), and averaging the predictions made by the network's softmax
layer on the ten patches." AlexNet trained on random 224 x 224 crops of 256 x 256 images, so a
test crop is a view of the kind it was trained on.

The CIFAR-10 recipe of this course trains on random 32 x 32 crops of the image zero-padded by 4
pixels (plus flips). The same logic gives the ten views here: the four corner and the centre
32 x 32 crops of the *padded* image (the centre crop is the image itself), each with its mirror.
Every view is one the network saw during training (a shift by 4 pixels at most).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..data import ImageTensors, iterate_batches, normalize

__all__ = ["VIEW_NAMES", "flip_predict", "ten_crop_logits", "ten_crop_outputs", "ten_crop_predict", "ten_crop_views"]

VIEW_NAMES = (
    "top-left",
    "top-right",
    "bottom-left",
    "bottom-right",
    "centre",
    "mirror top-left",
    "mirror top-right",
    "mirror bottom-left",
    "mirror bottom-right",
    "mirror centre",
)  # fmt: skip (the last five are crops of the mirrored image, as in torchvision's ten_crop)


def _check_images(x: Tensor) -> None:
    if x.dim() != 4:
        raise ValueError(f"expected a batch of images N x C x H x W, got shape {tuple(x.shape)}")


def ten_crop_views(x: Tensor, padding: int = 4, crop: int | None = None) -> Tensor:
    """The ten views of each image: 4 corner crops and the centre crop of the zero-padded image, then the
    same five crops of its mirror image (the mirror of the top-left view is "mirror top-right").

    Args:
        x: ``N x C x H x W`` images (any dtype; pad uint8 images before normalising, as training does).
        padding: zero padding added on every side before cropping (the training crop's padding).
        crop: side of the square crops; default ``H`` (so the centre view is the image itself).
    Returns:
        ``10 x N x C x crop x crop``, in the order of :data:`VIEW_NAMES` (the order of torchvision's
        ``ten_crop`` on the padded image).
    """
    _check_images(x)
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    h, w = x.shape[-2:]
    crop = h if crop is None else crop
    if not 0 < crop <= min(h, w) + 2 * padding:
        raise ValueError(f"crop {crop} does not fit images of {h} x {w} padded by {padding}")
    padded = F.pad(x, (padding,) * 4) if padding else x  # N x C x (H + 2p) x (W + 2p)
    ph, pw = padded.shape[-2:]
    top, left = int(round((ph - crop) / 2.0)), int(round((pw - crop) / 2.0))  # torchvision's centre-crop rounding
    origins = [(0, 0), (0, pw - crop), (ph - crop, 0), (ph - crop, pw - crop), (top, left)]
    mirrored = padded.flip(-1)
    crops = [img[..., i : i + crop, j : j + crop] for img in (padded, mirrored) for i, j in origins]
    return torch.stack(crops)  # 10 x N x C x crop x crop


@torch.no_grad()
def ten_crop_logits(
    model: nn.Module, x: Tensor, padding: int = 4, average: Literal["logits", "softmax"] = "logits"
) -> Tensor:
    """The model's output averaged over the ten views of each (already normalised) image: ``N x classes``.

    ``average="softmax"`` averages the class probabilities (the paper's choice) and returns their log,
    so that ``argmax`` and ``cross_entropy`` work the same way on both answers. The model is run in
    eval mode. Zero padding of normalised images pads with the dataset mean (use
    :func:`ten_crop_predict` on uint8 images to pad with black, exactly as the training crops did).
    """
    _combine(torch.zeros(1, 1, 1), average)  # refuse a wrong ``average`` early
    views = ten_crop_views(x, padding)  # 10 x N x C x H x W
    model.eval()
    out = model(views.flatten(0, 1)).float()  # 10N x classes
    return _combine(out.unflatten(0, (10, x.shape[0])), average)  # 10 x N x classes -> N x classes


def _combine(outputs: Tensor, average: str) -> Tensor:
    """Average ``V x N x classes`` outputs over the views: logits, or probabilities (returned as log-probabilities)."""
    if average == "logits":
        return outputs.mean(0)
    if average == "softmax":
        return outputs.softmax(-1).mean(0).log()
    raise ValueError(f"average must be 'logits' or 'softmax', not {average!r}")


@torch.no_grad()
def ten_crop_outputs(model: nn.Module, data: ImageTensors, padding: int = 4, batch_size: int = 250) -> Tensor:
    """The model's logits for each of the ten views of every uint8 image of ``data``: ``10 x N x classes`` (CPU).

    Like training: pad the uint8 image with zeros (black), crop, then normalise.
    """
    device = next(model.parameters()).device
    model.eval()
    outputs = []
    for idx in iterate_batches(len(data), batch_size, shuffle=False):
        views = ten_crop_views(data.images[idx].to(device), padding)  # 10 x B x C x H x W, uint8
        xb = normalize(views.flatten(0, 1), data.spec.mean, data.spec.std)  # 10B x C x H x W
        outputs.append(model(xb).float().unflatten(0, (10, len(idx))).cpu())  # 10 x B x classes
    return torch.cat(outputs, dim=1)


def ten_crop_predict(
    model: nn.Module,
    data: ImageTensors,
    padding: int = 4,
    average: Literal["logits", "softmax"] = "logits",
    batch_size: int = 250,
) -> Tensor:
    """Ten-crop outputs (``N x classes``, float32, CPU) for every uint8 image of ``data``, in order.

    The counterpart of :func:`cnnlib.train.predict`, which sees only the centre view.
    """
    _combine(torch.zeros(1, 1, 1), average)  # refuse a wrong ``average`` before the expensive part
    return _combine(ten_crop_outputs(model, data, padding, batch_size), average)


@torch.no_grad()
def flip_predict(
    model: nn.Module, data: ImageTensors, average: Literal["logits", "softmax"] = "logits", batch_size: int = 500
) -> Tensor:
    """Outputs (``N x classes``, float32, CPU) averaged over each uint8 image of ``data`` and its mirror image:
    the cheapest TTA, two views (views 4 and 9 of :data:`VIEW_NAMES`), used by modern recipes (Wightman et al.)."""
    _combine(torch.zeros(1, 1, 1), average)
    device = next(model.parameters()).device
    model.eval()
    outputs = []
    for idx in iterate_batches(len(data), batch_size, shuffle=False):
        x = normalize(data.images[idx].to(device), data.spec.mean, data.spec.std)
        both = model(torch.cat([x, x.flip(3)])).float().unflatten(0, (2, len(idx))).cpu()  # 2 x B x classes
        outputs.append(_combine(both, average))
    return torch.cat(outputs)
