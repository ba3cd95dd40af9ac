"""The training loop: plain functions, a frozen config, a returned history.

``fit(model, train, test, config)`` trains on whole-dataset uint8 tensors
(:class:`cnnlib.data.ImageTensors`), augmenting and normalising each batch on
the tensor, and returns one record per epoch. The loop never plots; the
history is for :mod:`cnnlib.viz`.

Speed rule (``TrainConfig.precision="auto"``): bfloat16 autocast and the
channels-last memory format are used only when they are *measured* to help on
the hardware found. Before training, :func:`choose_speed_settings` times real
training steps of the model at the configured batch size (at least 3 steps and
0.3 s per candidate) in each of the four combinations (float32 or bfloat16 autocast, contiguous or channels-last)
and keeps the fastest, but only if it beats plain float32 by at least 10 %;
otherwise float32 is kept, so the numbers stay full precision whenever the
gain would be marginal. On CPUs with AMX or AVX-512-BF16 bfloat16 usually
wins for convolutional nets; on older laptops it is slower than float32 and
is not chosen. The decision is recorded in the history.
"""

from __future__ import annotations

import copy
import ctypes
import datetime
import functools
import hashlib
import math
import os
import platform
import random
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .checkpoint import state_layout
from .data import ImageTensors, atomic_write, augment_batch, iterate_batches, normalize

__all__ = [
    "SpeedSettings",
    "TrainConfig",
    "choose_speed_settings",
    "config_differences",
    "evaluate",
    "fit",
    "hardware_summary",
    "measure_training_speed",
    "pick_device",
    "predict",
    "read_resume_file",
    "reuse_freed_memory",
    "seed_everything",
    "train_one_epoch",
    "utc_now",
]


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

    def describe(self) -> str:
        prec = "bfloat16 autocast" if self.autocast_dtype == torch.bfloat16 else "float32"
        fmt = "channels-last" if self.channels_last else "contiguous"
        return f"{self.device}, {prec}, {fmt}"

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


# --------------------------------------------------------------------------- environment


def pick_device(prefer: str | None = None) -> torch.device:
    """CUDA if present, else Apple MPS, else the CPU; ``prefer`` (or ``$CNNLIB_DEVICE``) overrides."""
    prefer = prefer or os.environ.get("CNNLIB_DEVICE")
    if prefer:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@functools.cache
def reuse_freed_memory() -> bool:
    """Make glibc keep freed memory in the process for reuse (Linux; a no-op elsewhere).

    By default glibc takes each large block (a batch of activations) as fresh pages from the
    kernel and hands it back when freed, so every forward pass also pays for the kernel mapping
    and zeroing those pages. On our 2-core VM, evaluating resnet56 and densenet_bc40 on 10,000
    test images took 65 s, 60 of its 123 CPU-seconds in the kernel; with this setting 29.6 s.
    It also made latencies vary between processes (resnext29 at batch 64: 93 vs 300 ms). Kept
    memory is what jemalloc, tcmalloc and PyTorch's CUDA allocator do.

    The setting is process-wide and lasts until the process exits; the price is that up to
    1 GiB of freed memory stays with the process. ``predict``, ``fit`` and ``median_seconds``
    call it. Returns whether it took effect.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): leave the allocator alone
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's <malloc.h>
    # glibc before 2.36 refuses an mmap threshold above 32 MiB (on 64-bit); fall back to that.
    # Setting it first matters: fixing any threshold turns off glibc's self-adjusting one, so the
    # trim threshold is only changed once the mmap threshold has been raised.
    if not any(mallopt(m_mmap_threshold, ctypes.c_int(size)) == 1 for size in (1 << 30, 32 << 20)):
        return False
    return mallopt(m_trim_threshold, ctypes.c_int(1 << 30)) == 1


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, torch (all devices) and return a CPU generator for data order and augmentation."""
    random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def hardware_summary(device: torch.device | None = None) -> str:
    """One line naming the processor, threads, device and library versions, for every printed result."""
    import torchvision

    device = device or pick_device()
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    extra = ""
    if device.type == "cuda":
        extra = f", GPU {torch.cuda.get_device_name(device)}"
    return (
        f"{cpu}; {os.cpu_count()} logical cores, torch threads {torch.get_num_threads()}; device {device}{extra}; "
        f"CPU capability {torch.backends.cpu.get_cpu_capability()}; "
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, Python {platform.python_version()}"
    )


