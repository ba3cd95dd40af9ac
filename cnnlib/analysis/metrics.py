"""Reading a model's numbers: top-k accuracy and its confidence interval, the standard error of an
error rate, McNemar's test of two classifiers on the same images, the confusion matrix and its
largest confusions, the most confident mistakes, when a training curve first crosses a threshold."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

from ..data.imagenet import imagenet_classes

__all__ = [
    "accuracy_interval",
    "confusion_matrix",
    "first_crossing",
    "kendall_tau",
    "mcnemar",
    "misclassified",
    "spearman",
    "standard_error",
    "top_confusions",
    "top_predictions",
    "topk_accuracy",
    "topk_correct",
]


def misclassified(logits: Tensor, labels: Tensor) -> Tensor:
    """Indices of the wrong predictions, most confident mistakes first."""
    probs = logits.softmax(1)
    pred = probs.argmax(1)
    wrong = (pred != labels).nonzero().flatten()
    confidence = probs[wrong, pred[wrong]]
    return wrong[confidence.argsort(descending=True)]


def first_crossing(points: Sequence[dict[str, float]], target: float, key: str = "train_error") -> float | None:
    """The ``step`` of the first point whose ``key`` is at or below ``target``; None if never reached.

    ``points`` as a training history records them: ``[{"step": ..., "train_loss": ..., ...}, ...]``.
    """
    for point in points:
        if point[key] <= target:
            return point["step"]
    return None


def standard_error(rate: float, n: int) -> float:
    """The standard error of an error (or accuracy) ``rate`` measured on ``n`` independent examples:
    sqrt(rate (1 - rate) / n), the binomial estimate. A difference of one standard error between
    two such rates is what chance alone gives about one time in three."""
    if n < 1 or not 0.0 <= rate <= 1.0:
        raise ValueError(f"need a rate in [0, 1] and n >= 1, not {rate} and {n}")
    return math.sqrt(rate * (1.0 - rate) / n)


def _check_logits(logits: Tensor, targets: Tensor, k: int) -> None:
    if logits.dim() != 2:
        raise ValueError(f"logits must be N x C (one row of class scores per image), got shape {tuple(logits.shape)}")
    if targets.shape != (logits.shape[0],):
        raise ValueError(f"{logits.shape[0]} rows of logits but targets of shape {tuple(targets.shape)}")
    if not 1 <= k <= logits.shape[1]:
        raise ValueError(f"k must be in 1..{logits.shape[1]} (the number of classes), got {k}")
    if targets.numel() and (targets.min() < 0 or targets.max() >= logits.shape[1]):
        raise ValueError(f"targets must be class indices in 0..{logits.shape[1] - 1}")


def topk_correct(logits: Tensor, targets: Tensor, k: int) -> Tensor:
    """For each image, whether its true class is among the ``k`` highest-scoring classes (N bools)."""
    _check_logits(logits, targets, k)
    return (logits.topk(k, dim=1).indices == targets[:, None]).any(dim=1)


def topk_accuracy(logits: Tensor, targets: Tensor, ks: Sequence[int] = (1, 5)) -> dict[int, float]:
    """Top-k accuracy (a fraction) for each k: ``{1: top-1, 5: top-5}`` by default."""
    return {k: topk_correct(logits, targets, k).float().mean().item() for k in ks}


def top_predictions(logits: Tensor, k: int = 5, classes: Sequence[str] | None = None) -> list[tuple[int, str, float]]:
    """The ``k`` most probable classes of one image's logits: (index, name, softmax probability), best first."""
    if logits.dim() == 2 and logits.shape[0] == 1:
        logits = logits[0]
    if logits.dim() != 1:
        raise ValueError(f"top_predictions takes the logits of one image (C values), got shape {tuple(logits.shape)}")
    classes = classes if classes is not None else (imagenet_classes() if logits.numel() == 1000 else None)
    if classes is not None and len(classes) != logits.numel():
        raise ValueError(f"{logits.numel()} logits but {len(classes)} class names")
    probs = logits.float().softmax(0)
    values, indices = probs.topk(k)
    return [(int(i), classes[int(i)] if classes else str(int(i)), float(v)) for v, i in zip(values, indices)]


