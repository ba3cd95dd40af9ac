"""A CPU speed-run of CIFAR-10: the training recipe of ``airbench94`` (Jordan 2024), re-implemented.

K. Jordan, *94% on CIFAR-10 in 3.29 Seconds on a Single GPU*, 2024 (https://arxiv.org/abs/2404.00498),
building on D. Page's DAWNBench ResNet and tysam-code's hlb-CIFAR10. The network is
:class:`cnnlib.models.speedrun.SpeedrunNet`; this module is everything else:

- **data in memory**: the 50,000 training images normalised once; each epoch, a random translation by
  up to ``translate`` pixels (reflection padding) and a horizontal flip, then batches in a random
  order (no worker processes: the whole epoch is a few tensor operations);
- **alternating flips** (:func:`flip_mask`): every image is flipped in every other epoch, starting on
  a random side, instead of a fresh coin per epoch, so no image is seen unflipped twice in a row;
- **Nesterov SGD** on the *summed* loss with label smoothing, a triangular learning-rate schedule,
  decoupled weight decay, and the batch-norm shifts trained with a 64x larger learning rate;
- **the whitening layer's bias** is trained for the first epochs only; its weights never;
- **lookahead** (:class:`Lookahead`): every 5 steps the weights move to an exponential moving average
  of themselves, with a decay that rises to 0.95^5 by the end; the final weights are the average;
- **test-time augmentation** (:func:`tta_logits`): the image and its mirror, each also shifted by one
  pixel both ways, six forward passes in all.

CPU-specific: bfloat16 autocast and channels-last only if :func:`cnnlib.train.choose_speed_settings`
measures them faster here; all threads of the process; the compute is counted with PyTorch's FLOP
counter (:func:`training_flops`), and the convolution peak of the machine is measured by
:func:`conv_peak_tflops` so that the run's throughput can be read against it.
"""

from __future__ import annotations

import copy
import math
import textwrap
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ...analysis.summary import median_seconds
from ...data import ImageTensors, normalize
from ...models.speedrun import ShiftOnlyBatchNorm, SpeedrunNet, whitening_init_
from ...presentation.slides import MAX_COLUMNS
from ...runtime import cpu_capability, hardware_summary, processor_name, seed_everything
from ...train import SpeedSettings, choose_speed_settings

__all__ = [
    "ABLATIONS",
    "AIRBENCH_ABLATION_PUBLISHED",
    "AIRBENCH_PUBLISHED",
    "ablation_experiment",
    "ablation_findings",
    "ablation_rows",
    "run_machine",
    "run_rows",
    "Lookahead",
    "SpeedrunConfig",
    "conv_peak_tflops",
    "flip_mask",
    "lr_schedule",
    "mean_step_seconds",
    "PEAK_LARGER_LAYER",
    "speedrun",
    "profile_findings",
    "profile_rows",
    "step_profile",
    "training_flops",
    "translate_crops",
    "tta_logits",
]


@dataclass(frozen=True)
class SpeedrunConfig:
    """The speed-run recipe; defaults are airbench94's (learning rate and weight decay in its units:
    per 1,024 examples, before the Nesterov scale; see :func:`_optimizer`)."""

    epochs: float = 9.9
    batch_size: int = 1024
    lr: float = 11.5
    momentum: float = 0.85
    weight_decay: float = 0.0153
    bias_scaler: float = 64.0  # learning-rate factor of the batch-norm shifts
    label_smoothing: float = 0.2
    whiten_bias_epochs: int = 3
    translate: int = 2  # pixels, with reflection padding
    flip: str = "alternating"  # "alternating", "random" or "none"
    lookahead: bool = True
    tta_level: int = 2  # 0: the image; 1: + its mirror; 2: + both shifted by one pixel
    whitening: bool = True  # False: the first layer keeps PyTorch's random initialisation
    identity_init: bool = True  # False: the 3x3 convolutions keep PyTorch's initialisation
    widths: tuple[int, int, int] = (64, 256, 256)
    lr_points: tuple[float, float, float] = (0.2, 0.23, 0.07)  # start factor, peak position, end factor
    precision: str = "auto"  # "auto" (measured), "fp32" or "bf16"
    train_images: int | None = None  # a fixed random subset (quick mode); None: all 50,000
    test_images: int | None = None

    def __post_init__(self) -> None:
        if self.flip not in ("alternating", "random", "none"):
            raise ValueError(f"flip must be 'alternating', 'random' or 'none', not {self.flip!r}")
        if self.tta_level not in (0, 1, 2):
            raise ValueError(f"tta_level must be 0, 1 or 2, not {self.tta_level}")
        if self.epochs <= 0 or self.batch_size < 1:
            raise ValueError(f"need epochs > 0 and batch_size >= 1, not {self.epochs} and {self.batch_size}")


