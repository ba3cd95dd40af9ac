"""Checkers for chapter 09 (The classics today).

Each checker takes the student's answer, raises ``AssertionError`` with a hint when it is wrong, and prints what
was verified when it is right. The references come from PyTorch itself: ``torch.nn.utils.fusion``'s
``fuse_conv_bn_weights`` (the fusion PyTorch's quantisation tools use), the eval-mode RepVGG block, and
``F.cross_entropy(..., label_smoothing=...)``.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.nn.utils.fusion import fuse_conv_bn_weights

from .. import passed as _passed
from .reparam import small_block

__all__ = ["check_fold_bn", "check_fuse_block", "check_label_smoothing"]


def _bn(channels: int, seed: int, eps: float = 1e-5) -> nn.BatchNorm2d:
    g = torch.Generator().manual_seed(seed)
    bn = nn.BatchNorm2d(channels, eps=eps).eval()
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(channels, generator=g))
        bn.running_var.copy_(torch.rand(channels, generator=g) * 2 + 0.1)
        bn.weight.copy_(torch.randn(channels, generator=g))
        bn.bias.copy_(torch.randn(channels, generator=g))
    return bn


def check_fold_bn(fold: Callable[[Tensor, nn.BatchNorm2d], tuple[Tensor, Tensor]]) -> bool:
    """``fold(kernel, bn) -> (kernel', bias')`` with ``conv(x, kernel') + bias' = bn(conv(x, kernel))`` in eval mode.

    Checked against ``torch.nn.utils.fusion.fuse_conv_bn_weights`` and on outputs, for 1x1 and 3x3 kernels,
    negative scales (gamma < 0) and a BN with a large epsilon (which catches sqrt(var) without eps).
    """
    for k, c_in, c_out, eps, seed in ((3, 4, 6, 1e-5, 0), (1, 5, 3, 1e-5, 1), (3, 3, 3, 0.5, 2)):
        g = torch.Generator().manual_seed(seed)
        kernel = torch.randn(c_out, c_in, k, k, generator=g)
        bn = _bn(c_out, seed, eps)
        got = fold(kernel.clone(), bn)
        assert isinstance(got, tuple) and len(got) == 2, "fold must return a pair (kernel, bias)"
        w, b = got
        want_w, want_b = fuse_conv_bn_weights(kernel, None, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias)
        assert tuple(w.shape) == tuple(kernel.shape), (
            f"the kernel keeps its shape {tuple(kernel.shape)}, got {tuple(w.shape)}"
        )
        assert tuple(b.shape) == (c_out,), f"one bias per output channel ({c_out}), got shape {tuple(b.shape)}"
        x = torch.randn(2, c_in, 5, 5, generator=g)
        with torch.no_grad():
            ref = bn(F.conv2d(x, kernel, padding=k // 2))
            out = F.conv2d(x, w.detach(), b.detach(), padding=k // 2)
        if not torch.allclose(out, ref, atol=1e-4, rtol=1e-4):
            if torch.allclose(w, want_w.detach(), atol=1e-4):
                hint = "the kernel is right; the bias is beta - running_mean * gamma / sigma"
            elif torch.allclose(w, kernel * (bn.weight / bn.running_var.sqrt()).view(-1, 1, 1, 1), atol=1e-4):
                hint = "sigma is sqrt(running_var + eps): the epsilon is missing"
            else:
                hint = "scale each output filter W[i] by gamma_i / sigma_i (the kernel is C_out x C_in x k x k)"
            raise AssertionError(
                f"{k}x{k} kernel, eps = {eps}: conv(x, kernel') + bias' differs from bn(conv(x)): {hint}"
            )
        assert torch.allclose(b.detach(), want_b.detach(), atol=1e-4)
    return _passed(
        "folded kernels and biases equal torch.nn.utils.fusion.fuse_conv_bn_weights and reproduce BN(conv(x))"
    )


def check_fuse_block(fuse: Callable[[nn.Module], tuple[Tensor, Tensor]]) -> bool:
    """``fuse(block) -> (kernel, bias)``: one 3x3 kernel and bias equal to a RepVGG block's three branches
    (``block.conv3x3``, ``block.conv1x1``: conv + BN each; ``block.identity``: a BN) in eval mode.

    Checked on outputs: ``ReLU(conv3x3(x, kernel, bias, padding=1))`` against the block itself, for blocks with
    random BN statistics and several widths.
    """
    for channels, seed in ((2, 0), (4, 1), (8, 2)):
        block = small_block(channels, seed)
        got = fuse(block)
        assert isinstance(got, tuple) and len(got) == 2, "fuse must return a pair (kernel, bias)"
        w, b = (t.detach() for t in got)
        assert tuple(w.shape) == (channels, channels, 3, 3), (
            f"one 3x3 kernel C x C x 3 x 3 = {(channels, channels, 3, 3)}, got {tuple(w.shape)}: pad the 1x1 "
            "kernel with one zero on each side (F.pad(k, [1, 1, 1, 1]))"
        )
        x = torch.randn(2, channels, 6, 6, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            ref = block(x)
            out = F.relu(F.conv2d(x, w, b, padding=1))
            without_identity = F.relu(block.conv3x3(x) + block.conv1x1(x))  # what a fusion without the identity gives
        if not torch.allclose(out, ref, atol=1e-4, rtol=1e-4):
            off = (out - ref).abs().max().item()
            hint = (
                "the identity branch seems missing: add BN folded into the identity kernel (1 at [i, i, 1, 1])"
                if torch.allclose(out, without_identity, atol=1e-3)
                else "fold each BN into its kernel first, pad the 1x1 to 3x3 with zeros (adding it unpadded "
                "broadcasts it over all nine positions), then add kernels and biases"
            )
            raise AssertionError(f"{channels} channels: your conv differs from the block by up to {off:.3g}: {hint}")
    return _passed("one 3x3 convolution reproduces the eval-mode block (three branches, ReLU) for 2, 4 and 8 channels")


def check_label_smoothing(loss: Callable[[Tensor, Tensor, float], Tensor]) -> bool:
    """``loss(logits, labels, eps)``: cross-entropy against the smoothed target ``(1 - eps) one_hot + eps / K``,
    averaged over the batch. Checked against ``F.cross_entropy(logits, labels, label_smoothing=eps)``."""
    g = torch.Generator().manual_seed(0)
    for n, k, eps in ((8, 10, 0.1), (5, 3, 0.3), (4, 100, 0.0)):
        logits, labels = torch.randn(n, k, generator=g) * 3, torch.randint(0, k, (n,), generator=g)
        got = loss(logits.clone(), labels.clone(), eps)
        want = F.cross_entropy(logits, labels, label_smoothing=eps)
        assert isinstance(got, Tensor) and got.dim() == 0, "return one number (a 0-d tensor): the batch mean"
        if not torch.allclose(got, want, atol=1e-5):
            logp = logits.log_softmax(1)
            others = (logp.sum(1) - logp.gather(1, labels[:, None]).squeeze(1)) / max(k - 1, 1)
            over_others = ((1 - eps) * F.nll_loss(logp, labels, reduction="none") - eps * others).mean()
            hint = (
                "you spread eps over the K - 1 wrong classes; Szegedy et al. (and PyTorch) spread it over all K "
                "classes, the true one included: target (1 - eps) one_hot + eps / K"
                if torch.allclose(got, over_others, atol=1e-5)
                else "the loss is -sum_k target_k log softmax(logits)_k per image, averaged over the batch"
            )
            raise AssertionError(
                f"{n} x {k} logits, eps = {eps}: got {got.item():.5f}, expected {want.item():.5f}: {hint}"
            )
    return _passed("equal to F.cross_entropy(..., label_smoothing=eps) for eps = 0.1, 0.3 and 0")
