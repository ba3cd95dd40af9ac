"""``python -m cnnlib.data prepare [NAME ...]``: load and cache the course's datasets."""

import argparse
import sys

from .sources import DATASETS, DatasetUnavailableError, prepare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnlib.data", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="load every split once so later loads come from the cache")
    prep.add_argument(
        "names", nargs="*", metavar="NAME", help=f"datasets to prepare (default: all of {', '.join(DATASETS)})"
    )
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in DATASETS]
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; choose from {list(DATASETS)}")
    args.names = args.names or list(DATASETS)
    try:
        for ds in prepare(tuple(args.names)):
            print(ds)
    except DatasetUnavailableError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