# --------------------------------------------------------------------------- speed settings

_SPEED_CACHE: dict[tuple, SpeedSettings] = {}


def _bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu"  # MPS autocast to bfloat16 is not reliable across releases: float32 there


def measure_training_speed(
    model: nn.Module, x: Tensor, y: Tensor, settings: SpeedSettings, min_steps: int = 3, min_seconds: float = 0.3
) -> float:
    """Images per second of SGD steps on the batch ``(x, y)`` (a copy of ``model`` is trained).

    Two warm-up steps, then at least ``min_steps`` steps and ``min_seconds`` seconds are timed.
    """
    model = copy.deepcopy(model).to(x.device).train()
    memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    x = x.to(memory_format=memory_format)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)

    def step() -> None:
        with settings.autocast():
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    _sync(x.device)
    start = time.perf_counter()
    steps = 0
    while steps < min_steps or time.perf_counter() - start < min_seconds:
        step()
        steps += 1
        _sync(x.device)
    return steps * x.shape[0] / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def choose_speed_settings(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    batch_size: int,
    device: torch.device,
    precision: str = "auto",
    channels_last: bool | None = None,
    steps: int = 3,
    min_gain: float = 1.10,
) -> SpeedSettings:
    """Pick autocast dtype and memory format by measuring (``precision="auto"``) or as told."""
    device = torch.device(device)
    if precision == "fp32":
        return SpeedSettings(str(device), None, bool(channels_last))
    if precision == "bf16":
        if not _bf16_supported(device):
            raise ValueError(f"bfloat16 autocast is not supported on {device}; use precision='fp32' or 'auto'")
        return SpeedSettings(str(device), torch.bfloat16, bool(channels_last))
    if precision != "auto":
        raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', not {precision!r}")

    n_params = sum(p.numel() for p in model.parameters())
    key = (type(model).__name__, n_params, input_shape, batch_size, str(device), channels_last)
    if key in _SPEED_CACHE:
        return _SPEED_CACHE[key]
    gen = torch.Generator().manual_seed(0)
    num_classes = _num_outputs(model, input_shape)
    x = torch.randn((batch_size, *input_shape), generator=gen).to(device)
    y = torch.randint(0, num_classes, (batch_size,), generator=gen).to(device)
    formats = [False, True] if channels_last is None else [channels_last]
    dtypes: list[torch.dtype | None] = [None] + ([torch.bfloat16] if _bf16_supported(device) else [])
    measured: dict[str, float] = {}
    best: tuple[float, torch.dtype | None, bool] | None = None
    for dtype in dtypes:
        for cl in formats:
            candidate = SpeedSettings(str(device), dtype, cl)
            # The timed steps run dropout on the global generator a time-dependent number of
            # times: fork it, so that the training run that follows stays reproducible.
            with torch.random.fork_rng(devices=[]):
                rate = measure_training_speed(model, x, y, candidate, steps)
            measured[candidate.describe().split(", ", 1)[1]] = round(rate, 1)
            if best is None or rate > best[0]:
                best = (rate, dtype, cl)
    baseline = max(v for k, v in measured.items() if k.startswith("float32"))
    assert best is not None
    if best[0] < min_gain * baseline:  # not worth leaving float32
        fp32_cl = max(formats, key=lambda cl: measured[SpeedSettings(str(device), None, cl).describe().split(", ", 1)[1]])
        chosen = SpeedSettings(str(device), None, fp32_cl, measured)
    else:
        chosen = SpeedSettings(str(device), best[1], best[2], measured)
    _SPEED_CACHE[key] = chosen
    return chosen


