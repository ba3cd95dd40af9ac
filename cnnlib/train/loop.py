"""The training loop: plain functions, a frozen config, a returned history.

``fit(model, train, test, config)`` trains on whole-dataset uint8 tensors
(:class:`cnnlib.data.ImageTensors`), augmenting and normalising each batch on
the tensor, and returns one record per epoch. The loop never plots; the
history is for :mod:`cnnlib.viz`. Precision and memory format come from the
speed rule (:mod:`cnnlib.train.speed`); ``resume=`` makes a run survive
interruptions (:mod:`cnnlib.train.resume`).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..data import ImageTensors, augment_batch, iterate_batches, mix_batch, normalize
from ..runtime import hardware_summary, pick_device, reuse_freed_memory, seed_everything, utc_now
from .config import SpeedSettings, TrainConfig
from .resume import _load_state, _restore_state, _save_state, _speed_from_record
from .speed import choose_speed_settings

__all__ = ["evaluate", "fit", "predict", "steps_per_epoch", "train_one_epoch", "warmup_steps"]


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = model.parameters()
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.momentum > 0,
            weight_decay=config.weight_decay,
        )
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; use 'sgd', 'adam' or 'adamw'")


def steps_per_epoch(images: int, batch_size: int) -> int:
    """Optimiser steps in one epoch of ``images`` (the last, partial batch is dropped when there is a full one)."""
    return max(1, images // batch_size)


def warmup_steps(config: TrainConfig, total_steps: int) -> int:
    """How many of ``total_steps`` the schedule spends warming up (onecycle and warmup_cosine; 0 for the others)."""
    return max(1, int(config.warmup_fraction * total_steps)) if config.schedule in ("onecycle", "warmup_cosine") else 0


def _make_schedule(optimizer: torch.optim.Optimizer, config: TrainConfig, epoch_steps: int):
    total = max(1, config.epochs * epoch_steps)
    warm = warmup_steps(config, total)
    if config.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
        )
    if config.schedule == "onecycle":
        # linear warm-up from 0 to lr, then linear decay to 0 (the "one-cycle" triangle)
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: step / warm if step < warm else max(0.0, (total - step) / max(1, total - warm))
        )
    if config.schedule == "warmup_cosine":
        # linear warm-up from 0 to lr, then half a cosine down to 0 (Goyal et al. 2017; Loshchilov & Hutter 2017)
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda step: (
                step / warm
                if step < warm
                else 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))
            ),
        )
    raise ValueError(f"unknown schedule {config.schedule!r}; use 'onecycle', 'warmup_cosine', 'cosine' or 'constant'")


def train_one_epoch(
    model: nn.Module,
    data: ImageTensors,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    config: TrainConfig,
    speed: SpeedSettings,
    generator: torch.Generator,
    progress: Any = None,
    ema: nn.Module | None = None,
) -> dict[str, Any]:
    """One pass over ``data``; returns the mean training loss and accuracy (on augmented batches; with mixup or
    CutMix the accuracy counts a prediction of each image's own label as right). ``ema``: a
    ``torch.optim.swa_utils.AveragedModel`` updated after every optimiser step.

    With ``config.log_every > 0`` the result also has ``"steps"``: the mean loss and accuracy of each
    window of ``log_every`` optimiser steps.
    """
    device = torch.device(speed.device)
    memory_format = torch.channels_last if speed.channels_last else torch.contiguous_format
    model.train()
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    steps: list[dict[str, float]] = []
    window_loss, window_correct, window_seen = 0.0, 0, 0
    for idx in iterate_batches(
        len(data), config.batch_size, shuffle=True, generator=generator, drop_last=len(data) >= config.batch_size
    ):
        xb = data.images[idx].to(device, non_blocking=True)
        yb = data.labels[idx].to(device, non_blocking=True)
        xb = augment_batch(xb, crop_padding=config.crop_padding, flip=config.flip, generator=generator)
        xb = normalize(xb, data.spec.mean, data.spec.std)
        mixed = mix_batch(xb, yb, mixup_alpha=config.mixup_alpha, cutmix_alpha=config.cutmix_alpha, generator=generator)
        xb = mixed.images.contiguous(memory_format=memory_format)
        with speed.autocast():
            logits = model(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=config.label_smoothing)
            if mixed.lam < 1.0:
                partner_loss = F.cross_entropy(logits, mixed.partners, label_smoothing=config.label_smoothing)
                loss = mixed.lam * loss + (1 - mixed.lam) * partner_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update_parameters(model)
        batch_loss = loss.detach() * len(yb)
        batch_correct = (logits.detach().argmax(1) == yb).sum()
        total_loss += batch_loss
        correct += batch_correct
        seen += len(yb)
        if config.log_every:
            window_loss += batch_loss.item()
            window_correct += batch_correct.item()
            window_seen += len(yb)
            if (seen // len(yb)) % config.log_every == 0:
                steps.append(
                    {
                        "step_in_epoch": seen // len(yb),
                        "train_loss": window_loss / window_seen,
                        "train_acc": window_correct / window_seen,
                    }
                )
                window_loss, window_correct, window_seen = 0.0, 0, 0
        if progress is not None:
            progress.update(len(yb))
    if not torch.isfinite(total_loss):
        raise FloatingPointError("the training loss became NaN or infinite: lower TrainConfig.lr")
    result: dict[str, Any] = {"train_loss": total_loss.item() / seen, "train_acc": correct.item() / seen}
    if config.log_every:
        result["steps"] = steps
    return result


@torch.no_grad()
def predict(model: nn.Module, data: ImageTensors, speed: SpeedSettings | None = None, batch_size: int = 1000) -> Tensor:
    """Logits (float32, on the CPU) for every image of ``data``, in order; the model is left in eval mode."""
    speed = speed or SpeedSettings(str(next(model.parameters()).device))
    device = torch.device(speed.device)
    memory_format = torch.channels_last if speed.channels_last else torch.contiguous_format
    model.eval()
    reuse_freed_memory()
    outputs = []
    for idx in iterate_batches(len(data), batch_size, shuffle=False):
        xb = normalize(data.images[idx].to(device), data.spec.mean, data.spec.std).contiguous(
            memory_format=memory_format
        )
        with speed.autocast():
            outputs.append(model(xb).float().cpu())
    return torch.cat(outputs)


def evaluate(
    model: nn.Module, data: ImageTensors, speed: SpeedSettings | None = None, batch_size: int = 1000
) -> dict[str, float]:
    """Mean cross-entropy loss and accuracy of ``model`` on ``data``."""
    logits = predict(model, data, speed, batch_size)
    return {
        "loss": F.cross_entropy(logits, data.labels).item(),
        "acc": (logits.argmax(1) == data.labels).float().mean().item(),
    }


def fit(
    model: nn.Module,
    train_data: ImageTensors,
    test_data: ImageTensors | None,
    config: TrainConfig,
    device: torch.device | str | None = None,
    progress: bool = True,
    resume: str | os.PathLike | None = None,
    restart_hint: str | None = None,
    ema_model: list[nn.Module] | None = None,
) -> dict[str, Any]:
    """Train ``model`` for ``config.epochs`` epochs; evaluate on ``test_data`` after each.

    With ``resume`` (a file path) the run survives interruptions: after every epoch the whole
    training state (weights, optimiser, schedule, random generators, history so far) is written
    there atomically, and a later call with the same path and the same config continues after
    the last finished epoch, giving the same result as an uninterrupted run. A state file
    written with a different config is refused (delete it to start again; ``restart_hint``
    replaces that advice in the message, e.g. with the command that starts the run afresh).

    Returns a history: ``{"epochs": [{"epoch", "train_loss", "train_acc", "test_loss",
    "test_acc", "lr", "seconds"}, ...], "steps": [{"step", "train_loss", "train_acc"}, ...]
    (with ``config.log_every``), "config", "speed", "data_source", "hardware", "started_utc"
    (when the run began, in its first call), "resumed" (one record per later call), "train_seconds"}``;
    ``lr`` is the learning rate at the start of the epoch. The model is trained in place and left in
    eval mode on ``device``.

    With ``config.ema_decay > 0`` an exponential moving average of the weights and BN statistics is kept
    (``torch.optim.swa_utils.AveragedModel``), each epoch record gains ``ema_test_loss`` and
    ``ema_test_acc``, and ``ema_model`` (a list) receives the averaged network after training.
    """
    from tqdm.auto import tqdm

    device = torch.device(device) if device is not None else pick_device()
    reuse_freed_memory()  # before the speed rule measures, since each epoch's evaluation sets it anyway
    model.to(device)
    state = None
    if resume is not None and Path(resume).is_file():
        state = _load_state(
            Path(resume), config, model, train_data, restart_hint or f"delete {resume} to start the run again"
        )
    if state is not None:
        speed = _speed_from_record(state["history"]["speed"], device)  # keep the run's measured choice
    else:
        speed = choose_speed_settings(
            model, train_data.shape, config.batch_size, device, config.precision, config.channels_last
        )
    # Seeded after the speed rule: its timed steps draw dropout masks on the device's generator a
    # time-dependent number of times (fork_rng protects only the CPU's), and whether it measures at
    # all depends on its cache, so seeding first would make the run depend on both.
    generator = seed_everything(config.seed)
    if speed.channels_last:
        model.to(memory_format=torch.channels_last)
    ema = None
    if config.ema_decay > 0:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
    epoch_steps = steps_per_epoch(len(train_data), config.batch_size)
    optimizer = _make_optimizer(model, config)
    scheduler = _make_schedule(optimizer, config, epoch_steps)
    history: dict[str, Any] = {
        "config": asdict(config),
        "speed": speed.to_record(),
        "data_source": {"train": train_data.source, "test": test_data.source if test_data is not None else None},
        "hardware": hardware_summary(device),
        "started_utc": utc_now(),
        "epochs": [],
        "steps": [],
    }
    first_epoch, elapsed = 1, 0.0
    if state is not None:
        first_epoch, elapsed = _restore_state(state, model, optimizer, scheduler, generator, history, ema)
    done_images = (first_epoch - 1) * epoch_steps * config.batch_size
    bar = tqdm(
        total=config.epochs * epoch_steps * config.batch_size,
        initial=done_images,
        unit="img",
        unit_scale=True,
        disable=not progress,
        desc="training",
    )
    start = time.perf_counter() - elapsed
    try:
        for epoch in range(first_epoch, config.epochs + 1):
            t0 = time.perf_counter()
            record: dict[str, float] = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"]}
            epoch_result = train_one_epoch(
                model, train_data, optimizer, scheduler, config, speed, generator, bar, ema=ema
            )
            for step in epoch_result.pop("steps", []):
                history["steps"].append({"step": (epoch - 1) * epoch_steps + step.pop("step_in_epoch"), **step})
            record.update(epoch_result)
            if test_data is not None:
                result = evaluate(model, test_data, speed, config.eval_batch_size)
                record.update(test_loss=result["loss"], test_acc=result["acc"])
                if ema is not None:
                    result = evaluate(ema.module, test_data, speed, config.eval_batch_size)
                    record.update(ema_test_loss=result["loss"], ema_test_acc=result["acc"])
            record["seconds"] = time.perf_counter() - t0
            history["epochs"].append(record)
            if resume is not None:
                _save_state(
                    Path(resume),
                    model,
                    optimizer,
                    scheduler,
                    generator,
                    history,
                    epoch,
                    time.perf_counter() - start,
                    train_data,
                    ema,
                )
            bar.set_postfix(loss=f"{record['train_loss']:.3f}", test_acc=f"{record.get('test_acc', float('nan')):.4f}")
    finally:
        bar.close()
    history["train_seconds"] = time.perf_counter() - start
    model.eval()
    if ema is not None and ema_model is not None:
        ema_model.append(ema.module.eval())
    return history