# One ingredient removed at a time (the ablation): name -> the change to the final recipe.
ABLATIONS: dict[str, dict[str, Any]] = {
    "no whitening init": {"whitening": False},
    "no identity init": {"identity_init": False},
    "no label smoothing": {"label_smoothing": 0.0},
    "random flips": {"flip": "random"},
    "no translation": {"translate": 0},
    "no lookahead": {"lookahead": False},
    "BN shift lr x1": {"bias_scaler": 1.0},
}  # "no TTA" needs no training: every run also records its accuracy without TTA (see ablation_rows)


# Jordan 2024 (arXiv:2404.00498, Sec. 1), on one NVIDIA A100; the Muon record as the issue cites it.
AIRBENCH_PUBLISHED = {
    "airbench94": {"test_acc_mean": 0.9401, "seconds": 3.83, "pflop": 0.36, "note": "9.9 epochs, uncompiled"},
    "airbench94, compiled": {"test_acc_mean": 0.9401, "seconds": 3.29, "pflop": 0.36, "note": "torch.compile"},
    "airbench94_muon": {"test_acc_mean": 0.9401, "seconds": 2.59, "pflop": 0.29, "note": "the Muon optimiser"},
}

# airbench's own ablation (github.com/KellerJordan/cifar10-zoo, airbench_ablations/README.md): features added
# one after another, and the epochs each version needs to average 94 % (A100 seconds; evidence: mean accuracy
# over n runs). It adds features rather than removing them, so it answers "how many epochs does it save".
AIRBENCH_ABLATION_PUBLISHED = [
    {"feature": "baseline: standard init, Nesterov SGD, crop + flip, flip TTA", "epochs": 35.0, "seconds": 14.5},
    {"feature": "+ whitening init of the first layer", "epochs": 21.0, "seconds": 8.6},
    {"feature": "+ identity (dirac) init of the convolutions", "epochs": 18.0, "seconds": 7.3},
    {"feature": "+ BN shifts' learning rate x64", "epochs": 13.5, "seconds": 5.5},
    {"feature": "+ first-layer bias frozen after 3 epochs", "epochs": 13.5, "seconds": 5.2},
    {"feature": "+ lookahead", "epochs": 12.0, "seconds": 4.6},
    {"feature": "+ multi-crop TTA", "epochs": 10.8, "seconds": 4.3},
    {"feature": "+ alternating flip", "epochs": 9.9, "seconds": 3.95},
]


