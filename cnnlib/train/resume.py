"""Resumable runs: the whole training state after each epoch, and the checks before continuing one."""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..checkpoint import state_layout
from ..data import ImageTensors
from ..io import atomic_write
from ..runtime import utc_now
from .config import SpeedSettings, TrainConfig
from .speed import _bf16_supported

__all__ = ["config_differences", "read_resume_file"]


RESUME_FORMAT = 1


def _model_identity(model: nn.Module) -> str:
    """SHA-256 of the module tree (layer types and settings) and the state_dict layout."""
    return hashlib.sha256((repr(model) + state_layout(model, dtypes=False)).encode()).hexdigest()


def _data_identity(data: ImageTensors) -> str:
    """Where the training images came from, without the cache wrapper (a cache of the mirror is the mirror)."""
    source = data.source
    if source.startswith("cache ") and "(from " in source:
        source = source.split("(from ", 1)[1].rsplit(")", 1)[0]
    return f"{data.spec.name}/{data.split} {len(data)} images; {source}; {data.notes}"


def _save_state(
    path: Path,
    model,
    optimizer,
    scheduler,
    generator: torch.Generator,
    history: dict,
    epoch: int,
    elapsed: float,
    data: ImageTensors,
    ema: nn.Module | None = None,
) -> None:
    """Write everything needed to continue after ``epoch`` (atomically: an interruption leaves the old file)."""
    state = {
        "format": RESUME_FORMAT,
        "model_identity": _model_identity(model),
        "data_identity": _data_identity(data),
        "epoch": epoch,
        "elapsed": elapsed,
        "config": history["config"],
        "history": history,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "python_rng": random.getstate(),
    }
    if ema is not None:
        state["ema"] = ema.state_dict()
    with atomic_write(path) as tmp:
        torch.save(state, tmp)


def read_resume_file(path: str | os.PathLike) -> dict[str, Any]:
    """The training state saved in a resume file; ``ValueError`` if it is not one (truncated, foreign, older format)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: torch raises many kinds of error
        raise ValueError(
            f"{path} cannot be read as a resume file ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
        ) from None
    if not isinstance(state, dict) or state.get("format") != RESUME_FORMAT:
        raise ValueError(f"{path} is not a resume file of format {RESUME_FORMAT}")
    return state


def config_differences(recorded: dict[str, Any] | None, config: TrainConfig) -> list[str]:
    """The names of the fields in which a recorded config (``asdict`` form) differs from ``config``.

    A field missing from the record was added to :class:`TrainConfig` after the record was written; its
    default is the behaviour before it, so the record counts as having the default."""
    now, defaults = asdict(config), asdict(TrainConfig())
    return sorted(k for k in now if (recorded or {}).get(k, defaults[k]) != now[k])


def _load_state(path: Path, config: TrainConfig, model: nn.Module, data: ImageTensors, again: str) -> dict[str, Any]:
    """Read a resume file and check that it belongs to a run of this model, on this data, with ``config``.

    ``again``: what the error messages tell the user to do to start afresh.
    """
    try:
        state = read_resume_file(path)
    except ValueError as exc:
        raise ValueError(f"{exc}; {again}") from None
    changed = config_differences(state["config"], config)
    if changed:
        raise ValueError(
            f"{path} belongs to a run with another config (it differs in {changed}); {again}, or restore the old config"
        )
    if state.get("model_identity", _model_identity(model)) != _model_identity(model):
        raise ValueError(
            f"{path} belongs to a run of another model (its layers or settings differ from this one's); {again}"
        )
    if state.get("data_identity", _data_identity(data)) != _data_identity(data):
        raise ValueError(
            f"{path} was trained on {state['data_identity']!r}, this run has {_data_identity(data)!r}: "
            f"continuing on other data (or the same images in another order) would not be the same run; {again}"
        )
    return state


def _speed_from_record(record: dict[str, Any], device: torch.device) -> SpeedSettings:
    dtype = torch.bfloat16 if record["autocast_dtype"] == "bfloat16" and _bf16_supported(device) else None
    return SpeedSettings(str(device), dtype, bool(record["channels_last"]), record.get("measured_img_per_s", {}))


def _restore_state(
    state: dict[str, Any],
    model,
    optimizer,
    scheduler,
    generator: torch.Generator,
    history: dict,
    ema: nn.Module | None = None,
) -> tuple[int, float]:
    """Put a saved training state into the given objects; return (next epoch, seconds already trained)."""
    model.load_state_dict(state["model"])
    if ema is not None:
        ema.load_state_dict(state["ema"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    random.setstate(state["python_rng"])
    saved = state["history"]
    history.update({k: v for k, v in saved.items() if k != "hardware"})
    history["started_utc"] = saved.get("started_utc")  # None: a state file written before runs recorded their start
    history["resumed"] = saved.get("resumed", []) + [
        {"after_epoch": state["epoch"], "utc": utc_now(), "hardware": history["hardware"]}
    ]
    history["hardware"] = saved["hardware"]
    return state["epoch"] + 1, float(state["elapsed"])
