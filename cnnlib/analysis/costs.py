"""What a network costs and where, counted on real modules.

- :func:`cost_split`: where a network keeps its parameters and spends its multiply-adds
  (convolutions, dense layers, the rest);
- :func:`module_costs`: parameters and multiply-adds of the naive Inception module (Figure 2(a))
  and of the module with 1x1 reductions (Figure 2(b)), per branch;
- :func:`factorization_costs`: the convolution factorisations of Inception-v2/v3 (Szegedy et al.
  2015, https://arxiv.org/abs/1512.00567, Sec. 3), counted on real convolution stacks;

Every count comes from PyTorch modules (parameters from ``nn.Module.parameters``, multiply-adds
from :func:`cnnlib.analysis.summary.layer_table` / ``count_mult_adds``), never from a second
hand-written formula; the tests compare them with the formulas of the slides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch
import torch.nn as nn

from ..models.googlenet import InceptionModule, NaiveInceptionModule
from .summary import LayerTable, count_mult_adds, layer_table

__all__ = [
    "BRANCHES",
    "CONV_KINDS",
    "DENSE_KINDS",
    "BranchCost",
    "Factorization",
    "ModuleCosts",
    "cost_split",
    "factorization_costs",
    "module_costs",
]


CONV_KINDS = ("Conv1d", "Conv2d", "Conv3d")
DENSE_KINDS = ("Linear",)


def cost_split(table: LayerTable) -> dict[str, dict[str, float]]:
    """Parameters and multiply-adds of a per-layer table, split into convolutions, dense layers and the rest.

    Returns ``{"params": {"conv": n, "dense": n, "other": n}, "mult_adds": {...}, "params_share": {...},
    "mult_adds_share": {...}}`` (shares are fractions of the model's totals). "other" is everything
    with weights or operations that is neither (batch norm, pooling, additions counted per layer).
    """
    groups = {"params": {"conv": 0, "dense": 0, "other": 0}, "mult_adds": {"conv": 0, "dense": 0, "other": 0}}
    for row in table.rows:
        kind = "conv" if row.kind in CONV_KINDS else "dense" if row.kind in DENSE_KINDS else "other"
        groups["params"][kind] += row.params
        groups["mult_adds"][kind] += row.mult_adds
    # whatever the leaf rows miss (parameters or operations of container modules) is "other"
    groups["params"]["other"] += table.total_params - sum(groups["params"].values())
    groups["mult_adds"]["other"] += table.total_mult_adds - sum(groups["mult_adds"].values())
    for key, total in (("params", table.total_params), ("mult_adds", table.total_mult_adds)):
        groups[f"{key}_share"] = {k: v / total for k, v in groups[key].items()}
    return groups


# --------------------------------------------------------------------------- Inception modules


@dataclass(frozen=True)
class BranchCost:
    """One branch of an Inception module: output channels, parameters (weights + biases), multiply-adds."""

    channels: int
    params: int
    mult_adds: int


@dataclass(frozen=True)
class ModuleCosts:
    """The naive module (Figure 2(a)) and the module with 1x1 reductions (Figure 2(b)), per branch."""

    in_channels: int
    size: int
    naive: dict[str, BranchCost]  # "1x1", "3x3", "5x5", "pool"
    reduced: dict[str, BranchCost]

    @staticmethod
    def _total(costs: Mapping[str, BranchCost]) -> BranchCost:
        return BranchCost(*(sum(getattr(b, f) for b in costs.values()) for f in ("channels", "params", "mult_adds")))

    @property
    def naive_total(self) -> BranchCost:
        return self._total(self.naive)

    @property
    def reduced_total(self) -> BranchCost:
        return self._total(self.reduced)


BRANCHES = ("1x1", "3x3", "5x5", "pool")


def _check_widths(**widths: int) -> None:
    bad = {k: v for k, v in widths.items() if not isinstance(v, int) or v < 1}
    if bad:
        raise ValueError(f"channel counts and sizes must be positive integers; got {bad}")


def module_costs(
    *,
    in_channels: int,
    ch1x1: int,
    ch3x3_reduce: int,
    ch3x3: int,
    ch5x5_reduce: int,
    ch5x5: int,
    pool_proj: int,
    size: int,
) -> ModuleCosts:
    """Per-branch costs of the naive and the reduced Inception module on ``in_channels`` maps of ``size`` x ``size``.

    Both are built as real modules (convs with biases, no batch norm, as in the 2014 paper) on the
    meta device and counted by :func:`cnnlib.analysis.summary.layer_table`. The naive module has no
    reductions and no pool projection: its pool branch passes all ``in_channels`` maps through.
    """
    _check_widths(
        in_channels=in_channels,
        ch1x1=ch1x1,
        ch3x3_reduce=ch3x3_reduce,
        ch3x3=ch3x3,
        ch5x5_reduce=ch5x5_reduce,
        ch5x5=ch5x5,
        pool_proj=pool_proj,
        size=size,
    )
    with torch.device("meta"):
        naive = NaiveInceptionModule(in_channels=in_channels, ch1x1=ch1x1, ch3x3=ch3x3, ch5x5=ch5x5)
        reduced = InceptionModule(
            in_channels=in_channels,
            ch1x1=ch1x1,
            ch3x3_reduce=ch3x3_reduce,
            ch3x3=ch3x3,
            ch5x5_reduce=ch5x5_reduce,
            ch5x5=ch5x5,
            pool_proj=pool_proj,
            norm_layer=None,
        )
    out = []
    for module in (naive, reduced):
        table = layer_table(module, (in_channels, size, size), leaves_only=False, depth=1)
        out.append(
            {
                label: BranchCost(
                    table[f"branch{i}"].output_shape[0], table[f"branch{i}"].params, table[f"branch{i}"].mult_adds
                )
                for i, label in enumerate(BRANCHES, start=1)
            }
        )
    return ModuleCosts(in_channels, size, *out)


# --------------------------------------------------------------------------- factorised convolutions (Inception-v2/v3)


@dataclass(frozen=True)
class Factorization:
    """One convolution and the stack of smaller ones that replaces it, counted at ``channels`` -> ``channels``."""

    name: str
    source: str  # where the paper describes it
    original: nn.Module
    factorized: nn.Module
    params_before: int
    params_after: int
    mult_adds_before: int
    mult_adds_after: int

    @property
    def saving(self) -> float:
        """Fraction of the parameters (and, at stride 1 with the same output size, of the multiply-adds) saved."""
        return 1 - self.params_after / self.params_before


def _conv(c: int, kernel: int | tuple[int, int]) -> nn.Conv2d:
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    return nn.Conv2d(c, c, (kh, kw), padding=((kh - 1) // 2, (kw - 1) // 2), bias=False)


def _even_conv(c: int) -> nn.Sequential:
    """A 2x2 conv that keeps the size (one row and column of zero padding on one side)."""
    return nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(c, c, 2, bias=False))


def factorization_costs(channels: int = 192, size: int = 17) -> list[Factorization]:
    """The factorisations of Szegedy et al. 2015 (Sec. 3), counted on real, bias-free convolutions.

    Every stack maps ``channels`` to ``channels`` maps of ``size`` x ``size`` (the paper's
    assumption of equal widths; the intermediate layer has ``channels`` maps too).
    """
    _check_widths(channels=channels, size=size)
    c = channels
    cases = [
        (
            "5x5 -> 3x3 then 3x3",
            "Inception-v2/v3, Fig. 5 (Inception-BN: Ioffe & Szegedy 2015)",
            _conv(c, 5),
            nn.Sequential(_conv(c, 3), _conv(c, 3)),
        ),
        (
            "3x3 -> 1x3 then 3x1",
            "Inception-v3, Fig. 3 and 7",
            _conv(c, 3),
            nn.Sequential(_conv(c, (1, 3)), _conv(c, (3, 1))),
        ),
        (
            "7x7 -> 1x7 then 7x1",
            "Inception-v3, Fig. 6 (17x17 grid)",
            _conv(c, 7),
            nn.Sequential(_conv(c, (1, 7)), _conv(c, (7, 1))),
        ),
        (
            "3x3 -> 2x2 then 2x2",
            "Inception-v3, Sec. 3.2 (the rejected alternative)",
            _conv(c, 3),
            nn.Sequential(_even_conv(c), _even_conv(c)),
        ),
    ]
    out = []
    shape = (c, size, size)
    for name, source, original, factorized in cases:
        p0, p1 = sum(p.numel() for p in original.parameters()), sum(p.numel() for p in factorized.parameters())
        out.append(
            Factorization(
                name,
                source,
                original,
                factorized,
                p0,
                p1,
                count_mult_adds(original, shape),
                count_mult_adds(factorized, shape),
            )
        )
    return out
