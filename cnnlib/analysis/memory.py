"""Peak activation memory of an inference pass, measured on the real (eager) run.

At inference a layer's input can be freed as soon as its last reader has run. A plain stack therefore holds
two activations at a time besides the input batch (a layer's input and its output); a residual block must keep
its input ``x`` alive until the addition at the end of the block while the branch computes: one more. Ding et
al. (RepVGG, Sec. 3.1) give this as one reason why plain VGG-style networks suit inference.

:func:`activation_memory` runs the model once under a ``TorchDispatchMode`` that sees every tensor each
operation returns: a new storage adds its bytes to the live total, and a ``weakref.finalize`` on the storage
takes them off when PyTorch frees it (views and in-place results share their source's storage and add
nothing; so do views of the weights, such as the transposed weight inside ``nn.Linear``). The peak of that
total is the activation memory the run needed: the input included, parameters and buffers not, and no allocator
overhead or library workspace (oneDNN's scratch buffers are not tensors). Counted so, a plain stack peaks at
three maps (the caller's input, a layer's input and its output) and a residual stage at four.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

__all__ = ["ActivationMemory", "activation_memory"]


@dataclass(frozen=True)
class ActivationMemory:
    """``peak_bytes``: the most activation memory alive at once; ``peak_op``: the operation that allocated the
    peak's last tensor; ``input_bytes``: the input's share; ``allocated_bytes``: every output storage summed (what
    a run that never freed anything would hold)."""

    peak_bytes: int
    peak_op: str
    input_bytes: int
    allocated_bytes: int


class _LiveStorages(TorchDispatchMode):
    def __init__(self, exclude: set[int]) -> None:
        super().__init__()
        self.exclude = exclude  # storages that are not activations: the parameters and buffers
        self.live: dict[int, int] = {}  # storage data pointer -> bytes
        self.current = self.peak = self.allocated = 0
        self.peak_op = ""

    def track(self, tensor: torch.Tensor, op: str) -> None:
        storage = tensor.untyped_storage()
        ptr = storage.data_ptr()
        if ptr == 0 or ptr in self.live or ptr in self.exclude:
            return  # empty, a view / in-place result of a tensor already counted, or a view of a weight
        self.live[ptr] = storage.nbytes()
        self.current += storage.nbytes()
        self.allocated += storage.nbytes()
        if self.current > self.peak:
            self.peak, self.peak_op = self.current, op
        weakref.finalize(storage, self._free, ptr)

    def _free(self, ptr: int) -> None:
        self.current -= self.live.pop(ptr, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for leaf in tree_leaves(out):
            if isinstance(leaf, torch.Tensor):
                self.track(leaf, str(func.overloadpacket.__name__))
        return out


@torch.no_grad()
def activation_memory(
    model: nn.Module, input_shape: tuple[int, ...], dtype: torch.dtype = torch.float32
) -> ActivationMemory:
    """Peak live activation memory of one eval-mode forward pass of ``model`` on a random input of
    ``input_shape`` (batch included), on the model's device; the model is left in the mode it was in."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    weights = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    mode = _LiveStorages(exclude=weights)
    try:
        x = torch.randn(input_shape, dtype=dtype, device=device)
        with mode:
            mode.track(x, "input")
            out = model(x)
            del out
            del x
    finally:
        model.train(was_training)
    input_bytes = torch.Size(input_shape).numel() * torch.empty((), dtype=dtype).element_size()
    return ActivationMemory(mode.peak, mode.peak_op, input_bytes, mode.allocated)
