"""Chapter 00 checkers accept right answers and reject wrong ones with a hint."""

import pytest
import torch
import torch.nn.functional as F

from cnnlib.chapters.ch00_introduction import exercises


def test_topk_checker():
    right = lambda logits, targets, k: (logits.topk(k, 1).indices == targets[:, None]).any(1).float().mean().item()
    assert exercises.check_topk_accuracy(right)
    smallest = lambda logits, targets, k: (
        (logits.topk(k, 1, largest=False).indices == targets[:, None]).any(1).float().mean().item()
    )
    with pytest.raises(AssertionError, match="largest"):
        exercises.check_topk_accuracy(smallest)
    top1_only = lambda logits, targets, k: (logits.argmax(1) == targets).float().mean().item()
    with pytest.raises(AssertionError, match="k=2"):
        exercises.check_topk_accuracy(top1_only)
    percent = lambda logits, targets, k: 100 * right(logits, targets, k)
    with pytest.raises(AssertionError, match="fraction"):
        exercises.check_topk_accuracy(percent)


def unfold_conv(embeddings, weight, bias):
    k = weight.shape[-1]
    windows = embeddings.unfold(0, k, 1)  # (L - k + 1) x D x k
    return torch.einsum("tdk,cdk->ct", windows, weight) + bias[:, None]


def test_conv1d_checker():
    assert exercises.check_conv1d_over_words(unfold_conv)
    flipped = lambda e, w, b: unfold_conv(e, w.flip(-1), b)
    with pytest.raises(AssertionError, match="flipped"):
        exercises.check_conv1d_over_words(flipped)
    padded = lambda e, w, b: F.conv1d(e.T[None], w, b, padding=w.shape[-1] // 2)[0]
    with pytest.raises(AssertionError, match="shape"):
        exercises.check_conv1d_over_words(padded)
    no_bias = lambda e, w, b: unfold_conv(e, w, torch.zeros_like(b))
    with pytest.raises(AssertionError, match="values differ"):
        exercises.check_conv1d_over_words(no_bias)
