"""Checkers for chapter 06 (Why ResNet works).

Each checker takes the student's answer, raises ``AssertionError`` with a hint when it is wrong,
and prints what was verified when it is right. The reference answers come from
:mod:`cnnlib.analysis.paths` and :mod:`cnnlib.chapters.ch06_why_resnet.capacity`.
"""

from __future__ import annotations

from typing import Callable

from ...analysis.paths import path_count, path_length_counts
from .. import passed as _passed

__all__ = ["check_paths_of_length"]


def check_paths_of_length(paths_of_length: Callable[[int, int], int]) -> bool:
    """``paths_of_length(n, k)``: how many of the ``2**n`` paths of an ``n``-block residual network go
    through exactly ``k`` residual functions. Checked for every ``k`` of ``n`` = 1, 3, 27 and 54."""
    for n in (1, 3, 27, 54):
        want = path_length_counts(n)
        got = [paths_of_length(n, k) for k in range(n + 1)]
        for k, (g, w) in enumerate(zip(got, want)):
            assert g == w, (
                f"paths_of_length({n}, {k}) = {g}, expected {w:,}: a path picks, for each block, the residual "
                "function or the shortcut; how many ways are there to pick k blocks out of n?"
            )
        assert sum(got) == path_count(n), f"the counts for n = {n} must add up to 2**{n}"
    return _passed("path counts for 1, 3, 27 and 54 blocks; resnet56's 27 blocks give 2^27 = 134,217,728 paths")
