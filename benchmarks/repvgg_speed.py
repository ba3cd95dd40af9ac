"""RepVGG on this machine: inference speed-up and memory of the fused plain stack, and compute density per kernel size.

A printer for chapter 09's measurements (``cnnlib.chapters.ch09_classics_today.speed``), for a quick look without
storing anything; ``python -m cnnlib.experiments run repvgg_speed kernel_density`` runs the same functions at the
chapter's sizes and stores the results the notebook reads.

(1) RepVGG-A0 at 224 px and the zoo's CIFAR variant (width 0.5) at 32 px: multi-branch (train-time form, eval
    mode), BN folded with the branches kept, and the re-parameterised plain stack, float32,
    ``torch.inference_mode``: median latency, images per second, peak activation memory, and the largest output
    difference from the multi-branch form (BN statistics from one pass on random images). The paper's fused A0:
    8.31 M parameters, 1.36 G multiply-adds at 224 px (REFERENCES.md).
(2) Compute density (RepVGG paper Table 1): one k x k convolution, stride 1, k = 1, 3, 5, 7, in GFLOP/s (two per
    multiply-add, the paper's unit), float32 and bfloat16.

Not a test: the numbers depend on the machine and on what else runs on it. Usage (from the repository root)::

    python benchmarks/repvgg_speed.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os

import torch

from cnnlib.chapters.ch09_classics_today.speed import DENSITY_SHAPE, kernel_density, repvgg_speed
from cnnlib.runtime import hardware_summary, use_all_cores


def load_average() -> str:
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg()) + " (1 / 5 / 15 min)"
    except OSError:  # not available on Windows
        return "unknown"


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
    print(f"\n{'model':>26} {'size':>4} {'batch':>5} {'form':>12} {'G mult-adds':>11} {'ms':>8} {'img/s':>8} "
          f"{'peak MB':>8} {'max |diff|':>10}")  # fmt: skip
    for r in repvgg_speed(batches=(1, 32), repeats=args.repeats):
        print(f"{r['model']:>26} {r['size']:>4} {r['batch']:>5} {r['form']:>12} {r['mult_adds'] / 1e9:11.3f} "
              f"{r['ms']:8.1f} {r['img_per_s']:8.1f} {r['peak_mb']:8.1f} {r['max_difference']:10.1e}")  # fmt: skip
    print(
        f"\nCompute density: one k x k conv, {DENSITY_SHAPE} (paper Table 1: 1080Ti, 2048 -> 2048, 56 x 56, batch 32)"
    )
    print(f"{'kernel':>6} {'precision':>9} {'G mult-adds':>11} {'ms':>8} {'GFLOP/s':>8} {'rel. 1x1':>8} "
          f"{'paper TFLOPS':>12} {'paper rel.':>10}")  # fmt: skip
    for r in kernel_density(**DENSITY_SHAPE, repeats=args.repeats):
        if r["ms"] is None:
            print(f"{r['kernel']:>6} {r['precision']:>9}  (no bfloat16 instructions on this CPU)")
            continue
        print(f"{r['kernel']:>6} {r['precision']:>9} {r['gmacs']:11.2f} {r['ms']:8.1f} {r['gflops']:8.1f} "
              f"{r['relative']:8.2f} {r['paper_tflops']:12.2f} {r['paper_relative']:10.2f}")  # fmt: skip
    print("\nPaper (Sec. 4.2, Table 4, 1080Ti): RepVGG-A0 3256 img/s vs ResNet-18 2442; the fused form is what ran.")
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
