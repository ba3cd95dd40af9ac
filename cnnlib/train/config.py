"""What defines a training run (:class:`TrainConfig`) and how the loop runs the model (:class:`SpeedSettings`)."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

__all__ = ["SpeedSettings", "TrainConfig"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Frozen: a run is reproducible from this record."""

    epochs: int = 10
    batch_size: int = 128  # images per optimiser step
    lr: float = 0.1  # peak learning rate (per batch of ``batch_size`` images)
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    momentum: float = 0.9  # SGD only (Nesterov)
    weight_decay: float = 5e-4  # L2 on every parameter
    schedule: Literal["onecycle", "cosine", "constant"] = "onecycle"
    warmup_fraction: float = 0.2  # onecycle: share of steps spent warming up
    label_smoothing: float = 0.0
    crop_padding: int = 0  # random crop after zero padding by this many pixels; 0 = no crop
    flip: bool = False  # random horizontal flip
    seed: int = 0
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # see the module docstring
    channels_last: bool | None = None  # None = decided with ``precision`` ("auto") or False
    eval_batch_size: int = 1000
    log_every: int = 0  # > 0: also record mean training loss/accuracy every this many steps


@dataclass(frozen=True)
class SpeedSettings:
    """How the loop runs the model: autocast dtype (None = float32) and memory format."""

    device: str
    autocast_dtype: torch.dtype | None = None
    channels_last: bool = False
    measured: dict[str, float] = field(default_factory=dict)  # img/s of each candidate

    @property
    def label(self) -> str:
        """Precision and memory format, e.g. "bfloat16 autocast, channels-last" (the keys of ``measured``)."""
        prec = "bfloat16 autocast" if self.autocast_dtype == torch.bfloat16 else "float32"
        return f"{prec}, {'channels-last' if self.channels_last else 'contiguous'}"

    def describe(self) -> str:
        return f"{self.device}, {self.label}"

    def autocast(self):
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=torch.device(self.device).type, dtype=self.autocast_dtype)

    def to_record(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "autocast_dtype": str(self.autocast_dtype).replace("torch.", "") if self.autocast_dtype else "float32",
            "channels_last": self.channels_last,
            "measured_img_per_s": self.measured,
        }
