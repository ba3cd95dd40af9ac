"""``python -m cnnlib.zoo list | train NAME ... | train --all | verify | table``: the course's trained models."""

from __future__ import annotations

import argparse
import sys

from ..chapters.ch06_why_resnet.degradation import degradation_section
from ..checkpoint import CheckpointError
from ..data import DatasetUnavailableError
from ..runtime import use_all_cores
from . import (
    ENTRIES,
    AlreadyTrainedError,
    NotTrainedError,
    UnknownEntryError,
    entry,
    measure_latencies,
    partial_run,
    read_log,
    refuse_to_overwrite,
    train,
    trained,
    verify,
    write_results_table,
    zoo_dir,
)

# Chapters' reports written below the zoo's table in RESULTS.md (a command-line tool may import chapters).
REPORT_SECTIONS = (degradation_section,)


def _list() -> int:
    print(f"{'entry':<16} {'model':<22} {'data':<8} {'chapters':<10} {'epochs':>6}  {'target':>7}  status")
    for name, e in ENTRIES.items():
        log = read_log(name)
        target = f">= {e.target:.0%}" if e.target else "-"
        run = partial_run(name) if log is None else None
        if run is not None and "error" in run:
            status = f"a partial run that cannot be continued: {run['error']}; `train {name} --fresh` starts again"
        elif log is not None and log["version"] != e.version:
            status = (
                f"stale: trained for version {log['version']} of the entry, which is now version {e.version}; "
                f"`train {name} --fresh`"
            )
        elif run is not None:
            acc = (
                f", test acc after epoch {run['epochs_done']} {run['last_test_acc']:.2%}"
                if run["last_test_acc"] is not None
                else ""
            )
            status = f"training: {run['epochs_done']} of {run['epochs']} epochs done{acc}; `train {name}` continues it"
        elif log is None:
            status = "not trained yet"
        else:
            s = log["stored"]
            status = (
                f"test acc {s['test_acc']:.2%} (train acc {s['train_acc_clean']:.2%}), "
                f"{log['parameters']:,} params, trained in {log['train_seconds'] / 60:.0f} min"
            )
        print(
            f"{name:<16} {e.model:<22} {e.dataset:<8} {','.join(e.chapters):<10} "
            f"{e.config.epochs:>6}  {target:>7}  {status}"
        )
    print(f"\n{len(trained())} of {len(ENTRIES)} entries trained. Train one with `python -m cnnlib.zoo train NAME`.")
    return 0


def _train(names: list[str], all_: bool, fresh: bool) -> int:
    if all_ and fresh:
        # --all picks the entries without a checkpoint; --fresh would throw away their partial runs.
        print(
            "--fresh applies to named entries only: `train NAME --fresh` (--all already skips trained entries "
            "and continues partial runs).",
            file=sys.stderr,
        )
        return 2
    if all_:
        names = [n for n in ENTRIES if n not in trained()]
        if not names:
            print("Every entry is trained (`train NAME --fresh` trains one again from scratch).")
            return 0
    if not names:
        print("Name the entries to train, or use --all.", file=sys.stderr)
        return 2
    names = list(dict.fromkeys(names))  # `train a a` trains a once
    for name in names:
        entry(name)  # unknown names fail before any training starts
    if not fresh:
        refuse_to_overwrite(names)  # before any training starts, naming every trained entry
    for name in names:
        print(f"== {name}: {ENTRIES[name].purpose}", flush=True)
        if fresh:
            print(
                f"   --fresh: its checkpoint, log and partial run are deleted first; if this run is interrupted, "
                f"`python -m cnnlib.zoo train {name}` continues it.",
                flush=True,
            )
        log = train(name, fresh=fresh)
        s = log["stored"]
        print(
            f"== {name}: test acc {s['test_acc']:.2%} ({s['dtype']} weights), train acc {s['train_acc_clean']:.2%}, "
            f"{log['train_seconds'] / 60:.1f} min; checkpoint sha256 {log['checkpoint']['sha256'][:16]}...",
            flush=True,
        )
        measure_latencies([name])
        write_results_table(REPORT_SECTIONS)
    return 0


def _verify(names: list[str], subset: bool | None) -> int:
    results = verify(names or None, subset=subset)
    for r in results:
        print(f"{'ok  ' if r.ok else 'FAIL'} {r.name:<16} {r.message}")
    missing = [n for n in ENTRIES if n not in trained()]
    if missing and not names:
        print(f"not trained yet ({len(missing)}): {', '.join(missing)}")
    if not results:
        print(f"Nothing to verify: no checkpoint or log under {zoo_dir()} (is $CNNLIB_ZOO right?).", file=sys.stderr)
        return 1
    failed = [r.name for r in results if not r.ok]
    if failed:
        print(
            f"\n{len(failed)} entries failed: {', '.join(failed)}. "
            "Retrain each with `python -m cnnlib.zoo train NAME --fresh`."
        )
        return 1
    print(f"\n{len(results)} checkpoints verified.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnlib.zoo", description=__doc__)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for torch (default: one per logical CPU, or $CNNLIB_THREADS)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every entry with its recipe and measured accuracy")
    p_train = sub.add_parser("train", help="train entries (resumes an interrupted run)")
    p_train.add_argument("names", nargs="*", metavar="NAME")
    p_train.add_argument("--all", action="store_true", help="every entry without a checkpoint")
    p_train.add_argument(
        "--fresh",
        action="store_true",
        help="start from scratch: discard a saved partial run and replace an existing checkpoint",
    )
    p_verify = sub.add_parser("verify", help="checksums and accuracy of every checkpoint against its log")
    p_verify.add_argument("names", nargs="*", metavar="NAME")
    group = p_verify.add_mutually_exclusive_group()
    group.add_argument(
        "--subset",
        dest="subset",
        action="store_const",
        const=True,
        help="the fixed 2,000-image subset (default when $CI is set)",
    )
    group.add_argument(
        "--full", dest="subset", action="store_const", const=False, help="the whole test set (default otherwise)"
    )
    p_table = sub.add_parser("table", help="write data/zoo/RESULTS.md")
    p_table.add_argument("--bench", action="store_true", help="re-measure the CPU latency of every trained entry first")
    args = parser.parse_args(argv)
    use_all_cores(args.threads)
    try:
        if args.command == "list":
            return _list()
        if args.command == "train":
            return _train(args.names, args.all, args.fresh)
        if args.command == "verify":
            return _verify(args.names, args.subset)
        if args.command == "table":
            if args.bench:
                measure_latencies()
            print(f"wrote {write_results_table(REPORT_SECTIONS)}")
            return 0
    except (
        UnknownEntryError,
        NotTrainedError,
        AlreadyTrainedError,
        DatasetUnavailableError,
        CheckpointError,
        ValueError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
