"""RepVGG on this machine: inference speed-up of the fused plain stack, and compute density per kernel size.

(1) Speed-up: RepVGG-A0 at 224 px and its CIFAR variant at 32 px, multi-branch (train-time form,
    eval mode) against the re-parameterised plain stack of 3x3 convolutions, batch 1 and 32,
    CPU, float32, ``torch.inference_mode``; a few warm-up runs, then the median of several
    timed runs. Also the multiply-adds of each form (``cnnlib.analysis.summary.count_mult_adds``; the
    paper reports 1.36 G for the fused A0 at 224 px, REFERENCES.md) and the largest output
    difference between the two forms (BN statistics from one pass on random images).
(2) Compute density (seed 002, RepVGG paper Table 1): one k x k convolution, stride 1, for
    k = 1, 3, 5, 7, in multiply-adds per second. The paper's "FLOPs" are multiply-adds
    (2048 * 2048 * 56 * 56 * 32 = 420.9 B for its 1x1 row), measured on a 1080Ti with
    2048 -> 2048 channels at 56 x 56, batch 32; here 256 -> 256 channels, 56 x 56, batch 1,
    so that the 7x7 convolution (10.1 G multiply-adds) runs in a fraction of a second.

Not a test: the numbers depend on the machine and on what else runs on it. Usage (from the
repository root)::

    python benchmarks/repvgg_speed.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.nn as nn

import cnnlib
from cnnlib.analysis.summary import count_mult_adds, median_seconds
from cnnlib.models.repvgg import reparameterized
from cnnlib.runtime import hardware_summary, use_all_cores

# RepVGG paper Table 1 (1080Ti, batch 32, 2048 -> 2048 channels, 56 x 56): kernel -> (theoretical TFLOPS, ms)
PAPER_TABLE_1 = {1: (9.96, 84.5), 3: (38.10, 198.8), 5: (10.57, 2092.5), 7: (9.38, 4394.3)}


def load_average() -> str:
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg()) + " (1 / 5 / 15 min)"
    except OSError:  # not available on Windows
        return "unknown"


def calibrate_batch_norms(model: nn.Module, size: int, batch: int = 8) -> None:
    """Running statistics from one training-mode pass on random images, so the eval-mode outputs are of
    ordinary size (fresh BNs, mean 0 and variance 1, let the summed branches grow layer after layer)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # cumulative average: one pass sets the statistics
    with torch.no_grad():
        model.train()(torch.randn(batch, 3, size, size))
    model.eval()


def speedup(name: str, size: int, batches: tuple[int, ...], repeats: int) -> None:
    torch.manual_seed(0)
    multi = cnnlib.get_model(name)
    calibrate_batch_norms(multi, size)
    fused = reparameterized(multi).eval()
    x1 = torch.randn(1, 3, size, size)
    with torch.inference_mode():
        ref = multi(x1).abs().max().item()
        err = (multi(x1) - fused(x1)).abs().max().item()
    n_multi, n_fused = (sum(p.numel() for p in m.parameters()) for m in (multi, fused))
    m_multi, m_fused = (count_mult_adds(m, (3, size, size)) for m in (multi, fused))
    print(
        f"\n{name} at {size}x{size}: parameters {n_multi:,} -> {n_fused:,}; "
        f"multiply-adds per image {m_multi / 1e9:.3f} G -> {m_fused / 1e9:.3f} G; "
        f"max |difference| {err:.1e} (outputs up to {ref:.2f})"
    )
    print(
        f"  {'batch':>5}  {'multi-branch ms':>15}  {'fused ms':>9}  {'multi img/s':>11}  {'fused img/s':>11}  speed-up"
    )
    for batch in batches:
        x = torch.randn(batch, 3, size, size)
        warmup = 3 if batch == 1 else 1
        reps = repeats * 2 if batch == 1 else repeats
        with torch.inference_mode():
            t_multi = median_seconds(lambda: multi(x), warmup, reps)
            t_fused = median_seconds(lambda: fused(x), warmup, reps)
        print(
            f"  {batch:>5}  {t_multi * 1e3:15.1f}  {t_fused * 1e3:9.1f}  {batch / t_multi:11.1f}  "
            f"{batch / t_fused:11.1f}  {t_multi / t_fused:7.2f}x"
        )


def compute_density(channels: int, size: int, batch: int, repeats: int) -> None:
    print(
        f"\nCompute density: one k x k conv, {channels} -> {channels} channels, "
        f"{size}x{size}, batch {batch}, stride 1, "
        "float32 (paper Table 1: 1080Ti, 2048 -> 2048, 56x56, batch 32)"
    )
    print(
        f"  {'kernel':>6}  {'G mult-adds':>11}  {'ms':>8}  {'G mult-adds/s':>13}  {'rel. to 1x1':>11}  "
        f"{'paper TFLOPS':>12}  {'paper rel.':>10}"
    )
    rates = {}
    for k in (1, 3, 5, 7):
        conv = nn.Conv2d(channels, channels, k, padding=k // 2, bias=False).eval()
        x = torch.randn(batch, channels, size, size)
        macs = batch * channels * channels * k * k * size * size
        with torch.inference_mode():
            t = median_seconds(lambda: conv(x), warmup=2, repeats=repeats)
        rates[k] = macs / t
        paper, _ = PAPER_TABLE_1[k]
        print(
            f"  {k}x{k:<4}  {macs / 1e9:11.2f}  {t * 1e3:8.1f}  {rates[k] / 1e9:13.1f}  {rates[k] / rates[1]:11.2f}  "
            f"{paper:12.2f}  {paper / PAPER_TABLE_1[1][0]:10.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (batch 1: twice as many)")
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: one per logical CPU, or $CNNLIB_THREADS)"
    )
    args = parser.parse_args()

    use_all_cores(args.threads)
    print(hardware_summary(torch.device("cpu")))
    print(f"load average before: {load_average()} (other processes on the machine slow every figure below)")
    speedup("repvgg_a0", 224, (1, 32), args.repeats)
    speedup("repvgg_a0_cifar", 32, (1, 32), args.repeats)
    compute_density(channels=256, size=56, batch=1, repeats=args.repeats)
    print("\nPaper (Sec. 4.2, Table 4, 1080Ti): RepVGG-A0 3256 img/s vs ResNet-18 2442; the fused form is what ran.")
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
