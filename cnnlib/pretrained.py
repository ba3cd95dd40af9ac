"""Our models carrying pretrained weights: the proof that the teaching code is the real architecture.

``from_torchvision(name, weights=...)`` builds our model and loads torchvision's weights
into it with ``strict=True`` through the key map its family module declared
(:mod:`cnnlib.models.torchvision_compat`): online, the official pretrained weights
(``weights="DEFAULT"`` or a weights enum name); offline, the ImageNet MobileNetV2 of the
course's mirror (``$CNNLIB_MIRROR/weights/``), checked against its SHA-256. It always says
which weights it loaded. The models themselves know no data source; this module does.

``pretrained_mobilenet_v2()`` is the real ImageNet classifier the lectures use, and
``published_figures`` torchvision's documented accuracy, size and cost of its weights.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .data.sources import _verified_mirror_file, mirror_dir
from .models import get_model
from .models.torchvision_compat import load_torchvision_state, torchvision_equivalent

__all__ = ["MIRROR_WEIGHTS", "from_torchvision", "pretrained_mobilenet_v2", "published_figures"]

# Offline pretrained weights in the course mirror: torchvision name -> (relative path, description).
MIRROR_WEIGHTS = {
    "mobilenet_v2": (
        "weights/mobilenet_v2-imagenet-onnx-int8.pt",
        (
            "ImageNet-1k MobileNetV2 from the course mirror "
            "(dequantised int8 ONNX Model Zoo weights, not torchvision's fp32 ones)"
        ),
    ),
}


def _mirror_state(torchvision_name: str) -> tuple[dict[str, torch.Tensor], str]:
    mirror = mirror_dir()
    if torchvision_name not in MIRROR_WEIGHTS:
        raise FileNotFoundError(
            f"the course mirror has no pretrained weights for {torchvision_name}; it has {sorted(MIRROR_WEIGHTS)}"
        )
    if mirror is None:
        raise FileNotFoundError("$CNNLIB_MIRROR is not set")
    relpath, description = MIRROR_WEIGHTS[torchvision_name]
    path = _verified_mirror_file(mirror, relpath)
    return torch.load(path, map_location="cpu", weights_only=True), f"{description}: {path} (SHA-256 verified)"


def from_torchvision(
    name: str, weights: str | None = "DEFAULT", num_classes: int | None = None
) -> tuple[nn.Module, str]:
    """Our model ``name`` carrying torchvision's weights; returns (model in eval mode, which weights).

    Args:
        weights: ``"DEFAULT"`` or an enum name such as ``"IMAGENET1K_V1"`` (pretrained: downloaded by
            torchvision, or, when that fails, taken from the course mirror where it has them),
            ``"mirror"`` (the mirror only), or ``None`` (torchvision's random initialisation,
            for testing the key mapping).
    """
    import torchvision.models as tvm

    eq = torchvision_equivalent(name)
    tv_kwargs = dict(eq.torchvision_kwargs)
    ours_kwargs = dict(eq.our_kwargs)
    if num_classes is not None:
        ours_kwargs["num_classes"] = tv_kwargs["num_classes"] = num_classes
    model = get_model(name, **ours_kwargs)

    if weights is None:
        state, source = (
            tvm.get_model(eq.torchvision_name, weights=None, **tv_kwargs).state_dict(),
            f"torchvision {eq.torchvision_name}, random initialisation",
        )
    elif weights == "mirror":
        state, source = _mirror_state(eq.torchvision_name)
    else:
        errors = []
        try:
            enum = (
                tvm.get_model_weights(eq.torchvision_name)[weights]
                if weights != "DEFAULT"
                else tvm.get_model_weights(eq.torchvision_name).DEFAULT
            )
            state = enum.get_state_dict(progress=False, check_hash=True)
            source = f"torchvision {eq.torchvision_name} {enum} (official pretrained weights)"
        except Exception as exc:  # offline: try the mirror before giving up
            errors.append(f"torchvision download: {type(exc).__name__}: {exc}")
            try:
                state, source = _mirror_state(eq.torchvision_name)
            except Exception as exc2:
                errors.append(f"mirror: {exc2}")
                raise RuntimeError(
                    f"No pretrained weights for {name} ({eq.torchvision_name}). Tried:\n  - "
                    + "\n  - ".join(errors)
                    + "\nConnect to the internet, or set $CNNLIB_MIRROR to the course mirror (it has mobilenet_v2)."
                ) from None
    load_torchvision_state(model, name, state)
    return model.eval(), source


def published_figures(torchvision_name: str, weights: str = "IMAGENET1K_V1") -> dict[str, float | int | str]:
    """torchvision's documented figures for one of a model's weights (V1: the original training recipe).

    Returns ``{"top1": %, "top5": %, "params": n, "gflops": multiply-adds in billions at 224 px, "weights": name}``
    (ImageNet-1k validation set, resize 256 + centre crop 224).
    """
    import torchvision.models as tvm

    try:
        weights = tvm.get_model_weights(torchvision_name)[weights]
    except (KeyError, ValueError) as exc:
        raise KeyError(f"torchvision has no {weights!r} weights for {torchvision_name!r}") from exc
    meta = weights.meta
    metrics = meta["_metrics"]["ImageNet-1K"]
    return {
        "top1": metrics["acc@1"],
        "top5": metrics["acc@5"],
        "params": meta["num_params"],
        "gflops": meta["_ops"],
        "weights": str(weights),
    }


def pretrained_mobilenet_v2() -> tuple[nn.Module, str]:
    """cnnlib's MobileNetV2 with ImageNet-1k weights, in eval mode, and a sentence saying which weights.

    With ``$CNNLIB_MIRROR`` set, the mirror's copy (no download is attempted); otherwise
    torchvision's official weights (downloaded once by torchvision).
    """
    return from_torchvision("mobilenet_v2", weights="mirror" if mirror_dir() is not None else "DEFAULT")
