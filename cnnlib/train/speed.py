"""Speed rule (``TrainConfig.precision="auto"``): bfloat16 autocast and the
channels-last memory format are used only when they are *measured* to help on
the hardware found. Before training, :func:`choose_speed_settings` times real
training steps of the model at the configured batch size in each of the four
combinations (float32 or bfloat16 autocast, contiguous or channels-last), in the
steady state (warm-up steps excluded; the median step of at least 3 steps and
0.5 s, in two interleaved rounds, each candidate keeping its best round), and
keeps the fastest, but only if it beats plain float32 by at least 10 %;
otherwise float32 is kept, so the numbers stay full precision whenever the
gain would be marginal. On CPUs with AMX or AVX-512-BF16 bfloat16 usually
wins for convolutional nets. On a CPU for which oneDNN has no bfloat16
kernels (:func:`cpu_has_bf16` false: AVX2-only processors, many laptops)
bfloat16 is not timed at all: it runs there about 20x slower than float32
(10 against 224 img/s for the ch09 speed-run's net on an AVX2 AMD EPYC), and
timing it made that run's set-up 480 s; without it, 101 s.
The decision is recorded in the history.
"""

from __future__ import annotations

import copy
import dataclasses
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..analysis.activations import eval_mode
from ..runtime import reuse_freed_memory
from .config import SpeedSettings

__all__ = ["choose_speed_settings", "cpu_has_bf16", "measure_training_speed", "speed_candidates"]

_SPEED_CACHE: dict[tuple, SpeedSettings] = {}


def _bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu"  # MPS autocast to bfloat16 is not reliable across releases: float32 there


def cpu_has_bf16() -> bool:
    """Whether oneDNN has bfloat16 kernels for this CPU (AVX-512 or AMX); on AVX2-only CPUs bfloat16
    still runs, through slow conversions, so it is never worth timing there."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _bf16_worth_timing(device: torch.device) -> bool:
    return _bf16_supported(device) and (device.type != "cpu" or cpu_has_bf16())


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
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    settings: SpeedSettings,
    min_steps: int = 3,
    min_seconds: float = 0.5,
    warmup: int = 2,
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
    """What the speed rule compares on ``device``: float32 and (where the hardware has it, on a CPU
    :func:`cpu_has_bf16`) bfloat16 autocast, each contiguous and channels-last (or only the memory
    format given)."""
    device = torch.device(device)
    formats = [False, True] if channels_last is None else [channels_last]
    dtypes: list[torch.dtype | None] = [None] + ([torch.bfloat16] if _bf16_worth_timing(device) else [])
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
    reuse_freed_memory()  # every training path passes here first; without it each batch's activations are fresh pages
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
    chosen = dataclasses.replace(
        candidates[best if rates[best] >= min_gain * rates[best_fp32] else best_fp32], measured=measured
    )
    _SPEED_CACHE[key] = chosen
    return chosen


def _num_outputs(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    with eval_mode(model), torch.no_grad():
        device = next(model.parameters()).device
        return model(torch.zeros((1, *input_shape), device=device)).shape[-1]