def run_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per run of a ``speedrun_cifar10`` result, for :func:`cnnlib.nbtools.show_table`: accuracy with and
    without TTA (%), training seconds, images/s, counted PFLOP, TFLOP/s and its share of the measured peak (%)."""
    peak = max(v for p in result["peak_tflops"].values() if p for v in p.values())
    return [
        {
            "seed": r["seed"],
            "acc": 100 * r["test_acc"],
            "acc_plain": 100 * r["test_acc_no_tta"],
            "seconds": r["train_seconds"],
            "img_s": r["images_per_second"],
            "pflop": r["train_pflop"],
            "tflops": r["achieved_tflops"],
            "of_peak": 100 * r["achieved_tflops"] / peak,
        }
        for r in result["runs"]
    ]


def ablation_experiment(label: str) -> str:
    """The name of the stored experiment that removes ingredient ``label`` of :data:`ABLATIONS`:
    ``"no whitening init"`` -> ``"speedrun_no_whitening_init"``."""
    if label not in ABLATIONS:
        raise KeyError(f"unknown ingredient {label!r}; known: {', '.join(ABLATIONS)}")
    return "speedrun_" + "".join(c if c.isalnum() else "_" for c in label.lower()).strip("_")


def run_machine(run: dict[str, Any]) -> str:
    """Where a stored run trained, in a few words: the processor, ATen's CPU capability and the precision
    the speed rule chose, e.g. ``"Intel Xeon Processor (AVX512), bfloat16"`` or ``"AMD EPYC (AVX2), float32"``."""
    precision = run["precision"]["autocast_dtype"] or "float32"
    return f"{processor_name(run['hardware'])} ({cpu_capability(run['hardware'])}), {precision}"


def ablation_rows(ablations: dict[str, dict[str, Any]], recipe: dict[str, Any]) -> list[dict[str, Any]]:
    """Stored ablation results (``{label: result}``, any subset of :data:`ABLATIONS`) beside the full recipe's
    runs and the same runs evaluated without test-time augmentation. Per row: the test accuracy of each seed
    and their mean (%), the change of the mean against the recipe's (points), the mean training seconds, and
    the machine the runs trained on (:func:`run_machine`; rows from different CPUs differ in seconds only)."""

    def row(removed: str, result: dict[str, Any]) -> dict[str, Any]:
        s = result["summary"]
        return {
            "removed": removed,
            "accs": [100 * r["test_acc"] for r in result["runs"]],
            "acc": 100 * s["test_acc_mean"],
            "change": 100 * (s["test_acc_mean"] - recipe["summary"]["test_acc_mean"]),
            "seconds": s["train_seconds_mean"],
            "machine": " / ".join(dict.fromkeys(run_machine(r) for r in result["runs"])),
        }

    no_tta = {
        "runs": [{**r, "test_acc": r["test_acc_no_tta"]} for r in recipe["runs"]],
        "summary": {
            "test_acc_mean": sum(r["test_acc_no_tta"] for r in recipe["runs"]) / len(recipe["runs"]),
            "train_seconds_mean": recipe["summary"]["train_seconds_mean"],
        },
    }
    return [row("nothing (the recipe)", recipe), row("no TTA (the recipe's runs)", no_tta)] + [
        row(label, result) for label, result in ablations.items()
    ]


def ablation_findings(
    ablations: dict[str, dict[str, Any]], recipe: dict[str, Any], float32: dict[str, Any]
) -> list[str]:
    """How finely the ablation table resolves, as sentences computed from the stored runs: the seed noise of a
    row's change (with the recipe's seed standard deviation ``sd``, ``sd * sqrt(1/n + 1/m)`` for an n-seed
    mean against the recipe's m-seed one), the rows whose change exceeds twice that (largest loss first) and
    those within it, and the recipe trained in float32 (a ``speedrun_float32`` result) against the range of
    the recipe's seeds, which the rows trained in float32 are read against."""
    accs = [100 * r["test_acc"] for r in recipe["runs"]]
    sd = 100 * recipe["summary"]["test_acc_std"]
    lines = []
    if ablations:
        n = min(len(result["runs"]) for result in ablations.values())
        noise = sd * math.sqrt(1 / n + 1 / len(accs))
        lines.append(
            f"the recipe's {len(accs)} seeds spread by sd {sd:.2f} points, so a change measured with {n} seeds "
            f"carries a seed noise of about {noise:.2f} points (sd x sqrt(1/{n} + 1/{len(accs)})): changes "
            f"within ±{2 * noise:.2f} are not resolved"
        )
        changes = sorted(ablation_rows(ablations, recipe)[1:], key=lambda row: row["change"])
        for name, keep in (("resolved, largest loss first", True), ("within the noise", False)):
            named = [f"{row['removed']} {row['change']:+.2f}" for row in changes
                     if (abs(row["change"]) > 2 * noise) == keep]  # fmt: skip
            lines.append(f"{name}: {', '.join(named) or 'none'}")
    f32 = float32["runs"][0]
    acc = 100 * f32["test_acc"]
    where = "inside" if min(accs) <= acc <= max(accs) else "outside"
    lines.append(
        f"the recipe in float32 (seed {f32['seed']}, {run_machine(f32)}): {acc:.2f} %, {where} the range of its "
        f"{len(accs)} runs above ({min(accs):.2f}-{max(accs):.2f} %, {run_machine(recipe['runs'][0])})"
    )
    return [_slide_wrap(line) for line in lines]


