"""Looking inside a model while it runs: one eval-mode context manager, one hooks context manager,
and the activations of named layers recorded with them.

Every technique that puts a model in eval mode for a moment (counting, tracing, evaluating,
ablating) uses :func:`eval_mode`, so the model always comes back in the mode it was in; every
technique that hooks into layers uses :func:`forward_hooks`, so the hooks are always removed,
whatever happens inside the block. This module imports nothing of ``cnnlib``: the training loop
and the zoo use it too.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Mapping, Sequence

import torch
import torch.nn as nn
from torch import Tensor

__all__ = ["capture_activations", "eval_mode", "forward_hooks", "named_modules", "record_activations"]


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Inside the block ``model`` is in eval mode; afterwards it is in the mode it was in before."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def named_modules(model: nn.Module, names: Sequence[str]) -> dict[str, nn.Module]:
    """The submodules called ``names`` (dotted names, as ``named_modules()`` gives them), in order.

    Raises ``KeyError`` naming the missing ones and listing the model's layers.
    """
    modules = dict(model.named_modules())
    missing = [name for name in names if name not in modules]
    if missing:
        raise KeyError(f"no layer(s) {missing} in {type(model).__name__}; its layers are {[n for n in modules if n]}")
    return {name: modules[name] for name in names}


@contextmanager
def forward_hooks(
    hooks: Mapping[nn.Module, Callable] | Sequence[tuple[nn.Module, Callable]], pre: bool = False
) -> Iterator[None]:
    """Register forward hooks (``pre=True``: forward pre-hooks) for the block; always removed afterwards.

    ``hooks``: module -> hook, or (module, hook) pairs where one module gets several hooks.
    A forward hook is called as ``hook(module, inputs, output)`` and may return a replacement output;
    a pre-hook as ``hook(module, inputs)``.
    """
    pairs = list(hooks.items()) if isinstance(hooks, Mapping) else list(hooks)
    handles = []
    try:
        for module, hook in pairs:
            handles.append(module.register_forward_pre_hook(hook) if pre else module.register_forward_hook(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def record_activations(model: nn.Module, layers: Sequence[str]) -> Iterator[dict[str, Tensor]]:
    """Inside the ``with`` block, every forward pass stores the outputs of ``layers`` (dotted names) in the
    yielded dict."""
    modules = named_modules(model, layers)
    store: dict[str, Tensor] = {}

    def keeper(name: str) -> Callable:
        return lambda _m, _i, out: store.__setitem__(name, out.detach())

    with forward_hooks([(module, keeper(name)) for name, module in modules.items()]):
        yield store


@torch.no_grad()
def capture_activations(model: nn.Module, x: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
    """Outputs of ``layers`` for the batch ``x`` (already normalised), in the order given."""
    with eval_mode(model), record_activations(model, layers) as store:
        model(x)
    return {name: store[name] for name in layers}
