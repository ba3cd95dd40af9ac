"""The training loop: plain functions, a frozen config, a returned history.

``fit(model, train, test, config)`` trains on whole-dataset uint8 tensors
(:class:`cnnlib.data.ImageTensors`), augmenting and normalising each batch on
the tensor, and returns one record per epoch. The loop never plots; the
history is for :mod:`cnnlib.viz`.

Speed rule (``TrainConfig.precision="auto"``): bfloat16 autocast and the
channels-last memory format are used only when they are *measured* to help on
the hardware found. Before training, :func:`choose_speed_settings` times real
training steps of the model at the configured batch size in each of the four
combinations (float32 or bfloat16 autocast, contiguous or channels-last), in the
steady state (warm-up steps excluded; the median step of at least 3 steps and
0.5 s, in two interleaved rounds, each candidate keeping its best round), and
keeps the fastest, but only if it beats plain float32 by at least 10 %;
otherwise float32 is kept, so the numbers stay full precision whenever the
gain would be marginal. On CPUs with AMX or AVX-512-BF16 bfloat16 usually
wins for convolutional nets; on older laptops it is slower than float32 and
is not chosen. The decision is recorded in the history.
"""

from __future__ import annotations

import copy
import ctypes
import dataclasses
import datetime
import functools
import hashlib
import math
import os
import platform
import random
import statistics
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
    "TrainingPlan",
    "available_cpus",
    "choose_speed_settings",
    "config_differences",
    "evaluate",
    "fit",
    "hardware_summary",
    "measure_training_speed",
    "pick_device",
    "plan_training",
    "predict",
    "read_resume_file",
    "reuse_freed_memory",
    "seed_everything",
    "speed_candidates",
    "steps_per_epoch",
    "train_one_epoch",
    "use_all_cores",
    "utc_now",
    "warmup_steps",
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


_TORCH_DEFAULT_THREADS = torch.get_num_threads()  # torch's own choice, read before anything changes it


def _cgroup_cpu_limit() -> float | None:
    """The CPU quota of this process's cgroup (a container's ``--cpus``), in CPUs; None if there is none."""
    try:  # cgroup v2: "max 100000" (no quota) or "200000 100000" (2 CPUs)
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1: a quota of -1 means none
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return None


def available_cpus() -> int:
    """The logical CPUs this process may run on: its affinity mask, capped by a container's CPU quota."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = _cgroup_cpu_limit()
    if limit is not None:
        n = min(n, int(limit))
    return max(1, n)


def _cpuinfo(field: str) -> str | None:
    """The value of the first ``field`` line of /proc/cpuinfo (Linux), or None."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.split(":", 1)[0].strip() == field:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def running_in_vm() -> bool:
    """Whether the CPU reports the ``hypervisor`` flag (Linux on x86 inside a virtual machine)."""
    return "hypervisor" in (_cpuinfo("flags") or "").split()


