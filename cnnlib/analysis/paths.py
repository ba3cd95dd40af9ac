"""The unravelled view of a residual network (Veit, Wilber, Belongie 2016, https://arxiv.org/abs/1605.06431).

Each residual block computes ``x + f(x)``: a signal either goes through ``f`` or around it. A network
of ``n`` blocks is then a collection of ``2**n`` paths, one for each subset of blocks it passes
through, and the number of paths that go through ``k`` blocks (the path's *length*) is the binomial
coefficient ``C(n, k)``: most paths have a length near ``n / 2``. Veit et al. (Sec. 4, Fig. 6) find
that the gradient during training comes mostly from short paths, 5 to 17 blocks long in a
54-block ResNet, because each block a path goes through scales its gradient down.
"""

from __future__ import annotations

import math

__all__ = ["path_count", "path_length_counts", "path_length_distribution"]


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
