"""ShuffleNet v2's four guidelines as micro-benchmarks (Ma et al. 2018, Sec. 2, Tables 1-4).

Each guideline compares networks of (nearly) the same mult-adds that differ in one respect; the paper
times them on a GPU (GTX 1080Ti, in batches per second; its Fig. 1 uses batches of 8, the tables do not
say) and an ARM phone processor (Snapdragon 810, one thread, one image). The GPU nets are wider than
the ARM ones (:data:`PAPER_GPU_WIDTH`: 4x the channels in Table 1, 2x in Tables 2 and 3, the same in
Table 4). Here every benchmark net takes one 56 x 56 image on this CPU, with the paper's ARM channel
counts at scale x1 (x2 and x4 multiply the channels):

- G1, equal channel width: 10 blocks of two 1x1 convolutions, c1 -> c2 -> c1, c1 * c2 fixed (Table 1);
- G2, group count: 10 grouped 1x1 convolutions c -> c with g groups, c^2 / g fixed (Table 2);
- G3, fragmentation: 10 blocks of one 1x1 convolution, or of 2 or 4 in series (each with c / sqrt(k)
  channels, so the mult-adds stay those of one), or in parallel (k branches, each c -> c / k, concatenated:
  the same mult-adds cut into k kernels). The paper draws its blocks in an appendix; these are ours (Table 3);
- G4, element-wise operations: 10 ResNet bottleneck units (1x1 c -> c/4, 3x3, 1x1 -> c) with or without
  the ReLUs and the shortcut addition (Table 4). No batch norm (it folds into the convolutions at inference).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn as nn
from torch import Tensor

from ...analysis.summary import count_mult_adds, measure_latency

__all__ = ["DIRECTION", "GUIDELINES", "PAPER", "PAPER_GPU_WIDTH", "Variant", "benchmark", "build", "direction_holds"]

BLOCKS = 10
SIZE = 56


def _conv(c_in: int, c_out: int, k: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, k, padding=k // 2, groups=groups, bias=False)


class Parallel(nn.Module):
    """k 1x1 convolutions side by side on the same input, outputs concatenated."""

    def __init__(self, channels: int, k: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(_conv(channels, channels // k) for _ in range(k))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([b(x) for b in self.branches], 1)


class Bottleneck(nn.Module):
    """ResNet's bottleneck without BN: 1x1 c -> c/4, 3x3, 1x1 -> c; ReLUs and the shortcut optional."""

    def __init__(self, channels: int, relu: bool, shortcut: bool) -> None:
        super().__init__()
        mid = channels // 4
        self.convs = nn.ModuleList([_conv(channels, mid), _conv(mid, mid, 3), _conv(mid, channels)])
        self.relu, self.shortcut = relu, shortcut

    def forward(self, x: Tensor) -> Tensor:
        out = x
        for i, conv in enumerate(self.convs):
            out = conv(out)
            if self.relu and i < 2:
                out = torch.relu(out)
        if self.shortcut:
            out = out + x
        return torch.relu(out) if self.relu else out


@dataclass(frozen=True)
class Variant:
    label: str
    in_channels: Callable[[int], int]  # scale -> input channels
    make: Callable[[int], nn.Module]  # scale -> network


def _series(c: int, k: int) -> int:
    return int(round(c / math.sqrt(k)))


GUIDELINES: dict[str, list[Variant]] = {
    "G1": [
        Variant(
            f"c1:c2 = {label}",
            lambda s, c1=c1: c1 * s,
            lambda s, c1=c1, c2=c2: nn.Sequential(
                *[nn.Sequential(_conv(c1 * s, c2 * s), _conv(c2 * s, c1 * s)) for _ in range(BLOCKS)]
            ),
        )
        for label, (c1, c2) in {"1:1": (32, 32), "1:2": (22, 44), "1:6": (13, 78), "1:12": (9, 108)}.items()
    ],
    "G2": [
        Variant(
            f"g = {g}",
            lambda s, c=c: c * s,
            lambda s, c=c, g=g: nn.Sequential(*[_conv(c * s, c * s, groups=g) for _ in range(BLOCKS)]),
        )
        # the paper: c = 64, 90, 128, 180; 180 channels cannot form 8 groups, so 184 (3 % more mult-adds)
        for g, c in {1: 64, 2: 90, 4: 128, 8: 184}.items()
    ],
    "G3": [
        Variant(
            "1-fragment", lambda s: 64 * s, lambda s: nn.Sequential(*[_conv(64 * s, 64 * s) for _ in range(BLOCKS)])
        ),
        *[
            Variant(
                f"{k}-fragment-series",
                lambda s, k=k: _series(64 * s, k),
                lambda s, k=k: nn.Sequential(
                    *[_conv(_series(64 * s, k), _series(64 * s, k)) for _ in range(BLOCKS * k)]
                ),
            )
            for k in (2, 4)
        ],
        *[
            Variant(
                f"{k}-fragment-parallel",
                lambda s: 64 * s,
                lambda s, k=k: nn.Sequential(*[Parallel(64 * s, k) for _ in range(BLOCKS)]),
            )
            for k in (2, 4)
        ],
    ],
    "G4": [
        Variant(
            f"ReLU {'yes' if relu else 'no'}, shortcut {'yes' if shortcut else 'no'}",
            lambda s: 32 * s,
            lambda s, relu=relu, shortcut=shortcut: nn.Sequential(
                *[Bottleneck(32 * s, relu, shortcut) for _ in range(BLOCKS)]
            ),
        )
        for relu, shortcut in ((True, True), (True, False), (False, True), (False, False))
    ],
}