def use_all_cores(threads: int | None = None) -> int:
    """Give torch one CPU thread per core this process has, unless told otherwise.

    torch's own default is the number of *physical* cores that its cpuinfo library finds
    (c10's ``TaskThreadPoolBase::defaultNumThreads``). On real hardware that is right (a
    hyper-thread shares its core's vector units; Apple's efficiency cores are left out). In a
    virtual machine the topology is invented: a cloud VM often presents its two vCPUs as one
    core with two hyper-threads, and torch then trains on one thread. The zoo's first
    resnet20, plain20 and lenet5 runs did ("torch threads 1" in their logs): resnet20's epochs
    1-9 took 329-457 s; of its 21 epochs resumed with ``--threads 2``, 16 took 122-216 s.
    So: in a VM (:func:`running_in_vm`), one thread per vCPU; on real hardware, torch's
    choice; both capped by the CPUs the process may use (:func:`available_cpus`, which
    includes a container's quota: more threads than that only queue and thrash).

    Told otherwise means, in this order: ``threads`` (a CLI's ``--threads``), then
    ``$CNNLIB_THREADS``, then ``$OMP_NUM_THREADS`` or ``$MKL_NUM_THREADS`` (torch already
    honours those, so they are left alone). Every training entry point calls this: the
    notebooks (through :func:`cnnlib.nbtools.start`), ``python -m cnnlib.zoo``,
    ``python -m cnnlib.experiments``, the benchmarks and the test suite (``conftest.py``).
    Returns the number of threads torch now uses.
    """
    if threads is None and os.environ.get("CNNLIB_THREADS"):
        value = os.environ["CNNLIB_THREADS"]
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"$CNNLIB_THREADS must be a positive whole number of threads, not {value!r}")
        threads = int(value)
    if threads is None and (os.environ.get("OMP_NUM_THREADS") or os.environ.get("MKL_NUM_THREADS")):
        return torch.get_num_threads()
    if threads is not None and threads < 1:
        raise ValueError(f"the number of CPU threads must be at least 1, not {threads}")
    if threads is None:
        threads = available_cpus() if running_in_vm() else min(_TORCH_DEFAULT_THREADS, available_cpus())
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


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
    cpu = _cpuinfo("model name") or platform.processor() or platform.machine()
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


class _TrainingProbe:
    """SGD steps of a copy of ``model`` on one batch with one candidate's settings, each step timed."""

    def __init__(self, model: nn.Module, x: Tensor, y: Tensor, settings: SpeedSettings) -> None:
        memory_format = torch.channels_last if settings.channels_last else torch.contiguous_format
        self.model = copy.deepcopy(model).to(x.device).train().to(memory_format=memory_format)
        self.x, self.y, self.settings = x.to(memory_format=memory_format), y, settings
        self.opt = torch.optim.SGD(self.model.parameters(), lr=1e-3)

    def step(self) -> float:
        """One training step; returns its wall time in seconds (the device synchronised)."""
        start = time.perf_counter()
        with self.settings.autocast():
            loss = F.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)  # between steps, a probe holds no gradients
        _sync(self.x.device)
        return time.perf_counter() - start

    def rate(self, min_steps: int, min_seconds: float) -> float:
        """Images per second from the median of at least ``min_steps`` steps lasting ``min_seconds`` in all.

        The median, not the mean: one step interrupted by another process does not move it.
        """
        times: list[float] = []
        while len(times) < min_steps or sum(times) < min_seconds:
            times.append(self.step())
        return self.x.shape[0] / statistics.median(times)


def measure_training_speed(
    model: nn.Module, x: Tensor, y: Tensor, settings: SpeedSettings, min_steps: int = 3, min_seconds: float = 0.5, warmup: int = 2
) -> float:
    """Images per second of SGD steps on the batch ``(x, y)`` in the steady state (a copy of ``model`` is trained).

    ``warmup`` untimed steps first (the first steps pay for choosing and compiling kernels and
    for the allocator's first requests), then at least ``min_steps`` steps and ``min_seconds``
    seconds are timed; the rate is the batch size over the median step time.
    """
    probe = _TrainingProbe(model, x, y, settings)
    for _ in range(warmup):
        probe.step()
    return probe.rate(min_steps, min_seconds)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def speed_candidates(device: torch.device | str, channels_last: bool | None = None) -> list[SpeedSettings]:
    """What the speed rule compares on ``device``: float32 and (where supported) bfloat16 autocast,
    each contiguous and channels-last (or only the memory format given)."""
    device = torch.device(device)
    formats = [False, True] if channels_last is None else [channels_last]
    dtypes: list[torch.dtype | None] = [None] + ([torch.bfloat16] if _bf16_supported(device) else [])
    return [SpeedSettings(str(device), dtype, cl) for dtype in dtypes for cl in formats]


