"""The model registry: one surface for every architecture of the course.

``get_model(name, **kwargs)`` builds a registered model; ``list_models()`` lists
the names; ``model_info(name)`` returns the metadata a notebook or an
interpretation method needs (input size, first conv, classifier, default
Grad-CAM layer). Modelled on torchvision's ``get_model`` and timm's
``default_cfg``. ``build_on_meta(name, **kwargs)`` builds one on the meta device:
every shape and parameter count, without memory or initialisation time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from ..errors import UnknownNameError

__all__ = [
    "ModelInfo",
    "UnknownModelError",
    "build_on_meta",
    "get_model",
    "list_models",
    "model_info",
    "register_model",
]


@dataclass(frozen=True)
class ModelInfo:
    """What the course needs to know about a model without building it."""

    name: str
    family: str  # "lenet", "resnet", ...
    scale: str  # "mnist", "cifar" or "imagenet"
    input_size: tuple[int, int, int]  # C x H x W the architecture was designed for
    num_classes: int  # default number of classes
    first_conv: str  # dotted module path of the first convolution
    classifier: str  # dotted module path of the last linear layer (a 1x1 convolution in SqueezeNet)
    gradcam_layer: str  # dotted module path of the default Grad-CAM target
    paper: str  # citation with link
    builder: Callable[..., nn.Module]
    test_size: tuple[int, int, int] | None = None  # a smaller C x H x W the model accepts, for fast tests

    @property
    def smallest_test_input(self) -> tuple[int, int, int]:
        return self.test_size or self.input_size


class UnknownModelError(UnknownNameError):
    """Raised by :func:`get_model` for a name the registry does not know."""


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    *,
    family: str,
    scale: str,
    input_size: tuple[int, int, int],
    first_conv: str,
    classifier: str,
    gradcam_layer: str,
    paper: str,
    num_classes: int = 10,
    name: str | None = None,
    test_size: tuple[int, int, int] | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: register a public builder function under its own name."""

    def decorator(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        key = name or builder.__name__
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} is registered twice")
        _REGISTRY[key] = ModelInfo(
            name=key,
            family=family,
            scale=scale,
            input_size=input_size,
            num_classes=num_classes,
            first_conv=first_conv,
            classifier=classifier,
            gradcam_layer=gradcam_layer,
            paper=paper,
            builder=builder,
            test_size=test_size,
        )
        return builder

    return decorator


def model_info(name: str) -> ModelInfo:
    """Metadata of a registered model; a clear error for an unknown name."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError.for_name(
            f"Unknown model {name!r}.",
            name,
            _REGISTRY,
            f"cnnlib.list_models() lists the {len(_REGISTRY)} registered names.",
        ) from None


def get_model(name: str, **kwargs) -> nn.Module:
    """Build the registered model ``name``; keyword arguments go to its builder."""
    return model_info(name).builder(**kwargs)


def build_on_meta(name: str, **kwargs) -> nn.Module:
    """Build the registered model ``name`` on the meta device: parameters with shapes but no data.

    Parameter counts, ``state_dict`` keys and output shapes (a forward pass on a meta tensor,
    ``torch.zeros(1, 3, 224, 224, device="meta")``) come out exactly, in milliseconds and without
    memory, even for VGG-19's 144 M parameters; values do not exist. ``.to_empty(device="cpu")``
    turns it into a real model with uninitialised weights, e.g. to load a ``state_dict`` into.
    """
    with torch.device("meta"):
        return get_model(name, **kwargs)


def list_models(family: str | None = None, scale: str | None = None) -> list[str]:
    """Sorted names of the registered models, optionally filtered."""
    return sorted(
        info.name
        for info in _REGISTRY.values()
        if (family is None or info.family == family) and (scale is None or info.scale == scale)
    )
