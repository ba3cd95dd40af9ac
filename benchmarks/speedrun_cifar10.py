"""The CPU speed-run of CIFAR-10: airbench94's recipe (Jordan 2024) re-implemented in cnnlib, timed on this CPU.

Trains :class:`cnnlib.models.speedrun.SpeedrunNet` from scratch on the 50,000 training images with
:func:`cnnlib.chapters.ch09_classics_today.speedrun.speedrun`, three seeds, and prints per run: test
accuracy (with and without test-time augmentation), training wall time, steps, images/s, the training
compute counted by PyTorch's FLOP counter, the TFLOP/s achieved, and that rate against the best
convolution throughput measured on this CPU in the same process (float32 and bfloat16). The record is
stored as the experiment ``speedrun_cifar10`` (``data/experiments/speedrun_cifar10.json``), which
chapter 09 shows. Not a test: the numbers depend on the machine.

Usage, from the repository root after the README's set-up::

    CNNLIB_MIRROR=../shared/mirror python benchmarks/speedrun_cifar10.py             # 3 seeds, stored
    CNNLIB_MIRROR=../shared/mirror python benchmarks/speedrun_cifar10.py --ablation  # 2 seeds per ingredient
    CNNLIB_MIRROR=../shared/mirror python benchmarks/speedrun_cifar10.py --ablation "no lookahead"  # one of them
    CNNLIB_MIRROR=../shared/mirror python benchmarks/speedrun_cifar10.py --quick     # seconds, not stored
    CNNLIB_MIRROR=../shared/mirror python benchmarks/speedrun_cifar10.py --seeds 0 --out run.json  # not stored

Each removed ingredient is its own stored experiment (``speedrun_no_lookahead``, ...), so the ablation can be
run a few ingredients at a time.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from cnnlib import experiments
from cnnlib.chapters.ch09_classics_today.experiments import speedrun_runs
from cnnlib.chapters.ch09_classics_today.speedrun import ABLATIONS, ablation_experiment
from cnnlib.provenance import provenance
from cnnlib.runtime import hardware_summary, use_all_cores


def print_runs(title: str, runs: list[dict], peaks: dict | None) -> None:
    best = max(v for p in peaks.values() if p for v in p.values()) if peaks else None  # ablation: not measured
    print(f"\n{title}")
    print(
        f"{'seed':>4} {'test %':>7} {'no TTA %':>9} {'train s':>8} {'img/s':>7} {'PFLOP':>6} "
        f"{'TFLOP/s':>8} {'of peak':>8}"
    )
    for r in runs:
        share = f"{100 * r['achieved_tflops'] / best:7.1f}%" if best else f"{'-':>8}"
        print(
            f"{r['seed']:>4} {100 * r['test_acc']:7.2f} {100 * r['test_acc_no_tta']:9.2f} {r['train_seconds']:8.1f} "
            f"{r['images_per_second']:7.0f} {r['train_pflop']:6.3f} {r['achieved_tflops']:8.3f} "
            f"{share}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ablation", nargs="*", metavar="INGREDIENT", choices=list(ABLATIONS),
        help="remove one ingredient at a time (2 seeds each): all of them, or the ones named",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="a few seconds on 1,024 images; not stored")
    parser.add_argument(
        "--seeds", nargs="+", type=int, metavar="SEED",
        help="run the recipe with these seeds only (e.g. on another CPU); printed, and written to --out, "
        "never stored as the experiment",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, help="with --seeds: write the record (JSON) to this file")
    args = parser.parse_args()
    if args.out and not args.seeds:
        parser.error("--out goes with --seeds (the full run is stored as the experiment speedrun_cifar10)")
    if args.seeds and args.ablation is not None:
        parser.error("--seeds runs the recipe; the ablation runs its own two seeds per ingredient")
    use_all_cores()
    if args.ablation is not None:
        for label in args.ablation or list(ABLATIONS):
            record = experiments.run(ablation_experiment(label), quick=args.quick)
            s = record["result"]["summary"]
            print_runs(f"without: {label} {ABLATIONS[label]}", record["result"]["runs"], None)
            print(f"mean {100 * s['test_acc_mean']:.2f} %, {s['train_seconds_mean']:.0f} s per run")
        return
    if args.seeds:
        command = "python benchmarks/speedrun_cifar10.py " + " ".join(sys.argv[1:])
        record = {
            **provenance(command, hardware_summary(torch.device("cpu"))),
            "result": speedrun_runs(args.seeds, quick=args.quick),
        }
        if args.out:
            args.out.write_text(json.dumps(record, indent=1) + "\n")
    else:
        record = experiments.run("speedrun_cifar10", quick=args.quick)
    result = record["result"]
    print(f"\n{record['hardware']}")
    for precision, shapes in result["peak_tflops"].items():
        if shapes:
            print(
                f"convolution peak, {precision}: " + ", ".join(f"{k} {v:.3f}" for k, v in shapes.items()) + " TFLOP/s"
            )
    print_runs("the recipe", result["runs"], result["peak_tflops"])
    s = result["summary"]
    print(
        f"\nmean test accuracy {100 * s['test_acc_mean']:.2f} % (sd {100 * s['test_acc_std']:.2f}) over "
        f"{len(result['runs'])} runs; {s['train_seconds_mean']:.0f} s and {s['train_pflop_mean']:.3f} PFLOP "
        f"per run; {s['achieved_tflops_mean']:.3f} TFLOP/s = {100 * s['share_of_peak']:.0f} % of the measured peak"
    )
    for label, pub in result["published"].items():
        print(f"published {label}: {100 * pub['test_acc_mean']:.2f} %, {pub['seconds']} s on an A100, "
              f"{pub['pflop']} PFLOP ({pub['note']})")  # fmt: skip
    print(f"stored: {not (args.quick or args.seeds)}" + (f"; written to {args.out}" if args.out else ""))


if __name__ == "__main__":
    main()
