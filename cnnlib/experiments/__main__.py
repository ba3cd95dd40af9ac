"""``python -m cnnlib.experiments list | run NAME... [--quick]``: the chapters' longer measurements."""

from __future__ import annotations

import argparse
import json
import sys

from ..runtime import use_all_cores
from . import EXPERIMENTS, UnknownExperimentError, experiments_dir, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnlib.experiments", description=__doc__)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for torch (default: one per logical CPU, or $CNNLIB_THREADS)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every experiment, its chapter and whether a result is stored")
    p_run = sub.add_parser("run", help="run experiments and store their results under data/experiments/")
    p_run.add_argument("names", nargs="+")
    p_run.add_argument("--quick", action="store_true", help="a reduced smoke run; printed, never stored")
    args = parser.parse_args(argv)
    use_all_cores(args.threads)
    if args.command == "list":
        for name, exp in EXPERIMENTS.items():
            stored = (experiments_dir() / f"{name}.json").is_file()
            print(f"{name:<24} chapter {exp.chapter}  {'stored' if stored else 'not run yet':<12} {exp.description}")
        return 0
    try:
        for name in args.names:
            record = run(name, quick=args.quick)
            print(json.dumps(record["result"], indent=1))
            print(
                f"== {name}: {record['wall_seconds']:.0f} s"
                + ("" if args.quick else f", stored in {experiments_dir() / (name + '.json')}")
            )
    except UnknownExperimentError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
