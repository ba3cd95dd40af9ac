"""Checkpoints that know which model they belong to and prove they are intact.

A checkpoint is one file ``NAME.pt`` holding the registry name of the model,
its builder's keyword arguments, the training config and history, and the
``state_dict``; beside it ``NAME.pt.sha256`` records the file's SHA-256 in
``sha256sum`` format. :func:`load_checkpoint` refuses, with a message saying
what to do, a file whose checksum differs, a checkpoint of another model, or
weights that do not fit the model.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn
from torch.torch_version import TorchVersion

from .io import atomic_write, sha256_file
from .models import get_model, model_info

__all__ = ["CheckpointError", "CheckpointMismatchError", "save_checkpoint", "load_checkpoint", "read_checksum"]

FORMAT = 1


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used: damaged, of another model, or not matching the model's shapes."""


class CheckpointMismatchError(CheckpointError):
    """The checkpoint is intact, but its weights' names or shapes do not fit the model they are loaded into."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail  # what ``load_state_dict`` reported (missing, unexpected or mis-shaped keys)


def _encode(value: Any) -> Any:
    """Builder kwargs -> storable: layer classes become their dotted names."""
    if isinstance(value, type):
        return {"__class__": f"{value.__module__}.{value.__qualname__}"}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"__class__"}:
        module, _, name = value["__class__"].rpartition(".")
        return getattr(importlib.import_module(module), name)
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    return value


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    model_name: str,
    model_kwargs: dict[str, Any] | None = None,
    config: Any = None,
    history: dict[str, Any] | None = None,
    storage_dtype: torch.dtype | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """Write the checkpoint atomically and its ``.sha256`` file; return the SHA-256.

    Args:
        storage_dtype: store floating-point tensors in this dtype (``torch.float16`` halves the
            file); loading copies them back into the model's own dtype.
        extra: more metadata to keep in the file (e.g. the zoo entry it belongs to).
    """
    model_info(model_name)  # an unknown name fails here, before anything is written
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "model_name": model_name,
        "model_kwargs": _encode(model_kwargs or {}),
        "config": asdict(config) if is_dataclass(config) else config,
        "history": history,
        "torch_version": torch.__version__,
        "state_dict": {k: _stored(v, storage_dtype) for k, v in model.state_dict().items()},
        **(extra or {}),
    }
    with atomic_write(path) as tmp:
        torch.save(payload, tmp)
        digest = sha256_file(tmp)
    Path(f"{path}.sha256").write_text(f"{digest}  {path.name}\n")
    return digest


def state_layout(model: nn.Module, dtypes: bool = True) -> str:
    """One line per ``state_dict`` entry, ``key:shape[:dtype]``: the weights' layout, which identities hash."""
    return "\n".join(f"{k}:{tuple(v.shape)}" + (f":{v.dtype}" if dtypes else "") for k, v in model.state_dict().items())


def _stored(tensor: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    tensor = tensor.detach().cpu().contiguous()
    return tensor.to(dtype) if dtype is not None and tensor.is_floating_point() else tensor


def read_checksum(path: str | Path) -> str | None:
    """The SHA-256 recorded beside ``path`` (``path.sha256``), or None if there is no such file."""
    side = Path(f"{path}.sha256")
    if not side.is_file():
        return None
    fields = side.read_text().split()
    if not fields or len(fields[0]) != 64 or any(c not in "0123456789abcdef" for c in fields[0].lower()):
        raise CheckpointError(
            f"{side} does not hold a SHA-256 (expected 64 hex digits, then the file name): it is empty or damaged. "
            "Restore it (`git checkout -- FILE` for the course's own files) or re-create the checkpoint."
        )
    return fields[0].lower()


def load_checkpoint(
    path: str | Path,
    model: nn.Module | None = None,
    *,
    expected_model: str | None = None,
    sha256: str | None = None,
    map_location: str | torch.device = "cpu",
    check: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Load a checkpoint into ``model`` (or a freshly built registry model); return (model, metadata).

    Args:
        expected_model: refuse a checkpoint of any other registry model.
        sha256: the checksum to demand; default: the one recorded in ``path.sha256``.
        check: called with the metadata (what is returned, without the weights) before the
            weights are loaded; it raises to refuse the checkpoint with its own message.
    """
    path = Path(path)
    retrain = "Re-create it with the command that trained it (its log names the recipe)."
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}. {retrain}")
    expected = sha256 or read_checksum(path)
    if expected is None:
        raise CheckpointError(
            f"{path} has no recorded checksum ({path.name}.sha256 is missing), so it cannot be trusted. {retrain}"
        )
    actual = sha256_file(path)
    if actual != expected:
        raise CheckpointError(
            f"{path} is damaged or was changed: its SHA-256 is {actual[:16]}..., "
            f"the record says {expected[:16]}.... {retrain}"
        )
    # weights_only: tensors and plain containers only, no code; the torch version string is the one class stored.
    with torch.serialization.safe_globals([TorchVersion]):
        payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a cnnlib checkpoint of format {FORMAT}. {retrain}")
    name = payload["model_name"]
    if expected_model is not None and name != expected_model:
        raise CheckpointError(
            f"{path} holds weights of model {name!r}, not {expected_model!r}. "
            f"Load the right file or train {expected_model!r}."
        )
    kwargs = _decode(payload["model_kwargs"])
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    meta["model_kwargs"] = kwargs
    meta["sha256"] = actual
    if check is not None:
        check(meta)
    if model is None:
        model = get_model(name, **kwargs)
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as exc:
        detail = " ".join(line.strip() for line in str(exc).splitlines()[0:3])
        raise CheckpointMismatchError(
            f"{path} (model {name!r}, kwargs {kwargs}) does not fit the given {type(model).__name__}: {detail}. "
            f"Build the model with cnnlib.get_model({name!r}, **{kwargs}) or retrain.",
            detail,
        ) from None
    return model.eval(), meta
