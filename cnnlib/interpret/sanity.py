"""Sanity checks for saliency maps (Adebayo et al. 2018, https://arxiv.org/abs/1810.03292).

An explanation of a model should depend on the model. Adebayo et al. re-initialise a trained
network's weights layer by layer, from the output back to the input ("cascading randomisation",
Sec. 3.1, Fig. 2), recompute the maps, and compare them with the trained model's maps by Spearman
rank correlation. A map that stays nearly the same while the network is destroyed explains the
image (its edges), not the network: they find this for guided backpropagation, while the gradient
and Grad-CAM change at once.

Here the convolutional and linear layers inside each named module get fresh random weights
(their ``reset_parameters``, PyTorch's default initialisation); batch norms keep their trained
statistics, as in the paper, which randomises weights. Everything happens on a copy.
"""

from __future__ import annotations

import copy
from typing import Callable, Mapping, Sequence

import torch
import torch.nn as nn
from torch import Tensor

from ..analysis.metrics import spearman
from .base import Method, resolve_layer

__all__ = ["cascade", "cascading_randomization", "randomize"]


def randomize(model: nn.Module, name: str, seed: int = 0) -> int:
    """Re-initialise every Conv2d and Linear inside ``model``'s module ``name`` in place; returns how many."""
    _, module = resolve_layer(model, name)
    count = 0
    with torch.random.fork_rng(devices=[]):  # the caller's global random state is left as it was
        torch.manual_seed(seed)
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.reset_parameters()
                count += 1
    if count == 0:
        raise ValueError(f"module {name!r} has no convolution or linear layer to randomise")
    return count


def cascade(
    model: nn.Module,
    methods: Mapping[str, Callable[[nn.Module], Method]],
    x: Tensor,
    target,
    layers: Sequence[str],
    seed: int = 0,
    keep: Callable[[int, str, Tensor], None] | None = None,
) -> dict[str, list[dict[str, float | str]]]:
    """Rank correlation of each method's maps before and after randomising ``layers`` cumulatively.

    ``methods``: name -> a builder of the method for a model, e.g. ``lambda m: GradCAM(m, layer="layer3")``;
    all of them run on the same randomised copy at each stage. ``layers``: module names in the order
    to randomise them (the paper: from the logits down); layer ``i`` gets ``seed + i``. ``target``:
    fixed for all stages (pass the trained model's predictions), so that every map explains the same
    class. ``keep(stage, name, maps)``, if given, sees every stage's maps (stage 0: the trained model).

    Returns, per method, one row per stage, starting with ``"none"`` (correlation 1): ``layer``,
    ``spearman`` (mean over images of the maps' rank correlation) and ``spearman_abs`` (of their
    absolute values, which the paper also reports, since signs may flip).
    """
    reference = {name: build(model).attribute(x, target) for name, build in methods.items()}
    rows = {name: [{"layer": "none", "spearman": 1.0, "spearman_abs": 1.0}] for name in methods}
    if keep is not None:
        for name, maps in reference.items():
            keep(0, name, maps)
    probe = copy.deepcopy(model)
    for i, layer in enumerate(layers):
        randomize(probe, layer, seed=seed + i)
        for name, build in methods.items():
            maps = build(probe).attribute(x, target)
            rho = [spearman(a, b) for a, b in zip(reference[name], maps)]
            rho_abs = [spearman(a.abs(), b.abs()) for a, b in zip(reference[name], maps)]
            rows[name].append(
                {"layer": layer, "spearman": sum(rho) / len(rho), "spearman_abs": sum(rho_abs) / len(rho_abs)}
            )
            if keep is not None:
                keep(i + 1, name, maps)
    return rows


def cascading_randomization(
    model: nn.Module,
    method: Callable[[nn.Module], Method],
    x: Tensor,
    target,
    layers: Sequence[str],
    seed: int = 0,
) -> list[dict[str, float | str]]:
    """:func:`cascade` for one method: its rows."""
    return cascade(model, {"method": method}, x, target, layers, seed)["method"]
