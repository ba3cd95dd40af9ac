"""Re-checking the zoo: every checksum and accuracy again, and the CPU latency of every entry."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import data as cdata
from ..analysis.summary import measure_latency
from ..checkpoint import CheckpointError
from ..runtime import hardware_summary, utc_now
from ..train import predict
from .build import _eval_fp32, _fuse, _has_branches_to_fuse, ci_subset, load, load_dataset
from .entries import ENTRIES, entry
from .store import _checkpoint_path, _log_path, trained, zoo_dir

__all__ = ["FUSED_TOLERANCE", "TOLERANCE", "Verification", "measure_latencies", "read_latencies", "verify"]

TOLERANCE = 0.005  # verify: largest accepted |measured - logged| accuracy (0.5 point)


@dataclass(frozen=True)
class Verification:
    """The outcome of re-checking one entry."""

    name: str
    ok: bool
    message: str
    logged_acc: float | None = None
    measured_acc: float | None = None
    images: int = 0


# The fused RepVGG form computes the same function up to float32 rounding: on a few thousand images
# at most a handful of near-tied predictions may flip. More than 0.1 % of them means the fusion is wrong.
FUSED_TOLERANCE = 0.001


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def verify(
    names: list[str] | None = None, subset: bool | None = None, tolerance: float = TOLERANCE
) -> list[Verification]:
    """Re-check the checksum and re-evaluate the checkpoint of each trained entry (default: all).

    ``subset=None`` evaluates on the fixed 2,000-image subset when ``$CI`` is set and on the
    full test set otherwise; the result fails if accuracy differs from the log by more than
    ``tolerance``. A RepVGG entry also fails if its fused form predicts another class than the
    trained multi-branch form for more than 0.1 % of those images. Untrained entries named
    explicitly fail; otherwise they are skipped.
    """
    subset = _in_ci() if subset is None else subset
    explicit = names is not None
    results: list[Verification] = []
    cache: dict[tuple[str, int], cdata.ImageTensors] = {}
    for name in names if explicit else list(ENTRIES):
        e = entry(name)
        if not explicit and not _checkpoint_path(name).is_file() and not _log_path(name).is_file():
            continue  # never trained: `list` says so; a log without its checkpoint (or the reverse) fails below
        try:
            model, log = load(name)
            logged = log["stored"]["ci_subset_acc" if subset else "test_acc"]
            size = log["stored"]["ci_subset_size"]
        except (OSError, CheckpointError, ValueError, KeyError, TypeError) as exc:  # ValueError: a damaged JSON log
            results.append(Verification(name, False, f"{type(exc).__name__}: {exc}"))
            continue
        key = (e.dataset, e.pad)
        if key not in cache:
            cache[key] = load_dataset(e, "test")
        if len(cache[key]) != log["stored"]["test_images"]:
            results.append(
                Verification(
                    name,
                    False,
                    f"the {e.dataset} test set here has {len(cache[key])} images, the log was measured on "
                    f"{log['stored']['test_images']}: another or a partial copy of the dataset "
                    f"({cache[key].source})",
                    logged,
                )
            )
            continue
        ds = ci_subset(cache[key], size) if subset else cache[key]
        measured = _eval_fp32(model, ds)["acc"]
        ok = abs(measured - logged) <= tolerance
        what = f"{'CI subset' if subset else 'test set'} of {len(ds)}: measured {measured:.2%}, log {logged:.2%}"
        what += "" if ok else f" (differs by more than {tolerance:.1%})"
        if _has_branches_to_fuse(model):  # RepVGG: the deployed (fused) form must predict what the trained one does
            agree = (
                (predict(_fuse(model), ds, batch_size=500).argmax(1) == predict(model, ds, batch_size=500).argmax(1))
                .float()
                .mean()
                .item()
            )
            fused_ok = agree >= 1 - FUSED_TOLERANCE
            ok = ok and fused_ok
            what += f"; fused form predicts the same class for {agree:.2%}" + (
                ""
                if fused_ok
                else f" (less than {1 - FUSED_TOLERANCE:.1%}: the fusion does not compute the trained function)"
            )
        results.append(Verification(name, ok, what, logged, measured, len(ds)))
    return results


# --------------------------------------------------------------------------- latency


def _latency_path() -> Path:
    return zoo_dir() / "latency.json"


def read_latencies() -> dict[str, Any]:
    """``latency.json`` (``{"entries": {name: record}}``), empty if absent; a clear error if damaged."""
    path = _latency_path()
    if not path.is_file():
        return {"entries": {}}
    try:
        record = json.loads(path.read_text())
        if not isinstance(record, dict) or not isinstance(record.get("entries", {}), dict):
            raise ValueError("not a record of entries")
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise CheckpointError(
            f"{path} is damaged ({exc}). Restore it (`git checkout -- data/zoo/{path.name}`), or delete it and "
            "measure again with `python -m cnnlib.zoo table --bench`."
        ) from None
    return {"entries": record.get("entries", {})}


def measure_latencies(names: list[str] | None = None, passes: int = 3) -> dict[str, Any]:
    """Measure float32 CPU latency (batch 1 and 64) of each trained entry; store it in ``latency.json``.

    Each latency is a median over repeated forward passes, taken once in each of ``passes`` passes
    over all the entries; the lowest of an entry's medians is kept. Other load on the machine only
    ever adds time, and on a shared virtual machine it comes and goes: the same resnet20 measured
    1.4 ms and 2.3 ms at batch 1 a minute apart. Spreading an entry's measurements over the whole
    run and keeping the lowest compares the entries at their quietest moment.

    Each entry's record keeps its own time, hardware and load average, so re-measuring one
    entry (``python -m cnnlib.zoo train`` does so for each entry it trains) leaves the others' records true.
    """
    if passes < 1:
        raise ValueError(f"passes must be at least 1, got {passes}")
    path = _latency_path()
    record = read_latencies()
    models = {name: load(name)[0] for name in names or trained()}
    shapes = {name: load_dataset(entry(name), "test").shape for name in models}
    fastest: dict[str, dict[str, float]] = {name: {"batch1_ms": math.inf, "batch64_ms": math.inf} for name in models}
    for _ in range(passes):
        for name, model in models.items():
            times = fastest[name]
            times["batch1_ms"] = min(times["batch1_ms"], measure_latency(model, shapes[name], 1, warmup=5, repeats=30))
            times["batch64_ms"] = min(
                times["batch64_ms"], measure_latency(model, shapes[name], 64, warmup=2, repeats=7)
            )
    try:
        load_average = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load_average = None
    for name, times in fastest.items():
        record["entries"][name] = {
            "batch1_ms": round(times["batch1_ms"], 3),
            "batch64_ms": round(times["batch64_ms"], 2),
            "passes": passes,
            "hardware": hardware_summary(torch.device("cpu")),
            "measured_utc": utc_now(),
            "load_average": load_average,
        }
    path.write_text(json.dumps(record, indent=1) + "\n")
    return record
