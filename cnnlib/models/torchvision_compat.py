"""Our models with torchvision's weights: the proof that the teaching code is the real architecture.

Each family module declares, for every architecture torchvision also implements,
how torchvision's ``state_dict`` keys map onto ours (usually they are the same):

    register_torchvision_equivalent("vgg16", torchvision_name="vgg16")

``from_torchvision(name, weights=...)`` builds our model and loads torchvision's
weights into it with ``strict=True``: online, the official pretrained weights
(``weights="DEFAULT"`` or a weights enum name); offline, the ImageNet MobileNetV2
of the course's mirror (``$CNNLIB_MIRROR/weights/``), checked against its SHA-256.
It always says which weights it loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from .registry import get_model, model_info

__all__ = ["TORCHVISION_EQUIVALENTS", "TorchvisionEquivalent", "from_torchvision", "load_torchvision_state", "register_torchvision_equivalent"]

KeyMap = Callable[[str], str]


@dataclass(frozen=True)
class TorchvisionEquivalent:
    ours: str  # our registry name
    torchvision_name: str  # torchvision.models builder name
    key_map: KeyMap | None = None  # torchvision key -> our key (None: identical keys)
    our_kwargs: tuple[tuple[str, object], ...] = ()  # extra builder kwargs to match torchvision's variant
    torchvision_kwargs: tuple[tuple[str, object], ...] = ()  # e.g. (("aux_logits", True), ("init_weights", False))


TORCHVISION_EQUIVALENTS: dict[str, TorchvisionEquivalent] = {}

# Offline pretrained weights in the course mirror: torchvision name -> (relative path, description).
MIRROR_WEIGHTS = {
    "mobilenet_v2": (
        "weights/mobilenet_v2-imagenet-onnx-int8.pt",
        "ImageNet-1k MobileNetV2 from the course mirror (dequantised int8 ONNX Model Zoo weights, not torchvision's fp32 ones)",
    ),
}


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
    eq = _equivalent(name)
    mapped = {eq.key_map(k) if eq.key_map else k: v for k, v in state_dict.items()}
    model.load_state_dict(mapped, strict=True)
    return model


def _equivalent(name: str) -> TorchvisionEquivalent:
    model_info(name)  # unknown names get the registry's clear error
    if name not in TORCHVISION_EQUIVALENTS:
        raise KeyError(f"cnnlib's {name!r} has no torchvision counterpart; ones that do: {sorted(TORCHVISION_EQUIVALENTS)}")
    return TORCHVISION_EQUIVALENTS[name]


def _mirror_state(torchvision_name: str) -> tuple[dict[str, torch.Tensor], str]:
    from ..data.sources import _verified_mirror_file, mirror_dir

    mirror = mirror_dir()
    if torchvision_name not in MIRROR_WEIGHTS:
        raise FileNotFoundError(f"the course mirror has no pretrained weights for {torchvision_name}; it has {sorted(MIRROR_WEIGHTS)}")
    if mirror is None:
        raise FileNotFoundError("$CNNLIB_MIRROR is not set")
    relpath, description = MIRROR_WEIGHTS[torchvision_name]
    path = _verified_mirror_file(mirror, relpath)
    return torch.load(path, map_location="cpu", weights_only=True), f"{description}: {path} (SHA-256 verified)"


def from_torchvision(name: str, weights: str | None = "DEFAULT", num_classes: int | None = None) -> tuple[nn.Module, str]:
    """Our model ``name`` carrying torchvision's weights; returns (model in eval mode, which weights).

    Args:
        weights: ``"DEFAULT"`` or an enum name such as ``"IMAGENET1K_V1"`` (pretrained: downloaded by
            torchvision, or, when that fails, taken from the course mirror where it has them),
            ``"mirror"`` (the mirror only), or ``None`` (torchvision's random initialisation,
            for testing the key mapping).
    """
    import torchvision.models as tvm

    eq = _equivalent(name)
    tv_kwargs = dict(eq.torchvision_kwargs)
    ours_kwargs = dict(eq.our_kwargs)
    if num_classes is not None:
        ours_kwargs["num_classes"] = tv_kwargs["num_classes"] = num_classes
    model = get_model(name, **ours_kwargs)

    if weights is None:
        state, source = tvm.get_model(eq.torchvision_name, weights=None, **tv_kwargs).state_dict(), f"torchvision {eq.torchvision_name}, random initialisation"
    elif weights == "mirror":
        state, source = _mirror_state(eq.torchvision_name)
    else:
        errors = []
        try:
            enum = tvm.get_model_weights(eq.torchvision_name)[weights] if weights != "DEFAULT" else tvm.get_model_weights(eq.torchvision_name).DEFAULT
            state = enum.get_state_dict(progress=False, check_hash=True)
            source = f"torchvision {eq.torchvision_name} {enum} (official pretrained weights)"
        except Exception as exc:  # offline: try the mirror before giving up
            errors.append(f"torchvision download: {type(exc).__name__}: {exc}")
            try:
                state, source = _mirror_state(eq.torchvision_name)
            except Exception as exc2:
                errors.append(f"mirror: {exc2}")
                raise RuntimeError(
                    f"No pretrained weights for {name} ({eq.torchvision_name}). Tried:\n  - " + "\n  - ".join(errors)
                    + "\nConnect to the internet, or set $CNNLIB_MIRROR to the course mirror (it has mobilenet_v2)."
                ) from None
    load_torchvision_state(model, name, state)
    return model.eval(), source
