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
    # onecycle: linear warm-up, then linear decay to 0; warmup_cosine: linear warm-up, then cosine decay to 0;
    # cosine: cosine decay from the first step; constant: lr throughout
    schedule: Literal["onecycle", "warmup_cosine", "cosine", "constant"] = "onecycle"
    warmup_fraction: float = 0.2  # onecycle and warmup_cosine: share of steps spent warming up
    label_smoothing: float = 0.0
    # Fields added after the first zoo runs default to the behaviour before them (a record without them
    # is the same recipe: ``cnnlib.train.config_differences``).
    mixup_alpha: float = 0.0  # > 0: mixup (Zhang et al. 2018) with lambda ~ Beta(alpha, alpha) per batch
    cutmix_alpha: float = 0.0  # > 0: CutMix (Yun et al. 2019); with mixup too, each batch picks one at random
    ema_decay: float = 0.0  # > 0: keep an exponential moving average of the weights and BN statistics
    crop_padding: int = 0  # random crop after zero padding by this many pixels; 0 = no crop
    flip: bool = False  # random horizontal flip
    seed: int = 0
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # see the module docstring
    channels_last: bool | None = None  # None = decided with ``precision`` ("auto") or False
    eval_batch_size: int = 1000
    log_every: int = 0  # > 0: also record mean training loss/accuracy every this many steps

    def __post_init__(self) -> None:
        for name in ("mixup_alpha", "cutmix_alpha", "label_smoothing", "warmup_fraction"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"TrainConfig.ema_decay must be in [0, 1) (0 = no EMA), got {self.ema_decay}")


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
