"""Lesion studies: silence or skip named modules of a trained network and measure what is left.

Chapter 04 silences one branch of one Inception module at a time (does the network need its 5x5
branch?); chapter 06 deletes one residual block at a time (Veit et al. 2016: a ResNet survives
the loss of most single blocks, a plain network of none). Both are :func:`ablate`:

- ``mode="zero"``: the module's output is replaced by zeros (a branch switched off);
- ``mode="mean"``: by each channel's mean over the batch and positions (the module passes no
  information, but the next layer sees its usual level);
- ``mode="skip"``: by the module's input (the module deleted, its input passed on as it is, as a
  residual block reduces to its shortcut); input and output must have the same shape.

For lesions of several modules at once, :func:`without` returns a copy of the network with the
named modules deleted, and :func:`reordered` a copy whose blocks run in another order (Veit et
al. 2016, Sec. 5: deleting k blocks, and reordering them).
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch
import torch.nn as nn
from torch import Tensor

from ..data import ImageTensors, normalize
from .activations import eval_mode, forward_hooks

__all__ = ["MODES", "Ablation", "ablate", "find_branches", "lesion_hook", "reordered", "swapped_order", "without"]

MODES = ("zero", "mean", "skip")


def find_branches(model: nn.Module) -> dict[str, list[str]]:
    """``{block name: [branch names]}`` for every module whose direct children are called ``branch...``."""
    out = {}
    for name, module in model.named_modules():
        branches = [child for child, _ in module.named_children() if child.startswith("branch")]
        if len(branches) >= 2:
            out[name] = branches
    return out


@dataclass(frozen=True)
class Ablation:
    """Test accuracy with every module intact (``baseline``) and with one module silenced at a time.

    Rows are named as the modules are grouped: (block, branch) for Inception branches, (stage, block) for
    residual blocks.
    """

    baseline: float
    images: int
    mode: str
    rows: tuple[tuple[str, str, int, float], ...]  # (block, branch, output channels of the module, accuracy)

    def drop(self, block: str, branch: str) -> float:
        """Accuracy lost (in points, 0-100) when ``branch`` of ``block`` is silenced."""
        for b, br, _, acc in self.rows:
            if (b, br) == (block, branch):
                return 100 * (self.baseline - acc)
        raise KeyError(f"no branch {branch!r} in block {block!r}")

    def to_text(self) -> str:
        lines = [f"baseline accuracy {100 * self.baseline:.2f} % on {self.images} images; " + _MODE_TEXT[self.mode]]
        lines += [
            f"{b:12s} {br:8s} {c:4d} channels  accuracy {100 * a:6.2f} %  drop {100 * (self.baseline - a):6.2f} points"
            for b, br, c, a in self.rows
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.to_text()


_MODE_TEXT = {
    "zero": "branch outputs replaced by their zero",
    "mean": "branch outputs replaced by their mean",
    "skip": "modules skipped (output = input)",
}


def lesion_hook(mode: str) -> Callable:
    """A forward hook that replaces a module's output as ``mode`` says (see the module docstring)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")

    def hook(module: nn.Module, inputs, output: Tensor) -> Tensor:
        if mode == "zero":
            return torch.zeros_like(output)
        if mode == "mean":
            return (
                output.mean(dim=(0, 2, 3), keepdim=True).expand_as(output).clone()
            )  # each channel's mean over the batch
        if inputs[0].shape != output.shape:
            raise ValueError(
                f"cannot skip {type(module).__name__}: its input {tuple(inputs[0].shape)} and output "
                f"{tuple(output.shape)} differ in shape (a downsampling block); skip only shape-preserving modules"
            )
        return inputs[0]

    return hook


def _staging(model: nn.Module, blocks: Mapping[str, Sequence[str]]) -> tuple[nn.Sequential, list[int]] | None:
    """If every block is a child of one ``nn.Sequential`` whose output goes to ``model.forward_head``: it and the
    blocks' indices."""
    parents = {name.rpartition(".")[0] for name in blocks}
    if len(parents) != 1 or not hasattr(model, "forward_head"):
        return None
    parent = model.get_submodule(parents.pop()) if "" not in parents else model
    if not isinstance(parent, nn.Sequential):
        return None
    indices = []
    for name in blocks:
        idx = name.rpartition(".")[2]
        if not idx.isdigit():
            return None
        indices.append(int(idx))
    return parent, indices