def _slide_wrap(sentence: str) -> str:
    """A printed sentence folded to a slide's width (``MAX_COLUMNS``), continuation lines indented."""
    return textwrap.fill(sentence, MAX_COLUMNS, subsequent_indent="  ", break_on_hyphens=False)


def lr_schedule(total_steps: int, points: tuple[float, float, float] = (0.2, 0.23, 0.07)) -> Tensor:
    """The learning-rate factor at each step 0..total_steps: linear from ``start`` up to 1 at
    ``peak * total_steps``, then linear down to ``end`` (airbench's triangle)."""
    start, peak, end = points
    x = torch.arange(total_steps + 1, dtype=torch.float64)
    top = max(1, int(peak * total_steps))
    up = start + (1 - start) * x / top
    down = 1 + (end - 1) * (x - top) / max(1, total_steps - top)
    return torch.where(x <= top, up, down).float()


def flip_mask(n: int, epoch: int, mode: str, generator: torch.Generator, first: Tensor | None = None) -> Tensor:
    """Which of ``n`` images to flip in ``epoch``.

    ``"alternating"``: ``first`` (one random bit per image, drawn once per run) in even epochs and its
    complement in odd ones, so each image alternates sides; ``"random"``: a fresh coin per image and
    epoch; ``"none"``: no flips.
    """
    if mode == "none":
        return torch.zeros(n, dtype=torch.bool)
    if mode == "random":
        return torch.rand(n, generator=generator) < 0.5
    if mode != "alternating":
        raise ValueError(f"unknown flip mode {mode!r}")
    if first is None or first.shape != (n,):
        raise ValueError("alternating flips need the run's first-epoch mask (one bool per image)")
    return first if epoch % 2 == 0 else ~first


def translate_crops(padded: Tensor, shift: int, generator: torch.Generator) -> Tensor:
    """Random crops of ``padded`` (N x C x (H + 2 shift) x (W + 2 shift)): each image shifted by up to
    ``shift`` pixels in each direction, one offset pair per image."""
    if shift == 0:
        return padded
    n = padded.shape[0]
    h, w = padded.shape[2] - 2 * shift, padded.shape[3] - 2 * shift
    dy = torch.randint(0, 2 * shift + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * shift + 1, (n,), generator=generator)
    out = torch.empty((n, padded.shape[1], h, w), dtype=padded.dtype)
    for i in range(2 * shift + 1):
        for j in range(2 * shift + 1):
            idx = ((dy == i) & (dx == j)).nonzero().flatten()
            if len(idx):
                out[idx] = padded[idx, :, i : i + h, j : j + w]
    return out


class Lookahead:
    """An exponential moving average of all float state (weights and batch-norm statistics) that the
    model is reset to at each :meth:`update`: ``avg = decay * avg + (1 - decay) * model; model = avg``."""

    def __init__(self, model: nn.Module) -> None:
        self.average = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float) -> None:
        for key, value in model.state_dict().items():
            if value.is_floating_point():
                self.average[key].lerp_(value, 1.0 - decay)
                value.copy_(self.average[key])


@torch.no_grad()
def tta_logits(model: nn.Module, x: Tensor, level: int, batch_size: int = 2000) -> Tensor:
    """The model's logits (float32) for normalised images ``x``, averaged over test-time views.

    level 0: the image; level 1: the image and its mirror (mean); level 2: the level-1 answer averaged
    with the level-1 answers of the image shifted by one pixel up-left and down-right (reflection
    padding), weights 1/2, 1/4, 1/4: six forward passes, as airbench94.
    """
    model.eval()

    def mirror(v: Tensor) -> Tensor:
        return model(v).float() if level == 0 else 0.5 * (model(v).float() + model(v.flip(-1)).float())

    out = []
    for start in range(0, x.shape[0], batch_size):
        v = x[start : start + batch_size]
        logits = mirror(v)
        if level == 2:
            padded = F.pad(v, (1, 1, 1, 1), mode="reflect")
            h, w = v.shape[-2:]
            shifted = 0.5 * (mirror(padded[..., :h, :w]) + mirror(padded[..., 2 : 2 + h, 2 : 2 + w]))
            logits = 0.5 * logits + 0.5 * shifted
        out.append(logits)
    return torch.cat(out)


