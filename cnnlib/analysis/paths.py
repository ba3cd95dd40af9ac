"""The unravelled view of a residual network (Veit, Wilber, Belongie 2016, https://arxiv.org/abs/1605.06431).

Each residual block computes ``x + f(x)``: a signal either goes through ``f`` or around it. A network
of ``n`` blocks is then a collection of ``2**n`` paths, one for each subset of blocks it passes
through, and the number of paths that go through ``k`` blocks (the path's *length*) is the binomial
coefficient ``C(n, k)``: most paths have a length near ``n / 2``. Veit et al. (Sec. 5, Fig. 6) find
that the gradient during training comes mostly from short paths, 5 to 17 blocks long in a
54-block ResNet, because each block a path goes through scales its gradient down.
:func:`gradient_by_path_length` measures that on a trained network, with the paper's method.
"""

from __future__ import annotations

import contextlib
import math
import random
from typing import Iterator, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..models.resnet import BasicBlock
from .activations import eval_mode, forward_hooks, named_modules

__all__ = [
    "gradient_by_path_length",
    "gradient_share_lengths",
    "path_count",
    "path_length_counts",
    "path_length_distribution",
    "path_length_stats",
    "routed",
]


def _check_blocks(n_blocks: int) -> None:
    if not isinstance(n_blocks, int) or n_blocks < 0:
        raise ValueError(f"the number of residual blocks must be a whole number >= 0, not {n_blocks!r}")


def path_count(n_blocks: int) -> int:
    """``2**n_blocks``: every block is either passed through or skipped."""
    _check_blocks(n_blocks)
    return 2**n_blocks


def path_length_counts(n_blocks: int) -> list[int]:
    """``[C(n, 0), C(n, 1), ..., C(n, n)]``: how many paths go through exactly k residual functions."""
    _check_blocks(n_blocks)
    return [math.comb(n_blocks, k) for k in range(n_blocks + 1)]


def path_length_distribution(n_blocks: int) -> list[float]:
    """The share of all paths that have each length 0..n (a Binomial(n, 1/2) distribution)."""
    total = path_count(n_blocks)
    return [c / total for c in path_length_counts(n_blocks)]


def path_length_stats(n_blocks: int) -> tuple[float, float]:
    """Mean and standard deviation of the path length, in blocks: ``n / 2`` and ``sqrt(n) / 2``.

    Computed from :func:`path_length_distribution` (not from the closed form), so that the two agree
    is something a test can check.
    """
    share = path_length_distribution(n_blocks)
    mean = sum(k * s for k, s in enumerate(share))
    return mean, math.sqrt(sum((k - mean) ** 2 * s for k, s in enumerate(share)))


def gradient_share_lengths(
    lengths: Sequence[int], counts: Sequence[int], norms: Sequence[float], share: float = 0.9
) -> list[int]:
    """The fewest path lengths that together carry ``share`` of the total gradient, sorted.

    The total gradient of length ``k`` is the number of such paths times the mean gradient norm of
    one of them (Veit et al., Fig. 6 (c)); lengths are taken largest total first until their sum
    reaches ``share`` of the whole.
    """
    if not len(lengths) == len(counts) == len(norms) or not lengths:
        raise ValueError(f"lengths, counts and norms must be non-empty and equally long; got "
                         f"{len(lengths)}, {len(counts)}, {len(norms)}")  # fmt: skip
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    total = [c * g for c, g in zip(counts, norms)]
    whole = sum(total)
    if whole <= 0:
        raise ValueError("the gradient norms are all zero: there is no share to split")
    kept, covered = [], 0.0
    for i in sorted(range(len(total)), key=total.__getitem__, reverse=True):
        kept.append(lengths[i])
        covered += total[i] / whole
        if covered >= share - 1e-12:
            break
    return sorted(kept)


def _shortcut(block: nn.Module, x: Tensor) -> Tensor:
    downsample = getattr(block, "downsample", None)
    return x if downsample is None else downsample(x)


@contextlib.contextmanager
def routed(model: nn.Module, blocks: Sequence[str], through: set[str]) -> Iterator[dict[str, Tensor]]:
    """Route the backward pass of each residual block in ``blocks``: through its residual function only
    (names in ``through``) or through its shortcut only (the others); the forward values are unchanged.

    The blocks must be cnnlib's post-activation ``BasicBlock`` (``relu(f(x) + shortcut(x))``, ``f``
    ending in ``bn2``, the shortcut in ``downsample``; ``None``: the identity). Yields a dict whose
    ``"input"`` is the first block's input after the forward pass (a leaf tensor), to take the gradient
    with respect to. Hooks are removed on exit.
    """
    modules = named_modules(model, blocks)
    branch: dict[str, Tensor] = {}
    seen: dict[str, Tensor] = {}

    def keep_branch(name: str):
        def hook(module: nn.Module, inputs, output: Tensor) -> None:
            branch[name] = output

        return hook

    def reroute(name: str):
        def hook(module: nn.Module, inputs, output: Tensor) -> Tensor:
            x = inputs[0]
            f, s = branch.pop(name), _shortcut(module, x)
            return F.relu(f + s.detach()) if name in through else F.relu(f.detach() + s)

        return hook

    for name, block in modules.items():
        if not isinstance(block, BasicBlock) or not block.residual or block.se is not None or block.drop is not None:
            raise ValueError(
                f"block {name!r} ({type(block).__name__}) is not a post-activation residual BasicBlock "
                "(relu(bn2(...) + shortcut(x)), no SE, no stochastic depth): its routes are not defined here"
            )

    def leaf_input(module: nn.Module, inputs) -> tuple[Tensor, ...]:
        seen["input"] = inputs[0].detach().requires_grad_(True)  # a leaf, whatever requires_grad the stem has
        return (seen["input"], *inputs[1:])

    hooks = [(modules[n].bn2, keep_branch(n)) for n in blocks] + [(modules[n], reroute(n)) for n in blocks]
    with forward_hooks([(modules[blocks[0]], leaf_input)], pre=True), forward_hooks(hooks):
        yield seen


def gradient_by_path_length(
    model: nn.Module,
    blocks: Sequence[str],
    x: Tensor,
    y: Tensor,
    lengths: Sequence[int],
    samples: int = 10,
    seed: int = 0,
) -> dict[int, float]:
    """Veit et al.'s Sec. 5 (Fig. 6): the gradient that paths of each length send to the first block's input.

    For each length ``k``: ``samples`` times, pick ``k`` of the ``blocks`` at random, let the backward
    pass go through those blocks' residual functions and through the other blocks' shortcuts only
    (:func:`routed`), and take the norm of the gradient of the cross-entropy on ``(x, y)`` with
    respect to the first block's input (the model in eval mode; ``x`` normalised). Returns the mean
    norm per length. Multiplied by :func:`path_length_counts`, it gives the total gradient that each
    length carries (the paper's Fig. 6 (c)).
    """
    blocks = list(blocks)
    if any(not 0 <= k <= len(blocks) for k in lengths):
        raise ValueError(f"path lengths must be between 0 and the number of blocks ({len(blocks)}); got {lengths}")
    rng = random.Random(seed)
    out = {}
    with eval_mode(model), torch.enable_grad():
        for k in lengths:
            norms = []
            for _ in range(samples):
                with routed(model, blocks, set(rng.sample(blocks, k))) as seen:
                    loss = F.cross_entropy(model(x), y)
                    (grad,) = torch.autograd.grad(loss, seen["input"])
                norms.append(grad.norm().item())
            out[k] = sum(norms) / len(norms)
    return out