def choose_speed_settings(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    batch_size: int,
    device: torch.device,
    precision: str = "auto",
    channels_last: bool | None = None,
    steps: int = 3,
    min_gain: float = 1.10,
    rounds: int = 2,
    min_seconds: float = 0.5,
) -> SpeedSettings:
    """Pick autocast dtype and memory format by measuring (``precision="auto"``) or as told.

    The measurement, for the up to four candidates (float32 or bfloat16 autocast, contiguous or
    channels-last), each training its own copy of the model on one random batch:

    1. two warm-up steps each; a candidate whose second step takes over 3x as long as the
       fastest candidate's is dropped there (on CPUs without bfloat16 units, bfloat16 runs
       3-10x slower, and its remaining steps would only cost time);
    2. ``rounds`` rounds through the remaining candidates, each timing at least ``steps`` steps
       and ``min_seconds`` seconds and taking the median step; a candidate keeps its best
       round. Interleaving the rounds gives every candidate a turn in each state of a machine
       whose speed drifts (a VM's neighbours, turbo); after the first round, a candidate at
       under half the leader's rate is dropped.

    The fastest candidate is chosen if it beats the best float32 one by ``min_gain`` (10 %),
    otherwise float32. ``SpeedSettings.measured`` holds every candidate's img/s (for one
    dropped after warm-up, the rate of its second step).
    """
    device = torch.device(device)
    if precision == "fp32":
        return SpeedSettings(str(device), None, bool(channels_last))
    if precision == "bf16":
        if not _bf16_supported(device):
            raise ValueError(f"bfloat16 autocast is not supported on {device}; use precision='fp32' or 'auto'")
        return SpeedSettings(str(device), torch.bfloat16, bool(channels_last))
    if precision != "auto":
        raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', not {precision!r}")
    if rounds < 1 or steps < 1:
        raise ValueError(f"rounds and steps must be at least 1, not {rounds} and {steps}")

    n_params = sum(p.numel() for p in model.parameters())
    key = (type(model).__name__, n_params, input_shape, batch_size, str(device), channels_last, torch.get_num_threads())
    if key in _SPEED_CACHE:
        return _SPEED_CACHE[key]
    gen = torch.Generator().manual_seed(0)
    num_classes = _num_outputs(model, input_shape)
    x = torch.randn((batch_size, *input_shape), generator=gen).to(device)
    y = torch.randint(0, num_classes, (batch_size,), generator=gen).to(device)
    candidates = speed_candidates(device, channels_last)
    # The timed steps run dropout on the global generator a time-dependent number of times:
    # fork it, so that the training run that follows stays reproducible.
    with torch.random.fork_rng(devices=[]):
        probes = [_TrainingProbe(model, x, y, c) for c in candidates]
        rates = []
        for probe in probes:
            probe.step()
            rates.append(batch_size / probe.step())  # the second step: past most one-time costs
        active = [i for i, r in enumerate(rates) if r * 3 >= max(rates)]
        timed = list(active)
        for i in active:
            rates[i] = 0.0  # replaced by the rounds' figures
        for _ in range(rounds):
            for i in active:
                rates[i] = max(rates[i], probes[i].rate(steps, min_seconds))
            leader = max(rates[i] for i in active)
            active = [i for i in active if rates[i] >= 0.5 * leader]
        del probes
    measured = {c.label: round(r, 1) for c, r in zip(candidates, rates)}
    # the choice is among the candidates timed in the rounds: a dropped one's figure is a single step
    best = max(timed, key=rates.__getitem__)
    best_fp32 = max((i for i in timed if candidates[i].autocast_dtype is None), default=best, key=rates.__getitem__)
    chosen = dataclasses.replace(candidates[best if rates[best] >= min_gain * rates[best_fp32] else best_fp32], measured=measured)
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


