"""RepVGG's structural re-parameterisation (Ding et al. 2021, Sec. 3.3 and Fig. 4), one step at a time.

Each step rewrites one part of a training-time block as an ordinary convolution and measures, on a small
tensor, the largest difference between the part and its rewrite. The steps are the functions of
:mod:`cnnlib.models.repvgg` (``fuse_conv_bn``, ``pad_1x1_to_3x3``, ``identity_kernel``); the last row is the
block's own ``reparameterize``.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F

from ...data import ImageTensors
from ...models.repvgg import RepVGGBlock, fuse_conv_bn, identity_kernel, pad_1x1_to_3x3, reparameterized
from ...testing import randomise_batch_norm
from ...train import predict

__all__ = ["fused_agreement", "fusion_steps", "small_block"]


def small_block(channels: int = 4, seed: int = 0) -> RepVGGBlock:
    """A RepVGG block (C -> C, stride 1: all three branches) with random weights and random BN statistics and
    affine parameters (fresh BNs are the identity and would hide a mistake), in eval mode."""
    torch.manual_seed(seed)
    block = RepVGGBlock(channels, channels)
    return randomise_batch_norm(block, torch.Generator().manual_seed(seed)).eval()


@torch.no_grad()
def fusion_steps(block: RepVGGBlock, x: torch.Tensor) -> list[dict[str, Any]]:
    """Rows ``step``, ``claim``, ``max_difference`` (largest absolute difference between the two sides) and
    ``scale`` (largest absolute value of the left side), for each step of the fusion of ``block`` on ``x``."""
    if block.is_fused or block.identity is None:
        raise ValueError("fusion_steps needs an unfused block with all three branches (C_in = C_out, stride 1)")
    conv3, bn3 = block.conv3x3[0], block.conv3x3[1]
    conv1, bn1 = block.conv1x1[0], block.conv1x1[1]
    k3, b3 = fuse_conv_bn(conv3.weight, bn3)
    k1, b1 = fuse_conv_bn(conv1.weight, bn1)
    k1_3x3 = pad_1x1_to_3x3(k1)
    kid, bid = fuse_conv_bn(identity_kernel(block.in_channels, like=k3), block.identity)
    fused = copy.deepcopy(block).reparameterize()

    def conv(weight: torch.Tensor, bias: torch.Tensor | None = None, padding: int = 1) -> torch.Tensor:
        return F.conv2d(x, weight, bias, padding=padding)

    pairs = [
        ("1", "BN(conv3x3(x)) = conv3x3'(x) + b'  (BN folded into the 3×3 kernel)", block.conv3x3(x), conv(k3, b3)),
        ("1", "BN(conv1x1(x)) = conv1x1'(x) + b'  (BN folded into the 1×1 kernel)", block.conv1x1(x),
         conv(k1, b1, padding=0)),
        ("2", "the 1×1 kernel, padded with zeros to 3×3 (padding 1), computes the same", conv(k1, b1, padding=0),
         conv(k1_3x3, b1)),
        ("3", "x = conv3x3(x) with the identity kernel (a 1 at the centre of filter i, channel i)", x,
         conv(identity_kernel(block.in_channels, like=k3))),
        ("3", "BN(x) = conv3x3(x) with the identity kernel, BN folded in", block.identity(x), conv(kid, bid)),
        ("4", "branches summed = one 3×3 conv with the summed kernels and biases",
         block.conv3x3(x) + block.conv1x1(x) + block.identity(x), conv(k3 + k1_3x3 + kid, b3 + b1 + bid)),
        ("all", "the block, ReLU included, = the block after reparameterize()", block(x), fused(x)),
    ]  # fmt: skip
    return [
        {"step": step, "claim": claim, "max_difference": (a - b).abs().max().item(), "scale": a.abs().max().item()}
        for step, claim, a, b in pairs
    ]


def fused_agreement(model: torch.nn.Module, data: ImageTensors) -> dict[str, Any]:
    """The trained multi-branch ``model`` against its fused copy on ``data``: accuracy of each, the number of
    images whose predicted class differs, the largest logit difference, and the parameters of each form."""
    fused = reparameterized(model).eval()
    a, b = predict(model, data), predict(fused, data)
    return {
        "images": len(data),
        "acc_multi": (a.argmax(1) == data.labels).float().mean().item(),
        "acc_fused": (b.argmax(1) == data.labels).float().mean().item(),
        "different_predictions": int((a.argmax(1) != b.argmax(1)).sum()),
        "max_logit_difference": (a - b).abs().max().item(),
        "logit_scale": a.abs().max().item(),
        "params_multi": sum(p.numel() for p in model.parameters()),
        "params_fused": sum(p.numel() for p in fused.parameters()),
        "fused": fused,
    }