def training_flops(model: nn.Module, x: Tensor, y: Tensor, speed: SpeedSettings, label_smoothing: float) -> int:
    """FLOPs of one training step (forward and backward) on the batch ``x``, counted by
    ``torch.utils.flop_counter.FlopCounterMode`` on a copy of the model (the model is not changed)."""
    from torch.utils.flop_counter import FlopCounterMode

    probe = copy.deepcopy(model).train()
    with FlopCounterMode(display=False) as counter:
        with speed.autocast():
            loss = F.cross_entropy(probe(x).float(), y, label_smoothing=label_smoothing, reduction="sum")
        loss.backward()
    return int(counter.get_total_flops())


# The one layer :func:`conv_peak_tflops` times that is not a layer of the speed-run network.
PEAK_LARGER_LAYER = "256->256 @16, batch 256"


def conv_peak_tflops(dtype: torch.dtype, repeats: int = 5) -> dict[str, float]:
    """The forward-convolution throughput this process reaches (TFLOP/s, 2 FLOPs per multiply-add; median of
    ``repeats`` runs), channels-last, on the speed-run's own 3x3 layer shapes at batch 1,024 and on one larger
    layer. ``dtype`` float32 or bfloat16 (run directly in that type, not under autocast)."""
    shapes = {  # (batch, in, out, size)
        "64->256 @15": (1024, 64, 256, 15),
        "256->256 @7": (1024, 256, 256, 7),
        PEAK_LARGER_LAYER: (256, 256, 256, 16),
    }
    results = {}
    with torch.inference_mode():
        for name, (n, cin, cout, size) in shapes.items():
            conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False).to(dtype=dtype, memory_format=torch.channels_last)
            x = torch.randn(n, cin, size, size, dtype=dtype).to(memory_format=torch.channels_last)
            seconds = median_seconds(lambda: conv(x), warmup=2, repeats=repeats)
            results[name] = 2 * n * cin * cout * 9 * size * size / seconds / 1e12
    return results


def _optimizer(model: nn.Module, config: SpeedrunConfig) -> torch.optim.SGD:
    """Nesterov SGD on the summed loss. airbench's units: ``lr`` and ``weight_decay`` are per 1,024
    examples and divided by 1,024 (1 + 1 / (1 - momentum)), the size of a Nesterov step relative to
    one gradient if gradients were constant, so that the step size does not depend on the momentum.
    Weight decay is decoupled from the learning rate (``wd / lr`` is passed to PyTorch, which multiplies
    it by the learning rate again). Batch-norm shifts get ``bias_scaler`` times the learning rate."""
    kilostep = 1024 * (1 + 1 / (1 - config.momentum))
    lr = config.lr / kilostep
    wd = config.weight_decay * config.batch_size / kilostep
    lr_bias = lr * config.bias_scaler
    norm_ids = {id(m.bias) for m in model.modules() if isinstance(m, ShiftOnlyBatchNorm)}
    trainable = [p for p in model.parameters() if p.requires_grad]
    shifts = [p for p in trainable if id(p) in norm_ids]
    others = [p for p in trainable if id(p) not in norm_ids]
    groups = [
        {"params": shifts, "lr": lr_bias, "weight_decay": wd / lr_bias},
        {"params": others, "lr": lr, "weight_decay": wd / lr},
    ]
    return torch.optim.SGD(groups, momentum=config.momentum, nesterov=True)