@torch.no_grad()
def ablate(
    model: nn.Module,
    data: ImageTensors,
    blocks: Mapping[str, Sequence[str]] | None = None,
    mode: str = "zero",
    batch_size: int = 250,
) -> Ablation:
    """Silence (or skip) one module at a time and measure the accuracy on ``data``.

    ``blocks``: ``{parent name: [child names]}``, the modules ``parent.child`` to lesion one at a
    time; by default every module with ``branch*`` children (:func:`find_branches`: the branches
    of multi-branch blocks). For residual blocks: ``{"layer1": ["0", "1", "2"], ...}`` with
    ``mode="skip"``. The model is evaluated in eval mode, float32, and left as it was: every hook
    is removed.

    Speed: when the parents are the children of one ``nn.Sequential`` that feeds ``forward_head``
    (as in ``SmallInception.features``), the input of every block is computed once per batch and
    each ablated forward pass starts at the ablated block. The shortcut is checked against the
    model's own output on every batch (a mismatch raises).
    """
    lesion_hook(mode)  # checks the mode
    blocks = find_branches(model) if blocks is None else blocks
    if not blocks:
        raise ValueError(
            f"{type(model).__name__} has no block with two or more children named 'branch...'; pass blocks=..."
        )
    modules = dict(model.named_modules())
    for block, branches in blocks.items():
        for branch in branches:
            if f"{block}.{branch}" not in modules:
                raise KeyError(f"{type(model).__name__} has no module {block}.{branch}")
    keys = [(b, br) for b, brs in blocks.items() for br in brs]
    staging = _staging(model, blocks)
    device = next(model.parameters()).device
    correct = {key: 0 for key in keys}
    correct_base = 0
    channels: dict[tuple[str, str], int] = {}
    with eval_mode(model):
        for start in range(0, len(data), batch_size):
            images = data.images[start : start + batch_size].to(device)
            labels = data.labels[start : start + batch_size].to(device)
            x = normalize(images, data.spec.mean, data.spec.std)
            inputs: list[Tensor] = []
            keep_input = {staging[0]: lambda m, args: inputs.append(args[0])} if staging is not None else {}
            with forward_hooks(keep_input, pre=True):
                logits = model(x)
            correct_base += (logits.argmax(1) == labels).sum().item()
            if staging is not None:  # the input of every child of the Sequential, once
                parent, _ = staging
                h = inputs[0]
                stage_inputs = []
                for child in parent:
                    stage_inputs.append(h)
                    h = child(h)
                # the same children on the same tensors: equal up to rounding at most; rtol/atol 1e-4 only tell a model
                # whose blocks feed forward_head directly from one that computes something else (differences O(1))
                if not torch.allclose(model.forward_head(h), logits, atol=1e-4, rtol=1e-4):
                    raise RuntimeError(
                        f"{type(model).__name__}: forward_head(features) differs from the model's output; pass a model "
                        "whose blocks feed forward_head directly"
                    )
            for block, branch in keys:
                target = modules[f"{block}.{branch}"]
                record = lambda m, i, o, k=(block, branch): channels.setdefault(k, o.shape[1]) and None  # noqa: E731
                with forward_hooks([(target, lesion_hook(mode)), (target, record)]):
                    if staging is not None:
                        parent, indices = staging
                        k = indices[list(blocks).index(block)]
                        h = stage_inputs[k]
                        for child in list(parent)[k:]:
                            h = child(h)
                        out = model.forward_head(h)
                    else:
                        out = model(x)
                correct[(block, branch)] += (out.argmax(1) == labels).sum().item()
    n = len(data)
    rows = tuple((b, br, channels[(b, br)], correct[(b, br)] / n) for b, br in keys)
    return Ablation(correct_base / n, n, mode, rows)


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, new)


def without(model: nn.Module, names: Sequence[str]) -> nn.Module:
    """A copy of ``model`` (in eval mode) in which each module of ``names`` is deleted: replaced by the identity.

    Deleting a residual block leaves its input to the next block (the shortcut alone); deleting the
    convolution, batch norm and ReLU of a VGG layer removes the layer. Only modules whose output has
    the shape of their input can be deleted: deleting one that changes the shape (a downsampling
    block) makes the copy fail at its first forward pass, with the next layer's shape error.
    ``model`` is untouched.
    """
    modules = dict(model.named_modules())
    missing = [name for name in names if name not in modules or not name]
    if missing:
        raise KeyError(f"{type(model).__name__} has no module(s) {missing}")
    clone = copy.deepcopy(model).eval()
    for name in names:
        _replace(clone, name, nn.Identity())
    return clone


def reordered(model: nn.Module, stage: str, order: Sequence[int]) -> nn.Module:
    """A copy of ``model`` (in eval mode) whose ``nn.Sequential`` ``stage`` runs its children in ``order``.

    ``order`` is a permutation of the indices of the stage's children, e.g. ``[0, 2, 1, 3]`` swaps the
    second and third blocks. Blocks that change the shape (a stage's first, downsampling block)
    must keep their place. ``model`` is untouched.
    """
    sequential = model.get_submodule(stage)
    if not isinstance(sequential, nn.Sequential):
        raise TypeError(f"{stage!r} is a {type(sequential).__name__}, not an nn.Sequential")
    if sorted(order) != list(range(len(sequential))):
        raise ValueError(f"order must be a permutation of 0..{len(sequential) - 1}, got {list(order)}")
    clone = copy.deepcopy(model).eval()
    blocks = list(clone.get_submodule(stage))
    _replace(clone, stage, nn.Sequential(*[blocks[i] for i in order]))
    return clone


def swapped_order(n: int, swaps: int, rng: random.Random, fixed_first: bool = False) -> list[int]:
    """The order ``0..n-1`` after ``swaps`` random exchanges of two positions (Veit et al.'s shuffling).

    ``fixed_first=True`` keeps position 0 in place (a stage's first, shape-changing block).
    """
    order = list(range(n))
    movable = order[1:] if fixed_first else order[:]
    if swaps and len(movable) < 2:
        raise ValueError(f"cannot swap blocks: only {len(movable)} of the {n} may move")
    for _ in range(swaps):
        a, b = rng.sample(movable, 2)
        order[a], order[b] = order[b], order[a]
    return order
