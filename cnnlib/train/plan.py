"""Live training on a budget: fit a lecture's run into the seconds a notebook cell may take."""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass

import torch
import torch.nn as nn

from ..data import ImageTensors
from ..runtime import pick_device
from .config import SpeedSettings, TrainConfig
from .loop import _make_optimizer, predict, steps_per_epoch, train_one_epoch, warmup_steps
from .speed import choose_speed_settings

__all__ = ["TrainingPlan", "plan_training"]


@dataclass(frozen=True, eq=False)
class TrainingPlan:
    """What :func:`plan_training` decided: the config and data to pass to :func:`fit`, and why."""

    config: TrainConfig
    train_data: ImageTensors
    requested_epochs: int
    requested_images: int
    train_img_per_s: float  # the training loop's measured rate (augmentation and optimiser steps included)
    eval_seconds: float  # one evaluation of the test data, estimated from its measured rate (0: no test data)
    estimated_seconds: float  # what the plan trains, evaluation included
    full_seconds: float  # what the requested recipe would take
    budget_seconds: float
    speed: SpeedSettings

    @property
    def steps(self) -> int:
        """Optimiser steps the planned run takes."""
        return self.config.epochs * steps_per_epoch(len(self.train_data), self.config.batch_size)

    @property
    def warmup_steps(self) -> int:
        """Of those, the learning-rate warm-up's (one-cycle schedule)."""
        return warmup_steps(self.config, self.steps)

    @property
    def reduced(self) -> bool:
        return self.config.epochs < self.requested_epochs or len(self.train_data) < self.requested_images

    def __str__(self) -> str:
        rate = f"{self.train_img_per_s:,.0f} training images/s measured (chosen: {self.speed.describe()})"
        requested = _epochs(self.requested_epochs)
        if not self.reduced:
            takes = "takes" if self.requested_epochs == 1 else "take"
            return (
                f"Budget: {requested} {takes} about {self.estimated_seconds:.0f} s of training and evaluation here "
                f"at {rate}, within the training budget of {self.budget_seconds:.0f} s: the full recipe runs."
            )
        what = _epochs(self.config.epochs)
        if len(self.train_data) < self.requested_images:
            what += f" on {len(self.train_data):,} of the {self.requested_images:,} training images"
        over = (
            "; that is still over the budget: this machine is slower than the course is sized for"
            if self.estimated_seconds > 1.05 * self.budget_seconds
            else ""
        )
        these = "this epoch" if self.config.epochs == 1 else f"these {self.config.epochs} epochs"
        return (
            f"Budget: {requested} would take about {self.full_seconds:.0f} s of training and evaluation here at "
            f"{rate}, over the training budget of {self.budget_seconds:.0f} s, so this run trains {what} (about "
            f"{self.estimated_seconds:.0f} s{over}). The learning rate's warm-up and decay are rescaled to {these}: "
            f"a shorter run, not the start of the longer one. Results below are for this shorter run."
        )


def _epochs(n: int) -> str:
    return f"{n} epoch{'s' * (n != 1)}"


def _loop_rates(
    model: nn.Module,
    train_data: ImageTensors,
    test_data: ImageTensors | None,
    config: TrainConfig,
    speed: SpeedSettings,
    min_seconds: float = 0.5,
) -> tuple[float, float | None]:
    """Images per second of the real training loop and evaluation pass, on a throwaway copy of ``model``."""
    device = torch.device(speed.device)
    probe = copy.deepcopy(model).to(device)
    if speed.channels_last:
        probe.to(memory_format=torch.channels_last)
    optimizer = _make_optimizer(probe, config)
    # Learning rate 0: the same work per step, but the copy's weights never move, so a recipe that
    # is stable only thanks to its warm-up cannot diverge here.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.0)
    batches = train_data.subset(min(len(train_data), 4 * config.batch_size), seed=config.seed)
    per_pass = len(batches) // config.batch_size * config.batch_size or len(batches)  # what drop_last leaves
    generator = torch.Generator().manual_seed(config.seed)
    with torch.random.fork_rng(devices=[]):
        train_one_epoch(probe, batches, optimizer, scheduler, config, speed, generator)  # warm-up
        seen, start = 0, time.perf_counter()
        while seen < 2 * per_pass or time.perf_counter() - start < min_seconds:
            train_one_epoch(probe, batches, optimizer, scheduler, config, speed, generator)
            seen += per_pass
        train_rate = seen / (time.perf_counter() - start)
    if test_data is None:
        return train_rate, None
    sample = test_data.subset(min(len(test_data), 2 * config.eval_batch_size), seed=0)
    predict(probe, sample, speed, config.eval_batch_size)  # warm-up
    seen, start = 0, time.perf_counter()
    while seen < len(sample) or time.perf_counter() - start < min_seconds / 2:
        predict(probe, sample, speed, config.eval_batch_size)
        seen += len(sample)
    return train_rate, seen / (time.perf_counter() - start)


def plan_training(
    model: nn.Module,
    train_data: ImageTensors,
    config: TrainConfig,
    budget_seconds: float,
    test_data: ImageTensors | None = None,
    device: torch.device | str | None = None,
    min_steps: int = 1,
) -> TrainingPlan:
    """Fit a lecture's live training run into ``budget_seconds`` on the machine at hand.

    Chooses the speed settings as ``fit`` will (:func:`choose_speed_settings`: a few seconds
    the first time, and ``fit`` reuses the measurement), then times the real loop for about a
    second on a throwaway copy of the model (a few batches of ``train_data`` with augmentation
    and optimiser steps, and an evaluation pass on part of ``test_data``) and estimates an
    epoch from those rates. ``budget_seconds`` is for the training run; the planning itself
    is not counted. If ``config.epochs`` epochs do not fit the budget, it trains fewer; if
    even one epoch does not fit, one epoch on a fixed random subset of the training images,
    of at least ``min_steps`` batches (say, enough for the curve a lecture draws). The
    returned plan prints what it decided (and whether even that is over the budget); the
    notebook then calls ``fit(model, plan.train_data, test, plan.config)``.
    """
    if budget_seconds <= 0 or min_steps < 1:
        raise ValueError(f"budget_seconds and min_steps must be positive, not {budget_seconds} and {min_steps}")
    device = torch.device(device) if device is not None else pick_device()
    speed = choose_speed_settings(
        model.to(device), train_data.shape, config.batch_size, device, config.precision, config.channels_last
    )
    train_rate, eval_rate = _loop_rates(model, train_data, test_data, config, speed)
    evaluation = len(test_data) / eval_rate if test_data is not None and eval_rate else 0.0

    def seconds(epochs: int, images: int) -> float:
        return epochs * (images / train_rate + evaluation)

    epochs = config.epochs
    while epochs > 1 and seconds(epochs, len(train_data)) > budget_seconds:
        epochs -= 1
    data = train_data
    if seconds(epochs, len(train_data)) > budget_seconds:
        images = int((budget_seconds - evaluation) * train_rate) // config.batch_size * config.batch_size
        images = max(min_steps * config.batch_size, min(len(train_data), images))
        data = train_data.subset(images, seed=config.seed) if images < len(train_data) else train_data
    return TrainingPlan(
        config=dataclasses.replace(config, epochs=epochs),
        train_data=data,
        requested_epochs=config.epochs,
        requested_images=len(train_data),
        train_img_per_s=train_rate,
        eval_seconds=evaluation,
        estimated_seconds=seconds(epochs, len(data)),
        full_seconds=seconds(config.epochs, len(train_data)),
        budget_seconds=budget_seconds,
        speed=speed,
    )