def build_model(config: SpeedrunConfig, whitening_images: Tensor | None) -> SpeedrunNet:
    """The network of ``config``: identity-initialised or not, whitened from ``whitening_images`` or not."""
    model = SpeedrunNet(widths=config.widths)
    if not config.identity_init:
        for m in model.blocks.modules():
            if isinstance(m, nn.Conv2d):
                m.reset_parameters()
    if config.whitening:
        if whitening_images is None:
            raise ValueError("the whitening initialisation needs training images")
        whitening_init_(model.whiten, whitening_images)
    else:
        model.whiten.weight.requires_grad_(True)  # trained like any other layer
    return model


def speedrun(
    train: ImageTensors,
    test: ImageTensors,
    config: SpeedrunConfig = SpeedrunConfig(),
    seed: int = 0,
    device: torch.device | str = "cpu",
    log: Callable[[str], None] | None = print,
    eval_every_epoch: bool = True,
) -> dict[str, Any]:
    """Train :class:`SpeedrunNet` from scratch with ``config`` and measure it.

    Returns a record (JSON-ready): the test accuracy with the configured test-time augmentation and
    without any, the training wall time (data augmentation included; the per-epoch test evaluations,
    the FLOP count and the speed measurement excluded and timed separately), epochs and steps,
    images per second, the counted training FLOPs and the achieved TFLOP/s, the precision and the
    hardware, and a per-epoch curve (training loss; test accuracy without TTA).
    """
    device = torch.device(device)
    generator = seed_everything(seed)
    if config.train_images:
        train = train.subset(config.train_images, seed=seed)
    if config.test_images:
        test = test.subset(config.test_images, seed=0)
    mean, std = train.spec.mean, train.spec.std
    train_x = normalize(train.images, mean, std)
    test_x = normalize(test.images, mean, std).to(device)
    train_y, test_y = train.labels, test.labels.to(device)
    padded = F.pad(train_x, (config.translate,) * 4, mode="reflect") if config.translate else train_x

    model = build_model(config, train_x[:5000]).to(device)
    n = len(train)
    steps_per_epoch = n // config.batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"{n} training images are fewer than one batch of {config.batch_size}")
    total_steps = math.ceil(steps_per_epoch * config.epochs)

    overhead = time.perf_counter()
    speed = choose_speed_settings(model, (3, 32, 32), config.batch_size, device, config.precision, None)
    if speed.channels_last:
        model = model.to(memory_format=torch.channels_last)
    xb, yb = train_x[: config.batch_size].to(device), train_y[: config.batch_size].to(device)
    if speed.channels_last:
        xb = xb.contiguous(memory_format=torch.channels_last)
    flops_with_bias = training_flops(model, xb, yb, speed, config.label_smoothing)
    model.whiten.bias.requires_grad_(False)
    flops_frozen = training_flops(model, xb, yb, speed, config.label_smoothing)
    model.whiten.bias.requires_grad_(True)
    overhead = time.perf_counter() - overhead

    optimizer = _optimizer(model, config)
    schedule = lr_schedule(total_steps, config.lr_points)
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    decays = 0.95**5 * (torch.arange(total_steps + 1) / total_steps) ** 3
    lookahead = Lookahead(model) if config.lookahead else None
    first_flips = torch.rand(n, generator=generator) < 0.5
    if log:
        log(
            f"speed-run, seed {seed}: {n:,} images, {total_steps} steps of {config.batch_size} "
            f"({config.epochs} epochs); {speed.describe()}; {hardware_summary(device)}"
        )

    curve, step, train_seconds, eval_seconds, counted = [], 0, 0.0, 0.0, 0
    for epoch in range(math.ceil(config.epochs)):
        start = time.perf_counter()
        bias_trains = config.whitening and epoch < config.whiten_bias_epochs
        model.whiten.bias.requires_grad_(bias_trains or not config.whitening)
        images = translate_crops(padded, config.translate, generator)
        flips = flip_mask(n, epoch, config.flip, generator, first_flips)
        images[flips] = images[flips].flip(-1)
        order = torch.randperm(n, generator=generator)
        model.train()
        losses = []
        for b in range(steps_per_epoch):
            if step >= total_steps:
                break
            idx = order[b * config.batch_size : (b + 1) * config.batch_size]
            x, y = images[idx].to(device), train_y[idx].to(device)
            if speed.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with speed.autocast():
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing, reduction="sum")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for group, base in zip(optimizer.param_groups, base_lrs):
                group["lr"] = base * schedule[step].item()
            optimizer.step()
            step += 1
            counted += flops_with_bias if bias_trains or not config.whitening else flops_frozen
            losses.append(loss.item() / len(idx))
            if lookahead is not None and step % 5 == 0:
                lookahead.update(model, float(decays[step]))
        if lookahead is not None and step >= total_steps:
            lookahead.update(model, 1.0)  # the final weights are the average
        train_seconds += time.perf_counter() - start
        point = {
            "epoch": epoch + 1,
            "step": step,
            "train_loss": sum(losses) / max(1, len(losses)),
            "seconds": round(train_seconds, 2),
        }
        if eval_every_epoch or step >= total_steps:
            start = time.perf_counter()
            with speed.autocast():
                point["test_acc"] = (tta_logits(model, test_x, 0).argmax(1) == test_y).float().mean().item()
            eval_seconds += time.perf_counter() - start
        curve.append(point)
        if log:
            tested = f"test {100 * point['test_acc']:.2f} % (no TTA)" if "test_acc" in point else "test not evaluated"
            log(f"  epoch {epoch + 1:2d}: loss {point['train_loss']:.3f}, {tested}, {train_seconds:.0f} s")
    start = time.perf_counter()
    with speed.autocast():
        logits = tta_logits(model, test_x, config.tta_level)
    test_acc = (logits.argmax(1) == test_y).float().mean().item()
    tta_seconds = time.perf_counter() - start
    record = {
        "seed": seed,
        "test_acc": test_acc,
        "test_acc_no_tta": curve[-1]["test_acc"],
        "tta_level": config.tta_level,
        "train_seconds": round(train_seconds, 2),
        "epochs": config.epochs,
        "steps": step,
        "train_images": n,
        "test_images": len(test),
        "images_per_second": round(step * config.batch_size / train_seconds, 1),
        "train_pflop": counted / 1e15,
        "achieved_tflops": counted / train_seconds / 1e12,
        "flops_per_step": {"whitening bias trained": flops_with_bias, "whitening frozen": flops_frozen},
        "eval_seconds": round(eval_seconds, 2),
        "tta_seconds": round(tta_seconds, 2),
        "setup_seconds": round(overhead, 2),
        "precision": speed.to_record(),
        "hardware": hardware_summary(device),
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        "curve": curve,
    }
    if log:
        log(
            f"  test accuracy {100 * test_acc:.2f} % (TTA level {config.tta_level}), "
            f"{record['train_seconds']:.0f} s training, {record['train_pflop']:.3f} PFLOP counted, "
            f"{record['achieved_tflops']:.3f} TFLOP/s"
        )
    return record