def steps_per_epoch(images: int, batch_size: int) -> int:
    """Optimiser steps in one epoch of ``images`` (the last, partial batch is dropped when there is a full one)."""
    return max(1, images // batch_size)


def warmup_steps(config: TrainConfig, total_steps: int) -> int:
    """How many of ``total_steps`` the one-cycle schedule spends warming up (0 for the other schedules)."""
    return max(1, int(config.warmup_fraction * total_steps)) if config.schedule == "onecycle" else 0


def _make_schedule(optimizer: torch.optim.Optimizer, config: TrainConfig, epoch_steps: int):
    total = max(1, config.epochs * epoch_steps)
    warm = warmup_steps(config, total)
    if config.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total)))
    if config.schedule == "onecycle":
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
    reuse_freed_memory()  # before the speed rule measures, since each epoch's evaluation sets it anyway
    model.to(device)
    state = None
    if resume is not None and Path(resume).is_file():
        state = _load_state(Path(resume), config, model, train_data, restart_hint or f"delete {resume} to start the run again")
    if state is not None:
        speed = _speed_from_record(state["history"]["speed"], device)  # keep the run's measured choice
    else:
        speed = choose_speed_settings(model, train_data.shape, config.batch_size, device, config.precision, config.channels_last)
    # Seeded after the speed rule: its timed steps draw dropout masks on the device's generator a
    # time-dependent number of times (fork_rng protects only the CPU's), and whether it measures at
    # all depends on its cache, so seeding first would make the run depend on both.
    generator = seed_everything(config.seed)
    if speed.channels_last:
        model.to(memory_format=torch.channels_last)
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
        first_epoch, elapsed = _restore_state(state, model, optimizer, scheduler, generator, history)
    done_images = (first_epoch - 1) * epoch_steps * config.batch_size
    bar = tqdm(total=config.epochs * epoch_steps * config.batch_size, initial=done_images, unit="img", unit_scale=True, disable=not progress, desc="training")
    start = time.perf_counter() - elapsed
    try:
        for epoch in range(first_epoch, config.epochs + 1):
            t0 = time.perf_counter()
            record: dict[str, float] = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"]}
            epoch_result = train_one_epoch(model, train_data, optimizer, scheduler, config, speed, generator, bar)
            for step in epoch_result.pop("steps", []):
                history["steps"].append({"step": (epoch - 1) * epoch_steps + step.pop("step_in_epoch"), **step})
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


# --------------------------------------------------------------------------- live training on a budget


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
            return (f"Budget: {requested} {takes} about {self.estimated_seconds:.0f} s of training and evaluation here "
                    f"at {rate}, within the training budget of {self.budget_seconds:.0f} s: the full recipe runs.")
        what = _epochs(self.config.epochs)
        if len(self.train_data) < self.requested_images:
            what += f" on {len(self.train_data):,} of the {self.requested_images:,} training images"
        over = ("; that is still over the budget: this machine is slower than the course is sized for"
                if self.estimated_seconds > 1.05 * self.budget_seconds else "")
        these = "this epoch" if self.config.epochs == 1 else f"these {self.config.epochs} epochs"
        return (f"Budget: {requested} would take about {self.full_seconds:.0f} s of training and evaluation here at "
                f"{rate}, over the training budget of {self.budget_seconds:.0f} s, so this run trains {what} (about "
                f"{self.estimated_seconds:.0f} s{over}). The learning rate's warm-up and decay are rescaled to {these}: "
                f"a shorter run, not the start of the longer one. Results below are for this shorter run.")


def _epochs(n: int) -> str:
    return f"{n} epoch{'s' * (n != 1)}"


def _loop_rates(model: nn.Module, train_data: ImageTensors, test_data: ImageTensors | None, config: TrainConfig,
                speed: SpeedSettings, min_seconds: float = 0.5) -> tuple[float, float | None]:
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
    reuse_freed_memory()  # as fit() does before it measures
    speed = choose_speed_settings(model.to(device), train_data.shape, config.batch_size, device, config.precision, config.channels_last)
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