# Ma et al., Tables 1-4: variant label -> (GPU batches/s at x1, x2, x4; ARM images/s at x1, x2, x4)
PAPER: dict[str, dict[str, tuple[tuple[float, ...], tuple[float, ...]]]] = {
    "G1": {
        "c1:c2 = 1:1": ((1480, 723, 232), (76.2, 21.7, 5.3)),
        "c1:c2 = 1:2": ((1296, 586, 206), (72.9, 20.5, 5.1)),
        "c1:c2 = 1:6": ((876, 489, 189), (69.1, 17.9, 4.6)),
        "c1:c2 = 1:12": ((748, 392, 163), (57.6, 15.1, 4.4)),
    },
    "G2": {
        "g = 1": ((2451, 1289, 437), (40.0, 10.2, 2.3)),
        "g = 2": ((1725, 873, 341), (35.0, 9.5, 2.2)),
        "g = 4": ((1026, 644, 338), (32.9, 8.7, 2.1)),
        "g = 8": ((634, 445, 230), (27.8, 7.5, 1.8)),
    },
    "G3": {
        "1-fragment": ((2446, 1274, 434), (40.2, 10.1, 2.3)),
        "2-fragment-series": ((1790, 909, 336), (38.6, 10.1, 2.2)),
        "4-fragment-series": ((752, 745, 349), (38.4, 10.1, 2.3)),
        "2-fragment-parallel": ((1537, 803, 320), (33.4, 9.1, 2.2)),
        "4-fragment-parallel": ((691, 572, 292), (35.0, 8.4, 2.1)),
    },
    "G4": {
        "ReLU yes, shortcut yes": ((2427, 2066, 1436), (56.7, 16.9, 5.0)),
        "ReLU yes, shortcut no": ((2647, 2256, 1735), (61.9, 18.8, 5.2)),
        "ReLU no, shortcut yes": ((2672, 2121, 1458), (57.3, 18.2, 5.1)),
        "ReLU no, shortcut no": ((2842, 2376, 1782), (66.3, 20.2, 5.4)),
    },
}
SCALES = (1, 2, 4)
# The paper's GPU channel counts over its ARM ones at the same scale (Tables 1-4: c1 = 128 vs 32, c = 128 vs 64,
# c = 128 vs 64, c = 32 vs 32)
PAPER_GPU_WIDTH: dict[str, int] = {"G1": 4, "G2": 2, "G3": 2, "G4": 1}
# What each guideline predicts for every variant after the first: slower (-1) or faster (+1)
DIRECTION: dict[str, int] = {"G1": -1, "G2": -1, "G3": -1, "G4": +1}


def direction_holds(guideline: str, relative: float, tolerance: float = 0.05) -> str:
    """Whether a variant's speed relative to the guideline's first variant moves the way the guideline predicts
    (:data:`DIRECTION`): "holds", "does not hold", or "no clear effect" when it is within ``tolerance`` of 1."""
    change = relative - 1
    if abs(change) <= tolerance:
        return "no clear effect"
    return "holds" if change * DIRECTION[guideline] > 0 else "does not hold"


def build(guideline: str, label: str, scale: int = 1) -> tuple[nn.Module, tuple[int, int, int]]:
    """The benchmark net of one variant and its input shape (C x 56 x 56)."""
    variant = next((v for v in GUIDELINES[guideline] if v.label == label), None)
    if variant is None:
        raise KeyError(f"{guideline} has no variant {label!r}; variants: {[v.label for v in GUIDELINES[guideline]]}")
    torch.manual_seed(0)
    return variant.make(scale).eval(), (variant.in_channels(scale), SIZE, SIZE)


def benchmark(
    guidelines: tuple[str, ...] = tuple(GUIDELINES),
    scales: tuple[int, ...] = SCALES,
    batch_size: int = 1,
    repeats: int = 20,
) -> list[dict[str, Any]]:
    """Time every variant: rows with ``guideline``, ``variant``, ``scale``, ``mult_adds``, ``ms`` (median of
    ``repeats`` passes of a batch), ``images_per_s``, ``relative`` (speed / the guideline's first variant at
    that scale) and the paper's ``gpu`` (batches/s) and ``arm`` (images/s) at that scale."""
    rows = []
    for g in guidelines:
        for scale in scales:
            first = None
            for variant in GUIDELINES[g]:
                model, shape = build(g, variant.label, scale)
                ms = measure_latency(model, shape, batch_size, warmup=3, repeats=repeats)
                speed = 1000 * batch_size / ms
                first = first or speed
                gpu, arm = PAPER[g][variant.label]
                i = SCALES.index(scale) if scale in SCALES else None
                rows.append(
                    {
                        "guideline": g,
                        "variant": variant.label,
                        "scale": scale,
                        "mult_adds": count_mult_adds(model, shape),
                        "ms": ms,
                        "images_per_s": speed,
                        "relative": speed / first,
                        "gpu": None if i is None else gpu[i],
                        "arm": None if i is None else arm[i],
                    }
                )
    return rows