PROFILE_GROUPS = {  # ATen operator -> the part of a training step it belongs to
    "aten::mkldnn_convolution": "convolutions, forward",
    "aten::convolution_backward": "convolutions, backward",
    "aten::max_pool2d_with_indices": "max pooling, forward",
    "aten::max_pool2d_with_indices_backward": "max pooling, backward",
    "aten::native_batch_norm": "batch norm, forward",
    "aten::native_batch_norm_backward": "batch norm, backward",
    "aten::gelu": "GELU, forward",
    "aten::gelu_backward": "GELU, backward",
}


def step_profile(
    config: SpeedrunConfig = SpeedrunConfig(), speed: SpeedSettings | None = None, steps: int = 3
) -> dict[str, Any]:
    """Where the time of a training step goes: ``torch.profiler`` over ``steps`` steps of the speed-run network
    on a random batch of ``config.batch_size`` images (after two warm-up steps), the operators' total CPU time
    (children included) per step grouped by :data:`PROFILE_GROUPS`, the optimiser step, and the rest; and the
    time of one epoch's data augmentation (translation and flips of 50,000 normalised images)."""
    from torch.profiler import ProfilerActivity, profile

    speed = speed or choose_speed_settings(SpeedrunNet(), (3, 32, 32), config.batch_size, torch.device("cpu"))
    model = SpeedrunNet(widths=config.widths)
    x = torch.randn(config.batch_size, 3, 32, 32)
    if speed.channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (config.batch_size,))
    optimizer = _optimizer(model, config)

    def step() -> None:
        with speed.autocast():
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing, reduction="sum")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step(), step()
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    wall = (time.perf_counter() - start) / steps
    totals = {name: 0.0 for name in dict.fromkeys(PROFILE_GROUPS.values())}
    totals["optimiser step"] = 0.0
    for event in prof.key_averages():
        if event.key in PROFILE_GROUPS:
            totals[PROFILE_GROUPS[event.key]] += event.cpu_time_total / 1e6 / steps
        elif event.key.startswith("Optimizer.step"):
            totals["optimiser step"] += event.cpu_time_total / 1e6 / steps
    totals["everything else"] = max(0.0, wall - sum(totals.values()))
    g = torch.Generator().manual_seed(0)
    images = torch.randn(50_000, 3, 32 + 2 * config.translate, 32 + 2 * config.translate)
    start = time.perf_counter()
    crops = translate_crops(images, config.translate, g)
    flips = flip_mask(len(crops), 0, "random", g)
    crops[flips] = crops[flips].flip(-1)
    augment = time.perf_counter() - start
    return {"step_seconds": wall, "parts": totals, "augment_epoch_seconds": augment,
            "steps_per_epoch": 50_000 // config.batch_size, "precision": speed.to_record()}  # fmt: skip


def mean_step_seconds(result: dict[str, Any]) -> float:
    """Seconds per training step in a speed-run result's runs, their mean (the batch over each run's
    images/s): what a profiled step (``speedrun_profile``) is compared with."""
    runs = result["runs"]
    return sum(result["config"]["batch_size"] / r["images_per_second"] for r in runs) / len(runs)


def profile_findings(profile: dict[str, Any], result: dict[str, Any]) -> list[str]:
    """What the stored profile (a ``speedrun_profile`` record) says beside the runs (a ``speedrun_cifar10``
    result), as sentences computed from both: the convolutions' TFLOP/s over their own time against the
    measured peaks (the network's own layer shapes, and the larger layer), the backward convolutions' time
    against the forward ones', and the profiled step against the runs' step."""
    parts, peaks = profile["result"]["parts"], result["peak_tflops"]
    conv_seconds = parts["convolutions, forward"] + parts["convolutions, backward"]
    conv_tflops = result["runs"][0]["flops_per_step"]["whitening frozen"] / conv_seconds / 1e12
    dtype = "bfloat16" if profile["result"]["precision"]["autocast_dtype"] == "bfloat16" else "float32"
    own = [v for k, v in peaks[dtype].items() if k != PEAK_LARGER_LAYER]
    augment = profile["result"]["augment_epoch_seconds"] / profile["result"]["steps_per_epoch"]
    lines = [
        f"the step's FLOPs over its convolutions' time: {conv_tflops:.2f} TFLOP/s ({dtype}, "
        f"{processor_name(profile['hardware'])})",
        f"one forward convolution alone: {min(own):.2f}-{max(own):.2f} TFLOP/s on the network's shapes, "
        f"{peaks[dtype][PEAK_LARGER_LAYER]:.2f} on a larger layer",
        f"backward convolutions (input and weight gradients: twice the FLOPs) took "
        f"{parts['convolutions, backward'] / parts['convolutions, forward']:.1f}x the forward's time",
        f"the profiled step (no data): {profile['result']['step_seconds']:.2f} s; a step in the runs, "
        f"augmentation ({1e3 * augment:.0f} ms) included: {mean_step_seconds(result):.2f} s",
    ]
    return [_slide_wrap(line) for line in lines]


def profile_rows(profile: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``speedrun_profile`` result as rows (part of a step, milliseconds per step, share of the step %),
    with the epoch's data augmentation spread over its steps as one more row."""
    parts = dict(profile["parts"])
    parts["data augmentation (per step)"] = profile["augment_epoch_seconds"] / profile["steps_per_epoch"]
    total = sum(parts.values())
    return [{"part": k, "ms": 1e3 * v, "share": 100 * v / total} for k, v in parts.items()]
