"""Checkers for chapter 00 (Introduction).

Each checker takes the student's function, raises ``AssertionError`` with a hint when it
is wrong, and prints what was verified when it is right. The reference answers come from
PyTorch itself (``torch.topk``, ``torch.nn.functional.conv1d``).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import passed as _passed

__all__ = ["check_conv1d_over_words", "check_topk_accuracy"]


def _reference_topk(logits: Tensor, targets: Tensor, k: int) -> float:
    return (logits.topk(k, dim=1).indices == targets[:, None]).any(dim=1).float().mean().item()


def check_topk_accuracy(fn: Callable[[Tensor, Tensor, int], float]) -> bool:
    """Exercise 00.1: ``fn(logits, targets, k)`` must return the fraction of rows whose target is among the k
    largest logits."""
    gen = torch.Generator().manual_seed(0)
    cases = []
    for n, classes in ((64, 10), (200, 1000), (7, 5)):
        logits = torch.randn(n, classes, generator=gen)
        targets = torch.randint(0, classes, (n,), generator=gen)
        # make some targets the runner-up, so that top-1 and top-2 differ
        runner_up = logits.topk(2, dim=1).indices[:, 1]
        targets[: n // 3] = runner_up[: n // 3]
        for k in sorted({1, 2, 5, classes}):
            cases.append((logits, targets, k))
    for logits, targets, k in cases:
        expected = _reference_topk(logits, targets, k)
        got = fn(logits.clone(), targets.clone(), k)
        got = float(got.item() if isinstance(got, Tensor) else got)
        assert abs(got - expected) < 1e-6, (
            f"{logits.shape[0]} images, {logits.shape[1]} classes, k={k}: expected {expected:.4f}, got {got:.4f}. "
            + (
                "Hint: return a fraction in [0, 1], not a percentage or a count."
                if got > 1
                else (
                    "Hint: an image counts as correct when its target is among the k *largest* logits "
                    "(torch.topk gives their indices)."
                )
            )
        )
    return _passed(f"{len(cases)} cases (up to 1,000 classes, k from 1 to the number of classes) agree with torch.topk")


def check_conv1d_over_words(fn: Callable[[Tensor, Tensor, Tensor], Tensor]) -> bool:
    """Exercise 00.2: ``fn(embeddings L x D, weight C x D x k, bias C)`` -> the C x (L - k + 1) output of a 1-D
    convolution."""
    gen = torch.Generator().manual_seed(1)
    for length, dim, channels, k in ((17, 4, 3, 3), (6, 4, 2, 2), (9, 8, 5, 4), (3, 4, 3, 3)):
        embeddings = torch.randn(length, dim, generator=gen)
        weight = torch.randn(channels, dim, k, generator=gen)
        bias = torch.randn(channels, generator=gen)
        expected = F.conv1d(embeddings.T[None], weight, bias)[0]
        got = fn(embeddings.clone(), weight.clone(), bias.clone())
        assert isinstance(got, Tensor), f"return a tensor, got {type(got).__name__}"
        assert tuple(got.shape) == tuple(expected.shape), (
            f"{length} words, {channels} kernels of size {k}: expected shape {tuple(expected.shape)} "
            f"(kernels x positions), got {tuple(got.shape)}. Hint: without padding a window of {k} words fits "
            f"{length} - {k} + 1 = {length - k + 1} times."
        )
        if not torch.allclose(got.float(), expected, atol=1e-4):
            flipped = F.conv1d(embeddings.T[None], weight.flip(-1), bias)[0]
            hint = (
                "Hint: you flipped the kernel (the textbook convolution); deep-learning libraries compute the "
                "cross-correlation: output[c, t] = bias[c] + sum over d, j of weight[c, d, j] * embeddings[t + j, d]."
                if torch.allclose(got.float(), flipped, atol=1e-4)
                else "Hint: output[c, t] = bias[c] + sum over d, j of weight[c, d, j] * embeddings[t + j, d]."
            )
            raise AssertionError(f"{length} words, {channels} kernels of size {k}: values differ from F.conv1d. {hint}")
    return _passed("four sentence lengths, embedding sizes and kernel sizes agree with torch.nn.functional.conv1d")