def _num_outputs(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        device = next(model.parameters()).device
        out = model(torch.zeros((1, *input_shape), device=device))
    model.train(was_training)
    return out.shape[-1]


# --------------------------------------------------------------------------- the loop


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = model.parameters()
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=config.momentum > 0, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; use 'sgd', 'adam' or 'adamw'")


def _make_schedule(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int):
    total = max(1, config.epochs * steps_per_epoch)
    if config.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total)))
    if config.schedule == "onecycle":
        warm = max(1, int(config.warmup_fraction * total))
        # linear warm-up from 0 to lr, then linear decay to 0 (the "one-cycle" triangle)
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: step / warm if step < warm else max(0.0, (total - step) / max(1, total - warm))
        )
    raise ValueError(f"unknown schedule {config.schedule!r}; use 'onecycle', 'cosine' or 'constant'")


def train_one_epoch(
    model: nn.Module,
    data: ImageTensors,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    config: TrainConfig,
    speed: SpeedSettings,
    generator: torch.Generator,
    progress: Any = None,
) -> dict[str, Any]:
    """One pass over ``data``; returns the mean training loss and accuracy (on augmented batches).

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
    for idx in iterate_batches(len(data), config.batch_size, shuffle=True, generator=generator, drop_last=len(data) >= config.batch_size):
        xb = data.images[idx].to(device, non_blocking=True)
        yb = data.labels[idx].to(device, non_blocking=True)
        xb = augment_batch(xb, crop_padding=config.crop_padding, flip=config.flip, generator=generator)
        xb = normalize(xb, data.spec.mean, data.spec.std).contiguous(memory_format=memory_format)
        with speed.autocast():
            logits = model(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
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
                steps.append({"step_in_epoch": seen // len(yb), "train_loss": window_loss / window_seen, "train_acc": window_correct / window_seen})
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
        xb = normalize(data.images[idx].to(device), data.spec.mean, data.spec.std).contiguous(memory_format=memory_format)
        with speed.autocast():
            outputs.append(model(xb).float().cpu())
    return torch.cat(outputs)


def evaluate(model: nn.Module, data: ImageTensors, speed: SpeedSettings | None = None, batch_size: int = 1000) -> dict[str, float]:
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
    (when the run began, in its first call), "resumed" (one record per later call), "train_seconds"}``; ``lr`` is the learning rate at the start of the epoch. The model is trained in place and left in eval mode on ``device``.
    """
    from tqdm.auto import tqdm

    device = torch.device(device) if device is not None else pick_device()
    generator = seed_everything(config.seed)
    reuse_freed_memory()  # before the speed rule measures, since each epoch's evaluation sets it anyway
    model.to(device)
    state = None
    if resume is not None and Path(resume).is_file():
        state = _load_state(Path(resume), config, model, train_data, restart_hint or f"delete {resume} to start the run again")
    if state is not None:
        speed = _speed_from_record(state["history"]["speed"], device)  # keep the run's measured choice
    else:
        speed = choose_speed_settings(model, train_data.shape, config.batch_size, device, config.precision, config.channels_last)
    if speed.channels_last:
        model.to(memory_format=torch.channels_last)
    steps_per_epoch = max(1, len(train_data) // config.batch_size)
    optimizer = _make_optimizer(model, config)
    scheduler = _make_schedule(optimizer, config, steps_per_epoch)
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
        first_epoch, elapsed = _restore_state(state, model, optimizer, scheduler, generator, history)
    done_images = (first_epoch - 1) * steps_per_epoch * config.batch_size
    bar = tqdm(total=config.epochs * steps_per_epoch * config.batch_size, initial=done_images, unit="img", unit_scale=True, disable=not progress, desc="training")
    start = time.perf_counter() - elapsed
    try:
        for epoch in range(first_epoch, config.epochs + 1):
            t0 = time.perf_counter()
            record: dict[str, float] = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"]}
            epoch_result = train_one_epoch(model, train_data, optimizer, scheduler, config, speed, generator, bar)
            for step in epoch_result.pop("steps", []):
                history["steps"].append({"step": (epoch - 1) * steps_per_epoch + step.pop("step_in_epoch"), **step})
            record.update(epoch_result)
            if test_data is not None:
                result = evaluate(model, test_data, speed, config.eval_batch_size)
                record.update(test_loss=result["loss"], test_acc=result["acc"])
            record["seconds"] = time.perf_counter() - t0
            history["epochs"].append(record)
            if resume is not None:
                _save_state(Path(resume), model, optimizer, scheduler, generator, history, epoch, time.perf_counter() - start, train_data)
            bar.set_postfix(loss=f"{record['train_loss']:.3f}", test_acc=f"{record.get('test_acc', float('nan')):.4f}")
    finally:
        bar.close()
    history["train_seconds"] = time.perf_counter() - start
    model.eval()
    return history


# --------------------------------------------------------------------------- resumable runs


def utc_now() -> str:
    """The current UTC time as ISO 8601 to the second: how every log of the course timestamps."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


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


def _save_state(path: Path, model, optimizer, scheduler, generator: torch.Generator, history: dict, epoch: int, elapsed: float, data: ImageTensors) -> None:
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
    with atomic_write(path) as tmp:
        torch.save(state, tmp)


def read_resume_file(path: str | os.PathLike) -> dict[str, Any]:
    """The training state saved in a resume file; ``ValueError`` if it is not one (truncated, foreign, older format)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: torch raises many kinds of error
        raise ValueError(f"{path} cannot be read as a resume file ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
    if not isinstance(state, dict) or state.get("format") != RESUME_FORMAT:
        raise ValueError(f"{path} is not a resume file of format {RESUME_FORMAT}")
    return state


def config_differences(recorded: dict[str, Any] | None, config: TrainConfig) -> list[str]:
    """The names of the fields in which a recorded config (``asdict`` form) differs from ``config``."""
    now = asdict(config)
    return sorted(k for k in now if (recorded or {}).get(k) != now[k])


def _load_state(path: Path, config: TrainConfig, model: nn.Module, data: ImageTensors, again: str) -> dict[str, Any]:
    """Read a resume file and check that it belongs to a run of this model, on this data, with ``config``.

    ``again``: what the error messages tell the user to do to start afresh.
    """
    try:
        state = read_resume_file(path)
    except ValueError as exc:
        raise ValueError(f"{exc}; {again}") from None
    if state["config"] != asdict(config):
        changed = config_differences(state["config"], config)
        raise ValueError(f"{path} belongs to a run with another config (it differs in {changed}); {again}, or restore the old config")
    if state.get("model_identity", _model_identity(model)) != _model_identity(model):
        raise ValueError(f"{path} belongs to a run of another model (its layers or settings differ from this one's); {again}")
    if state.get("data_identity", _data_identity(data)) != _data_identity(data):
        raise ValueError(
            f"{path} was trained on {state['data_identity']!r}, this run has {_data_identity(data)!r}: continuing on other "
            f"data (or the same images in another order) would not be the same run; {again}"
        )
    return state


def _speed_from_record(record: dict[str, Any], device: torch.device) -> SpeedSettings:
    dtype = torch.bfloat16 if record["autocast_dtype"] == "bfloat16" and _bf16_supported(device) else None
    return SpeedSettings(str(device), dtype, bool(record["channels_last"]), record.get("measured_img_per_s", {}))


def _restore_state(state: dict[str, Any], model, optimizer, scheduler, generator: torch.Generator, history: dict) -> tuple[int, float]:
    """Put a saved training state into the given objects; return (next epoch, seconds already trained)."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    random.setstate(state["python_rng"])
    saved = state["history"]
    history.update({k: v for k, v in saved.items() if k != "hardware"})
    history["started_utc"] = saved.get("started_utc")  # None: a state file written before runs recorded their start
    history["resumed"] = saved.get("resumed", []) + [{"after_epoch": state["epoch"], "utc": utc_now(), "hardware": history["hardware"]}]
    history["hardware"] = saved["hardware"]
    return state["epoch"] + 1, float(state["elapsed"])
