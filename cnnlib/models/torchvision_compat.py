"""Which of our models torchvision also implements, and how its ``state_dict`` keys map onto ours.

Each family module declares, for every architecture torchvision also implements,
how torchvision's ``state_dict`` keys map onto ours (usually they are the same):

    register_torchvision_equivalent("vgg16", torchvision_name="vgg16")

This is architecture metadata only: models know no data source. Loading pretrained
weights (torchvision's download, the course mirror) is :mod:`cnnlib.pretrained`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from .registry import model_info

__all__ = [
    "TORCHVISION_EQUIVALENTS",
    "TorchvisionEquivalent",
    "load_torchvision_state",
    "register_torchvision_equivalent",
    "torchvision_equivalent",
]

KeyMap = Callable[[str], str]


@dataclass(frozen=True)
class TorchvisionEquivalent:
    ours: str  # our registry name
    torchvision_name: str  # torchvision.models builder name
    key_map: KeyMap | None = None  # torchvision key -> our key (None: identical keys)
    our_kwargs: tuple[tuple[str, object], ...] = ()  # extra builder kwargs to match torchvision's variant
    torchvision_kwargs: tuple[tuple[str, object], ...] = ()  # e.g. (("aux_logits", True), ("init_weights", False))


TORCHVISION_EQUIVALENTS: dict[str, TorchvisionEquivalent] = {}


def register_torchvision_equivalent(
    ours: str,
    torchvision_name: str,
    key_map: KeyMap | None = None,
    our_kwargs: dict | None = None,
    torchvision_kwargs: dict | None = None,
) -> None:
    if ours in TORCHVISION_EQUIVALENTS:
        raise ValueError(f"{ours!r} already has a torchvision equivalent")
    TORCHVISION_EQUIVALENTS[ours] = TorchvisionEquivalent(
        ours, torchvision_name, key_map, tuple((our_kwargs or {}).items()), tuple((torchvision_kwargs or {}).items())
    )


def load_torchvision_state(model: nn.Module, name: str, state_dict: dict[str, torch.Tensor]) -> nn.Module:
    """Load a torchvision ``state_dict`` into our model ``name`` through its key map, strictly."""
    eq = torchvision_equivalent(name)
    mapped = {eq.key_map(k) if eq.key_map else k: v for k, v in state_dict.items()}
    model.load_state_dict(mapped, strict=True)
    return model


def torchvision_equivalent(name: str) -> TorchvisionEquivalent:
    """How our ``name`` corresponds to torchvision's model; a clear error for a model torchvision lacks."""
    model_info(name)  # unknown names get the registry's clear error
    if name not in TORCHVISION_EQUIVALENTS:
        raise KeyError(
            f"cnnlib's {name!r} has no torchvision counterpart; ones that do: {sorted(TORCHVISION_EQUIVALENTS)}"
        )
    return TORCHVISION_EQUIVALENTS[name]
