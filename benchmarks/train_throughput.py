"""Training throughput of ResNet-20 on CIFAR-10, three ways, in one run (img/s).

(a) torchvision's default pipeline: ``ImageFolder`` over the PNG files (or
    ``CIFAR10`` when there is no mirror) with per-image transforms
    (RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize) and a
    ``DataLoader`` with worker processes, float32;
(b) the model alone: training steps on one synthetic batch already in memory,
    with the speed settings cnnlib chooses on this machine (the ceiling);
(c) cnnlib's pipeline: ``cnnlib.train.train_one_epoch`` on in-memory uint8
    tensors with batch augmentation and the same speed settings.

Prints the figures and the ratios (c)/(b) and (c)/(a). Then (d) checks the speed
rule: every candidate (float32 or bfloat16 autocast, contiguous or channels-last)
measured again for much longer than the rule measures, and whether the rule's
choice is the fastest (or within 10 % of it, the rule's own margin). Not a test:
numbers depend on the machine. Usage (from the repository root)::

    CNNLIB_MIRROR=../shared/mirror python benchmarks/train_throughput.py [--batches 20]
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import torch.nn.functional as F

import cnnlib
from cnnlib.data import DATASETS, data_dir, extract_image_tree, load, mirror_dir
from cnnlib.io import scratch_dir
from cnnlib.runtime import hardware_summary, reuse_freed_memory, seed_everything, use_all_cores
from cnnlib.train import (
    SpeedSettings,
    TrainConfig,
    choose_speed_settings,
    measure_training_speed,
    speed_candidates,
    train_one_epoch,
)


def steps_per_second(step, n_steps: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(n_steps):
        step()
    return n_steps / (time.perf_counter() - start)


def torchvision_default(batches: int, batch_size: int, workers: int) -> tuple[float, str]:
    """(a): per-image PIL transforms in DataLoader workers, float32, contiguous."""
    from torchvision import datasets, transforms

    spec = DATASETS["cifar10"]
    tf = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(spec.mean, spec.std),
        ]
    )
    model = cnnlib.get_model("resnet20").train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    with scratch_dir(data_dir() / "cache", "bench-cifar10") as tmp:
        if mirror_dir() is not None:
            tree, _ = extract_image_tree("cifar10", "train", tmp)
            dataset, source = datasets.ImageFolder(str(tree), transform=tf), "ImageFolder over the mirror's PNG files"
        else:
            dataset, source = datasets.CIFAR10(str(tmp), train=True, download=True, transform=tf), "torchvision CIFAR10"
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=True,
            num_workers=workers,
            drop_last=True,
            persistent_workers=workers > 0,
        )
        stream = [iter(loader)]  # emptied below, so that the worker processes end before the folder goes

        def step() -> None:
            x, y = next(stream[0])
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        rate = steps_per_second(step, batches) * batch_size
        stream.clear()
        del loader
    return rate, source


def model_alone(batches: int, batch_size: int, speed: SpeedSettings) -> float:
    """(b): training steps on one synthetic in-memory batch."""
    device = torch.device(speed.device)
    x = torch.randn(batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch_size,), device=device)
    return measure_training_speed(cnnlib.get_model("resnet20"), x, y, speed, min_steps=batches, min_seconds=1.0)


def cnnlib_pipeline(batches: int, batch_size: int, speed: SpeedSettings) -> tuple[float, str]:
    """(c): cnnlib's loop over in-memory uint8 tensors with batch augmentation."""
    device = torch.device(speed.device)
    train = load("cifar10", "train")
    config = TrainConfig(epochs=1, batch_size=batch_size, lr=0.05, crop_padding=4, flip=True)
    model = cnnlib.get_model("resnet20").to(device)
    if speed.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    gen = seed_everything(0)
    warm = train.subset(2 * batch_size, seed=1)
    part = train.subset(batches * batch_size, seed=2)
    train_one_epoch(model, warm, opt, sched, config, speed, gen)
    start = time.perf_counter()
    train_one_epoch(model, part, opt, sched, config, speed, gen)
    return batches * batch_size / (time.perf_counter() - start), train.source


def rule_against_long_measurement(batch_size: int, speed: SpeedSettings, steps: int) -> None:
    """(d): each candidate for at least ``steps`` steps and 3 s after 3 warm-up steps, beside the rule's figures."""
    device = torch.device(speed.device)
    x = torch.randn(batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch_size,), device=device)
    long = {}
    print(f"(d) the speed rule against a long measurement (>= {steps} steps and 3 s each, img/s):")
    for candidate in speed_candidates(device):
        name = candidate.label
        long[name] = measure_training_speed(
            cnnlib.get_model("resnet20"), x, y, candidate, min_steps=steps, min_seconds=3.0, warmup=3
        )
        print(
            f"    {name:<34} rule {speed.measured[name]:8.1f}   long {long[name]:8.1f}   "
            f"ratio {speed.measured[name] / long[name]:.2f}"
        )
    chosen = speed.label
    fastest = max(long, key=long.get)
    share = long[chosen] / long[fastest]
    verdict = "agrees" if share >= 1 / 1.10 else "DISAGREES"
    print(
        f"    rule chose {chosen}; fastest by the long measurement: {fastest}; "
        f"the choice reaches {100 * share:.0f} % of it: {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=20, help="timed batches per pipeline (default 20)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="DataLoader workers for (a)")
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: one per logical CPU, or $CNNLIB_THREADS)"
    )
    args = parser.parse_args()

    use_all_cores(args.threads)
    device = cnnlib.runtime.pick_device()
    print(hardware_summary(device))
    reuse_freed_memory()  # as fit() does before the rule measures
    speed = choose_speed_settings(cnnlib.get_model("resnet20"), (3, 32, 32), args.batch_size, device)
    print(f"cnnlib's measured choice: {speed.describe()}  (candidates, img/s: {speed.measured})")

    a, a_source = torchvision_default(args.batches, args.batch_size, args.workers)
    print(f"(a) torchvision default pipeline ({a_source}, {args.workers} workers, float32): {a:8.1f} img/s")
    b0 = model_alone(args.batches, args.batch_size, SpeedSettings(str(device)))
    print(
        f"    for reference, model alone in float32, contiguous: {b0:8.1f} img/s (what (a) would reach with free data)"
    )
    b = model_alone(args.batches, args.batch_size, speed)
    print(f"(b) model alone, synthetic batch ({speed.describe()}):{b:8.1f} img/s")
    c, c_source = cnnlib_pipeline(args.batches, args.batch_size, speed)
    print(f"(c) cnnlib pipeline ({c_source}):")
    print(f"    {c:8.1f} img/s")
    print(
        f"ratios: (c)/(b) = {c / b:.3f}  (goal >= 0.90)   (c)/(a) = {c / a:.1f}x   "
        f"(a)/float32 model alone = {a / b0:.2f}"
    )
    rule_against_long_measurement(args.batch_size, speed, steps=10)


if __name__ == "__main__":
    main()
