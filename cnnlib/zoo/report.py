"""The zoo's results table (``data/zoo/RESULTS.md``): every entry, its cost, accuracy and training run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Sequence

from .entries import ENTRIES
from .store import read_log, trained, zoo_dir
from .verification import read_latencies

__all__ = ["describe", "results_table", "training_machines", "write_results_table"]

Section = Callable[[], list[str]]  # lines of Markdown appended below the table (a chapter's report)


def _duration(seconds: float) -> str:
    minutes = seconds / 60
    return (
        f"{minutes:.1f} min" if minutes < 10 else (f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h")
    )


def describe(log: dict[str, Any]) -> str:
    """Three lines for a notebook that loads a zoo entry: the model, its training run, its stored accuracy."""
    machines = "; ".join(
        f"{m['cpu']} (epochs {m['first']}-{m['last']})" if len(training_machines(log)) > 1 else m["cpu"]
        for m in training_machines(log)
    )
    return (
        f"{' '.join(str(x) for x in (log['model'], log.get('model_kwargs')) if x)}: {log['parameters']:,} parameters, "
        f"{log['mult_adds'] / 1e6:.1f} M multiply-adds per image\n"
        f"trained {len(log['epochs'])} epochs in {_duration(log['train_seconds'])} on {machines}\n"
        f"stored weights: {100 * log['stored']['test_acc']:.2f} % test accuracy on "
        f"{log['stored']['test_images']:,} test images"
    )


def training_machines(log: dict[str, Any]) -> list[dict[str, Any]]:
    """Which processor trained which epochs of a logged run, from its ``hardware`` and ``resumed`` records.

    One dict per stretch of consecutive epochs on one processor: ``cpu`` (the processor's name),
    ``first`` and ``last`` (epoch numbers, 1-based) and ``fastest_s`` (its fastest epoch, in seconds).
    A run that changed machines has several; epoch times are only comparable within one.
    """

    def cpu(hardware: str) -> str:
        return re.sub(r"\((R|TM)\)", "", hardware.split(";")[0]).strip()

    starts = [(cpu(log["hardware"]), 1)] + [(cpu(r["hardware"]), r["after_epoch"] + 1) for r in log.get("resumed", [])]
    epochs = log["epochs"]
    stretches: list[dict[str, Any]] = []
    for i, (name, first) in enumerate(starts):
        last = starts[i + 1][1] - 1 if i + 1 < len(starts) else len(epochs)
        if last < first:
            continue  # resumed again before finishing an epoch
        if stretches and stretches[-1]["cpu"] == name:
            stretches[-1]["last"] = last
        else:
            stretches.append({"cpu": name, "first": first, "last": last})
    for s in stretches:
        s["fastest_s"] = min(ep["seconds"] for ep in epochs[s["first"] - 1 : s["last"]])
    return stretches


def _machines_cell(log: dict[str, Any]) -> str:
    stretches = training_machines(log)
    precision = (log.get("speed") or {}).get("autocast_dtype", "?")
    if len(stretches) == 1:
        return f"{precision}; {stretches[0]['cpu']} (fastest {stretches[0]['fastest_s']:.0f} s)"
    return f"{precision}; " + "; ".join(
        f"{s['cpu']} (epochs {s['first']}–{s['last']}, fastest {s['fastest_s']:.0f} s)" for s in stretches
    )


def _ms(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def results_table(sections: Sequence[Section] = ()) -> str:
    """The Markdown table of every entry (trained or not), then each of ``sections`` (as ``data/zoo/RESULTS.md``
    holds them).

    The sections are chapters' reports written from the logs (chapter 06's degradation report); the
    zoo does not know them: ``python -m cnnlib.zoo table`` passes them.
    """
    lat = read_latencies()
    rows = [
        (
            "| entry | model | data | chapters | parameters | mult-adds | CPU latency b=1 (ms) | b=64 (ms) "
            "| test acc | target | epochs | training time | precision; trained on (fastest epoch) |"
        ),
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, e in ENTRIES.items():
        log = read_log(name)
        target = f"≥ {e.target:.0%}" if e.target else "—"
        if log is None:
            rows.append(
                f"| {name} | `{e.model}` | {e.dataset} | {', '.join(e.chapters)} | | | | "
                f"| not trained yet | {target} | {e.config.epochs} | | |"
            )
            continue
        latency = lat["entries"].get(name, {})
        rows.append(
            f"| {name} | `{e.model}` | {e.dataset} | {', '.join(e.chapters)} "
            f"| {log['parameters']:,} | {log['mult_adds'] / 1e6:,.1f} M "
            f"| {_ms(latency.get('batch1_ms'), 2)} | {_ms(latency.get('batch64_ms'), 1)} "
            f"| {log['stored']['test_acc']:.2%} | {target} "
            f"| {len(log['epochs'])} | {_duration(log['train_seconds'])} | {_machines_cell(log)} |"
        )
    head = [
        "# The zoo: results",
        "",
        "Generated by `python -m cnnlib.zoo table --bench` from the logs in this folder; do not edit by hand.",
        "Test accuracy: the stored weights, float32, on the whole test set of the source named in each log.",
        "Mult-adds: one forward pass of one image. Training time: the sum of the epochs' wall times, over every "
        "session that trained the entry (the log lists them); where the 2 cores were shared with other work it is "
        "longer than the recipe needs, and the fastest epoch comes closest to what one epoch costs on a quiet "
        "machine. Processors differ (an entry may have been trained on two): compare epoch times only within one "
        "processor. Precision: what the speed rule of `cnnlib.train` chose for the run (bfloat16 autocast only "
        "where it measured faster).",
    ]
    measured = [lat["entries"][n] for n in trained() if n in lat["entries"]]
    if measured:
        hardware = sorted({m["hardware"] for m in measured})
        when = sorted(m["measured_utc"] for m in measured)
        rounds = " or ".join(str(n) for n in sorted({m.get("passes", 1) for m in measured}))
        head.append(
            f"Latency: float32, eval mode: the median time of repeated forward passes, taken in {rounds} rounds "
            "through the entries measured together (all of them with `--bench`); each entry keeps its lowest round, "
            f"since other load on the machine only adds time; measured {when[0][:10]}"
            + (f" to {when[-1][:10]}" if when[-1][:10] != when[0][:10] else "")
            + f" on {' / '.join(hardware)}; each entry's time and load average are in latency.json."
        )
    extra = [line for section in sections for line in section()]
    return "\n".join(head + [""] + rows + [""] + extra) + "\n"


def write_results_table(sections: Sequence[Section] = ()) -> Path:
    """Write :func:`results_table` to ``RESULTS.md`` in the zoo folder; returns its path."""
    path = zoo_dir() / "RESULTS.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(results_table(sections))
    return path