def accuracy_interval(accuracy: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval (95 % by default) for an accuracy measured on ``n`` independent images."""
    if n <= 0 or not 0.0 <= accuracy <= 1.0:
        raise ValueError(f"need n > 0 and an accuracy in [0, 1], got n={n}, accuracy={accuracy}")
    denom = 1 + z * z / n
    centre = (accuracy + z * z / (2 * n)) / denom
    half = z * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar(correct_a: Tensor, correct_b: Tensor) -> dict[str, float | int]:
    """McNemar's test: do two classifiers, scored on the *same* images, differ in accuracy?

    Only the images where they disagree carry information: ``a_only`` (A right, B wrong) and
    ``b_only`` (B right, A wrong). If both are equally accurate, each disagreement goes either way
    with probability 1/2, so ``a_only ~ Binomial(a_only + b_only, 1/2)``. Returned:

    - ``a_only``, ``b_only``, ``n`` (images), ``accuracy_a``, ``accuracy_b``;
    - ``p_value``: the exact two-sided binomial p-value (McNemar 1947; Dietterich 1998 recommends the
      test for comparing classifiers on one test set);
    - ``chi2``: the continuity-corrected statistic (|a_only - b_only| - 1)^2 / (a_only + b_only),
      about chi-square with 1 degree of freedom when the disagreements are many;
    - ``difference_se``: the standard error of ``accuracy_b - accuracy_a``, estimated from the same
      counts: sqrt(a_only + b_only - (a_only - b_only)^2 / n) / n (smaller than for two independent
      test sets, because the images both get right or both get wrong add no variance).

    Two accuracies measured on the same images are strongly correlated, so this paired test can call
    a 0.5-point difference clear where two independent Wilson intervals overlap.
    """
    a = torch.as_tensor(correct_a).bool().flatten().cpu()
    b = torch.as_tensor(correct_b).bool().flatten().cpu()
    if a.shape != b.shape or a.numel() == 0:
        raise ValueError(
            f"need one right/wrong flag per image from each classifier, on the same images; got {a.numel()} and "
            f"{b.numel()} flags"
        )
    a_only, b_only = int((a & ~b).sum()), int((b & ~a).sum())
    discordant = a_only + b_only
    if discordant == 0:
        p_value, chi2 = 1.0, 0.0
    else:
        tail = sum(math.comb(discordant, k) for k in range(min(a_only, b_only) + 1))
        p_value = min(1.0, 2 * tail / 2**discordant)  # exact integer arithmetic, one rounding
        chi2 = max(abs(a_only - b_only) - 1, 0) ** 2 / discordant
    return {
        "n": a.numel(),
        "accuracy_a": a.float().mean().item(),
        "accuracy_b": b.float().mean().item(),
        "a_only": a_only,
        "b_only": b_only,
        "chi2": chi2,
        "p_value": p_value,
        "difference_se": math.sqrt(max(discordant - (a_only - b_only) ** 2 / a.numel(), 0.0)) / a.numel(),
    }


# --------------------------------------------------------------------------- anatomy


def confusion_matrix(labels: Tensor, predictions: Tensor, num_classes: int) -> Tensor:
    """``num_classes x num_classes`` counts; row = true class, column = predicted class."""
    labels = torch.as_tensor(labels).long().cpu()
    predictions = torch.as_tensor(predictions).long().cpu()
    return torch.bincount(labels * num_classes + predictions, minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def top_confusions(cm: Tensor, classes: Sequence[str], k: int = 5) -> list[tuple[str, str, int]]:
    """The ``k`` largest off-diagonal cells as (true class, predicted class, count)."""
    cm = torch.as_tensor(cm).clone()
    cm.fill_diagonal_(0)
    values, flat = cm.flatten().topk(k)
    n = cm.shape[0]
    return [(classes[int(i) // n], classes[int(i) % n], int(v)) for v, i in zip(values, flat) if v > 0]


def kendall_tau(order: Sequence[int]) -> float:
    """Kendall's rank correlation between ``order`` (a permutation of 0..n-1) and the identity 0, 1, ..., n-1.

    (concordant pairs - discordant pairs) / (n (n - 1) / 2): 1 for the original order, -1 for the
    reversed one. Veit et al. 2016 (Fig. 5b) plot a ResNet's error against it for shuffled blocks.
    """
    order = list(order)
    if sorted(order) != list(range(len(order))) or len(order) < 2:
        raise ValueError(f"need a permutation of 0..n-1 with n >= 2, got {order}")
    n = len(order)
    score = sum(1 if order[i] < order[j] else -1 for i in range(n) for j in range(i + 1, n))
    return score / (n * (n - 1) / 2)


def _ranks(x: Tensor) -> Tensor:
    """Ranks 0..n-1 of a 1-D tensor, ties given their mean rank."""
    order = x.argsort()
    ranks = torch.empty_like(x, dtype=torch.float64)
    ranks[order] = torch.arange(len(x), dtype=torch.float64)
    values, inverse = torch.unique(x, return_inverse=True)
    if len(values) < len(x):  # average the ranks of tied values
        sums = torch.zeros(len(values), dtype=torch.float64).index_add_(0, inverse, ranks)
        counts = torch.zeros(len(values), dtype=torch.float64).index_add_(0, inverse, torch.ones_like(ranks))
        ranks = (sums / counts)[inverse]
    return ranks


def spearman(a: Tensor, b: Tensor) -> float:
    """Spearman's rank correlation of two equally long sets of numbers (tensors of any shape, flattened).

    Pearson's correlation of their ranks (ties get their mean rank): 1 when ``b`` is any increasing
    function of ``a``. Adebayo et al. 2018 compare saliency maps with it.
    """
    a, b = a.detach().flatten().double().cpu(), b.detach().flatten().double().cpu()
    if a.shape != b.shape or len(a) < 2:
        raise ValueError(f"need two equally long sets of at least 2 numbers, got {tuple(a.shape)} and {tuple(b.shape)}")
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = (ra.norm() * rb.norm()).item()
    return float((ra @ rb).item() / denominator) if denominator > 0 else 0.0
