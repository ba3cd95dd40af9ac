"""The zoo: the course's own trained checkpoints, each reproducible by one command.

    python -m cnnlib.zoo list                 every entry, its recipe and its measured accuracy (or its partial run)
    python -m cnnlib.zoo train NAME [NAME ...] train (resumable: re-run the same command after an interruption;
                                              --fresh: from scratch, replacing a checkpoint)
    python -m cnnlib.zoo train --all          train every entry that has no checkpoint yet
    python -m cnnlib.zoo verify               re-check every checksum and re-evaluate every checkpoint
    python -m cnnlib.zoo table [--bench]      write data/zoo/RESULTS.md (``--bench`` re-measures CPU latency)

In a notebook::

    model, log = cnnlib.zoo.load("resnet20")   # eval mode, on the CPU; log = the JSON training log

Files, per entry, under ``data/zoo/``: ``NAME.pt`` (the weights, float16 unless that costs
accuracy, with the entry's name and version, the layout of its weights and its outputs on a
fixed random batch, so that loading notices a changed architecture), ``NAME.pt.sha256``
and ``NAME.json`` (the log: recipe, per-epoch train and test loss and accuracy, wall time,
hardware, library versions, data source, parameters, multiply-adds, the accuracy of the
stored weights on the full test set and on the fixed 2,000-image CI subset, the SHA-256).
A run in progress keeps its state in ``data/zoo/resume/NAME.pt`` after every epoch.

The accuracies under ``stored`` in a log are measured on the *stored* weights (after their
float16 round trip), computed in float32, so ``verify`` can demand agreement to 0.5 point on
any machine; the per-epoch figures are those of the training run itself.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import re
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .. import data as cdata
from ..checkpoint import CheckpointError, CheckpointMismatchError, load_checkpoint, read_checksum, save_checkpoint, state_layout
from ..models import get_model
from ..summary import count_mult_adds, count_parameters, measure_latency
from ..train import SpeedSettings, config_differences, evaluate, fit, hardware_summary, pick_device, predict, read_resume_file, utc_now
from .entries import CIFAR_RECIPE, ENTRIES, MNIST_RECIPE, UnknownEntryError, ZooEntry, entry

__all__ = [
    "CIFAR_RECIPE",
    "AlreadyTrainedError",
    "CI_SUBSET_SIZE",
    "ENTRIES",
    "MNIST_RECIPE",
    "NotTrainedError",
    "TOLERANCE",
    "UnknownEntryError",
    "Verification",
    "ZooEntry",
    "architecture_fingerprint",
    "ci_subset",
    "degradation_summary",
    "entry",
    "load",
    "load_dataset",
    "partial_run",
    "read_log",
    "refuse_to_overwrite",
    "results_table",
    "train",
    "trained",
    "verify",
    "zoo_dir",
]

ZOO_ENV = "CNNLIB_ZOO"
CI_SUBSET_SIZE = 2000
TOLERANCE = 0.005  # verify: largest accepted |measured - logged| accuracy (0.5 point)
FP16_TOLERANCE = 0.001  # float16 storage is used only if it moves test accuracy by at most 0.1 point


class NotTrainedError(FileNotFoundError):
    """The entry has no checkpoint yet."""


class AlreadyTrainedError(FileExistsError):
    """Training would replace an entry's checkpoint, and ``fresh`` was not asked for."""


# --------------------------------------------------------------------------- places


def zoo_dir() -> Path:
    """``$CNNLIB_ZOO`` if set, else the course's ``data/zoo`` (committed with the course)."""
    if os.environ.get(ZOO_ENV):
        return Path(os.environ[ZOO_ENV]).expanduser()
    return Path(__file__).resolve().parents[2] / "data" / "zoo"


def _checkpoint_path(name: str) -> Path:
    return zoo_dir() / f"{name}.pt"


def _log_path(name: str) -> Path:
    return zoo_dir() / f"{name}.json"


def _resume_path(name: str) -> Path:
    return zoo_dir() / "resume" / f"{name}.pt"


LOG_KEYS = ("version", "recipe", "parameters", "mult_adds", "train_seconds", "epochs", "stored", "checkpoint", "hardware")


def read_log(name: str) -> dict[str, Any] | None:
    """The training log of entry ``name``, or None if it has not been trained.

    A log that is not valid JSON, or lacks what the zoo reads from it, raises a ``CheckpointError``
    that says so and what to do.
    """
    entry(name)
    path = _log_path(name)
    if not path.is_file():
        return None
    restore = f"Restore it (`git checkout -- data/zoo/{path.name}` for the course's own logs). Otherwise: {_retrain_hint(name)}"
    try:
        log = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"The log {path} is damaged (not valid JSON: {exc}). {restore}") from None
    missing = [k for k in LOG_KEYS if k not in log] if isinstance(log, dict) else list(LOG_KEYS)
    if missing:
        raise CheckpointError(f"The log {path} lacks {', '.join(missing)}: it is damaged or not a zoo log. {restore}")
    wrong = _malformed_fields(log)
    if wrong:
        raise CheckpointError(f"The log {path} is damaged: {'; '.join(wrong)}. {restore}")
    return log


def _malformed_fields(log: dict[str, Any]) -> list[str]:
    """What, in a log that has every key, does not have the form the zoo reads (empty if nothing)."""
    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    wrong = []
    ckpt, stored, epochs = log["checkpoint"], log["stored"], log["epochs"]
    sha = ckpt.get("sha256") if isinstance(ckpt, dict) else None
    if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
        wrong.append("checkpoint.sha256 is not a SHA-256 (64 hex digits)")
    if not isinstance(stored, dict):
        wrong.append("stored is not a record")
    else:
        for key in ("test_acc", "ci_subset_acc", "train_acc_clean"):
            if not (number(stored.get(key)) and 0 <= stored[key] <= 1):
                wrong.append(f"stored.{key} is not an accuracy between 0 and 1")
        for key in ("test_images", "ci_subset_size"):
            if not (isinstance(stored.get(key), int) and stored[key] > 0):
                wrong.append(f"stored.{key} is not a positive whole number")
    if not (isinstance(epochs, list) and epochs and all(isinstance(ep, dict) and number(ep.get("train_acc")) and number(ep.get("seconds")) for ep in epochs)):
        wrong.append("epochs is not a list of epoch records with train_acc and seconds")
    if not (number(log["parameters"]) and number(log["mult_adds"]) and number(log["train_seconds"])):
        wrong.append("parameters, mult_adds or train_seconds is not a number")
    resumed = log.get("resumed", [])
    if not isinstance(log["hardware"], str):
        wrong.append("hardware is not a line of text")
    if not (isinstance(resumed, list) and all(isinstance(r, dict) and isinstance(r.get("after_epoch"), int)
                                               and isinstance(r.get("hardware"), str) for r in resumed)):
        wrong.append("resumed is not a list of records with after_epoch and hardware")
    return wrong


def trained() -> list[str]:
    """Names of the entries that have a checkpoint and a log."""
    return [n for n in ENTRIES if _checkpoint_path(n).is_file() and _log_path(n).is_file()]


def partial_run(name: str) -> dict[str, Any] | None:
    """The run of entry ``name`` in progress (its resume file), or None if there is none.

    Returns ``{"epochs_done", "epochs", "last_test_acc", "train_seconds"}``, or ``{"error": ...}``
    when the file cannot be read as a resume file (``train NAME`` would then say what to do).
    """
    path = _resume_path(name)
    if not path.is_file():
        return None
    try:
        state = read_resume_file(path)
    except ValueError as exc:
        return {"error": str(exc)}
    done = state["history"]["epochs"]
    return {
        "epochs_done": int(state["epoch"]),
        "epochs": int(state["config"]["epochs"]),
        "last_test_acc": done[-1].get("test_acc") if done else None,
        "train_seconds": float(state["elapsed"]),
    }


# --------------------------------------------------------------------------- data


def load_dataset(e: ZooEntry, split: str) -> cdata.ImageTensors:
    """The split of the entry's dataset, prepared as the entry was trained (padding)."""
    ds = cdata.load(e.dataset, split)
    return ds.pad(e.pad) if e.pad else ds


def ci_subset(ds: cdata.ImageTensors, n: int | None = None) -> cdata.ImageTensors:
    """A fixed subset of ``n`` images chosen by the content of each image, not by its position.

    The images whose pixels have the smallest BLAKE2 hashes are taken, so the subset is the
    same whatever order a source stores the images in (torchvision's CIFAR-10 batches and the
    mirror's PNG tree hold the same images in different orders).
    """
    n = CI_SUBSET_SIZE if n is None else n
    if not 0 < n <= len(ds):
        raise ValueError(f"subset size must be in 1..{len(ds)}, got {n}")
    flat = ds.images.reshape(len(ds), -1).numpy()
    keys = [hashlib.blake2b(row.tobytes(), digest_size=8).digest() for row in flat]
    idx = torch.tensor(sorted(sorted(range(len(keys)), key=keys.__getitem__)[:n]))
    return replace(ds, images=ds.images[idx], labels=ds.labels[idx], notes=ds.notes + (f"CI subset of {n} (content-hashed)",))


# --------------------------------------------------------------------------- identity of a model


def architecture_fingerprint(model: nn.Module) -> str:
    """SHA-256 (16 hex digits) of the model's state_dict layout: every key with its shape and dtype.

    Recorded in every checkpoint and log. A change to the weights (a layer with weights added or
    removed, a width changed) changes it, and loading such a checkpoint fails in its strict
    ``load_state_dict``; a change without weights (an activation, a shortcut, a stride) does not:
    ResNet-20 and plain-20 share their fingerprint. :func:`probe_outputs` catches those.
    """
    return hashlib.sha256(state_layout(model).encode()).hexdigest()[:16]


PROBE_IMAGES = 4


@torch.no_grad()
def probe_outputs(model: nn.Module, input_shape: tuple[int, int, int]) -> torch.Tensor:
    """The model's float32 eval-mode outputs on a fixed random batch (seed 0).

    Stored with every checkpoint and recomputed at load: a change to what the architecture
    computes that keeps every weight's shape (another activation, pooling or stride, a rewired
    ``forward``) changes them, and loading refuses.
    """
    x = torch.randn((PROBE_IMAGES, *input_shape), generator=torch.Generator().manual_seed(0))
    was_training = model.training
    model.eval()
    out = model(x.to(next(model.parameters()).device)).float().cpu()
    model.train(was_training)
    return out


def _build(e: ZooEntry) -> nn.Module:
    return get_model(e.model, **e.model_kwargs)


def _retrain_hint(name: str, replace_existing: bool = True) -> str:
    """What to run to (re)create entry ``name``: ``--fresh`` replaces a checkpoint that exists."""
    if replace_existing:
        return f"Re-create it with `python -m cnnlib.zoo train {name} --fresh` (in the course folder)."
    return f"Create it with `python -m cnnlib.zoo train {name}` (in the course folder)."


# --------------------------------------------------------------------------- training


def _eval_fp32(model: nn.Module, ds: cdata.ImageTensors) -> dict[str, float]:
    device = next(model.parameters()).device
    return evaluate(model, ds, SpeedSettings(str(device)), batch_size=500)


def _round_trip(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A float32 copy of ``model`` whose floating-point weights went through ``dtype`` (what loading gives)."""
    import copy

    clone = copy.deepcopy(model).float().to(memory_format=torch.contiguous_format)
    with torch.no_grad():
        for t in list(clone.parameters()) + list(clone.buffers()):
            if t.is_floating_point():
                t.copy_(t.to(dtype).float())
    return clone.eval()


def refuse_to_overwrite(names: list[str]) -> None:
    """Raise ``AlreadyTrainedError`` naming every entry of ``names`` that has a checkpoint or a log."""
    done = [n for n in names if _checkpoint_path(n).is_file() or _log_path(n).is_file()]
    if done:
        raise AlreadyTrainedError(
            f"Already trained: {', '.join(done)} (see `python -m cnnlib.zoo list`). Training again from scratch replaces "
            f"the checkpoint: `python -m cnnlib.zoo train {' '.join(done)} --fresh` (in Python: `train(name, fresh=True)`)."
        )


def train(name: str, *, fresh: bool = False, progress: bool = True, device: str | None = None) -> dict[str, Any]:
    """Train entry ``name`` with its recipe, store its checkpoint and log, and return the log.

    Resumable: the training state is saved after every epoch and a new call continues from
    it. An entry that already has a checkpoint is refused (``AlreadyTrainedError``) unless
    ``fresh=True``, which starts again from scratch: it deletes the entry's checkpoint, log and
    partial run first, so that if this run is interrupted in turn, ``train(name)`` continues it.
    """
    e = entry(name)
    if not fresh:
        refuse_to_overwrite([name])
    resume = _resume_path(name)
    if fresh:
        for old in (resume, _checkpoint_path(name), Path(f"{_checkpoint_path(name)}.sha256"), _log_path(name)):
            old.unlink(missing_ok=True)
    train_ds, test_ds = load_dataset(e, "train"), load_dataset(e, "test")
    torch.manual_seed(e.config.seed)  # the weights' initialisation is part of the recipe
    model = _build(e)
    dev = pick_device(device)
    wall = time.perf_counter()
    history = fit(
        model, train_ds, test_ds, e.config, device=dev, progress=progress, resume=resume,
        restart_hint=f"start again with `python -m cnnlib.zoo train {name} --fresh`",
    )
    model = model.cpu().float().to(memory_format=torch.contiguous_format).eval()

    # Store float16 unless that costs accuracy; every figure below is measured on the stored weights.
    full32 = _eval_fp32(model, test_ds)
    stored_dtype = torch.float16
    stored = _round_trip(model, stored_dtype)
    full = _eval_fp32(stored, test_ds)
    if abs(full["acc"] - full32["acc"]) > FP16_TOLERANCE:
        stored_dtype, stored, full = torch.float32, model, full32
    subset = _eval_fp32(stored, ci_subset(test_ds))
    train_clean = _eval_fp32(stored, train_ds)
    fingerprint = architecture_fingerprint(stored)
    probe = probe_outputs(stored, test_ds.shape)

    zoo_dir().mkdir(parents=True, exist_ok=True)
    path = _checkpoint_path(name)
    sha = save_checkpoint(
        path,
        stored,
        model_name=e.model,
        model_kwargs=e.model_kwargs,
        config=e.config,
        storage_dtype=stored_dtype if stored_dtype != torch.float32 else None,
        extra={"zoo": {"entry": name, "version": e.version, "fingerprint": fingerprint, "probe_outputs": probe, "input_shape": test_ds.shape}},
    )
    import torchvision

    last = history["epochs"][-1]
    log = {
        "entry": name,
        "version": e.version,
        "model": e.model,
        "model_kwargs": e.model_kwargs,
        "dataset": e.dataset,
        "pad": e.pad,
        "chapters": list(e.chapters),
        "purpose": e.purpose,
        "target_test_acc": e.target,
        "command": f"python -m cnnlib.zoo train {name}",
        "recipe": asdict(e.config),
        "parameters": count_parameters(stored),
        "mult_adds": count_mult_adds(stored, test_ds.shape),
        "speed": history["speed"],
        "hardware": history["hardware"],
        "resumed": history.get("resumed", []),
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "python_version": platform.python_version(),
        "data_source": history["data_source"],
        "started_utc": history["started_utc"],  # the run's first call (a resumed run keeps it)
        "finished_utc": utc_now(),
        "train_seconds": round(history["train_seconds"], 1),
        "wall_seconds_this_call": round(time.perf_counter() - wall, 1),
        "epochs": [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in rec.items()} for rec in history["epochs"]],
        "final": {
            "train_loss_augmented": last["train_loss"],
            "train_acc_augmented": last["train_acc"],
            "test_acc_float32_weights": full32["acc"],
        },
        "stored": {
            "dtype": str(stored_dtype).replace("torch.", ""),
            "test_acc": full["acc"],
            "test_loss": full["loss"],
            "test_images": len(test_ds),
            "ci_subset_acc": subset["acc"],
            "ci_subset_size": CI_SUBSET_SIZE,
            "train_acc_clean": train_clean["acc"],
            "train_loss_clean": train_clean["loss"],
            "fingerprint": fingerprint,
        },
        "checkpoint": {"file": path.name, "sha256": sha, "bytes": path.stat().st_size},
    }
    with cdata.atomic_write(_log_path(name)) as tmp:
        tmp.write_text(json.dumps(log, indent=1) + "\n")
    if resume.is_file():
        resume.unlink()
    return log


# --------------------------------------------------------------------------- loading


def load(name: str, device: str | torch.device = "cpu", fused: bool = False) -> tuple[nn.Module, dict[str, Any]]:
    """The trained model of entry ``name`` (float32, eval mode, on ``device``) and its log.

    ``fused=True`` (RepVGG entries) returns the re-parameterised network: every multi-branch
    block folded into one 3x3 convolution, computing the same function.

    Refuses, with what to do, an entry that was never trained, a checkpoint whose checksum
    differs from its log, a checkpoint of another model, of another entry version, or of an
    architecture that has changed since it was trained.
    """
    e = entry(name)
    path = _checkpoint_path(name)
    if not path.is_file() or not _log_path(name).is_file():
        missing = path if not path.is_file() else _log_path(name)
        raise NotTrainedError(f"The zoo entry {name!r} has not been trained here ({missing} is missing). {_retrain_hint(name, replace_existing=False)}")
    log = read_log(name)
    sha = log["checkpoint"]["sha256"]
    side = read_checksum(path)
    if side is not None and side != sha:
        raise CheckpointError(f"{path.name}.sha256 ({side[:16]}...) disagrees with the log {_log_path(name).name} ({sha[:16]}...). {_retrain_hint(name)}")

    def same_entry(meta: dict[str, Any]) -> None:  # checked before the weights are loaded, so a new version says so
        zoo = meta.get("zoo") or {}
        if zoo.get("entry") != name:
            raise CheckpointError(f"{path} was saved for zoo entry {zoo.get('entry')!r}, not {name!r}.")
        if zoo.get("version") != e.version:
            raise CheckpointError(
                f"{path} was trained for version {zoo.get('version')} of the entry {name!r}; the zoo now defines version "
                f"{e.version} (its model or recipe changed)."
            )
        if meta["model_kwargs"] != e.model_kwargs:
            raise CheckpointError(f"{path} was built with {meta['model_kwargs']}, the entry now says {e.model_kwargs}.")
        if meta.get("config") != asdict(e.config):
            raise CheckpointError(
                f"{path} was trained with another recipe than the entry {name!r} now defines (it differs in "
                f"{config_differences(meta.get('config'), e.config)}); the entry's version should have changed too."
            )

    model = _build(e)
    changed = f"The architecture of {e.model!r} has changed since {path.name} was trained"
    try:
        model, meta = load_checkpoint(path, model, expected_model=e.model, sha256=sha, check=same_entry)
    except CheckpointMismatchError as exc:
        raise CheckpointError(f"{changed}: its weights' names or shapes differ ({exc.detail[:300]}). {_retrain_hint(name)}") from None
    except CheckpointError as exc:
        raise CheckpointError(f"{exc} {_retrain_hint(name)}") from None
    zoo = meta["zoo"]
    expected = zoo.get("probe_outputs")
    if expected is None:
        raise CheckpointError(f"{path} has no probe outputs to check the architecture against. {_retrain_hint(name)}")
    got = probe_outputs(model, tuple(zoo["input_shape"]))
    # allclose is False for NaN: an architecture that now outputs NaN is refused too
    if got.shape != expected.shape or not torch.allclose(got, expected, rtol=0, atol=1e-3 * (1 + expected.abs().max().item())):
        raise CheckpointError(f"{changed}: on the same input it computes other outputs than when it was stored. {_retrain_hint(name)}")
    if fused:
        if not _has_branches_to_fuse(model):
            raise ValueError(f"fused=True applies to RepVGG entries; {name!r} ({e.model}) has no multi-branch blocks to fuse")
        model = _fuse(model)
    return model.to(device).eval(), log


def _has_branches_to_fuse(model: nn.Module) -> bool:
    from ..models.repvgg import RepVGGBlock

    return any(isinstance(m, RepVGGBlock) for m in model.modules())


def _fuse(model: nn.Module) -> nn.Module:
    from ..models.repvgg import reparameterized

    return reparameterized(model).eval()


# --------------------------------------------------------------------------- verification


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


def verify(names: list[str] | None = None, subset: bool | None = None, tolerance: float = TOLERANCE) -> list[Verification]:
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
            results.append(Verification(name, False, f"the {e.dataset} test set here has {len(cache[key])} images, the log was measured on "
                                                     f"{log['stored']['test_images']}: another or a partial copy of the dataset "
                                                     f"({cache[key].source})", logged))
            continue
        ds = ci_subset(cache[key], size) if subset else cache[key]
        measured = _eval_fp32(model, ds)["acc"]
        ok = abs(measured - logged) <= tolerance
        what = f"{'CI subset' if subset else 'test set'} of {len(ds)}: measured {measured:.2%}, log {logged:.2%}"
        what += "" if ok else f" (differs by more than {tolerance:.1%})"
        if _has_branches_to_fuse(model):  # RepVGG: the deployed (fused) form must predict what the trained one does
            agree = (predict(_fuse(model), ds, batch_size=500).argmax(1) == predict(model, ds, batch_size=500).argmax(1)).float().mean().item()
            fused_ok = agree >= 1 - FUSED_TOLERANCE
            ok = ok and fused_ok
            what += f"; fused form predicts the same class for {agree:.2%}" + (
                "" if fused_ok else f" (less than {1 - FUSED_TOLERANCE:.1%}: the fusion does not compute the trained function)")
        results.append(Verification(name, ok, what, logged, measured, len(ds)))
    return results


# --------------------------------------------------------------------------- results table


def _latency_path() -> Path:
    return zoo_dir() / "latency.json"


def _read_latencies() -> dict[str, Any]:
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
    record = _read_latencies()
    models = {name: load(name)[0] for name in names or trained()}
    shapes = {name: load_dataset(entry(name), "test").shape for name in models}
    fastest: dict[str, dict[str, float]] = {name: {"batch1_ms": math.inf, "batch64_ms": math.inf} for name in models}
    for _ in range(passes):
        for name, model in models.items():
            times = fastest[name]
            times["batch1_ms"] = min(times["batch1_ms"], measure_latency(model, shapes[name], 1, warmup=5, repeats=30))
            times["batch64_ms"] = min(times["batch64_ms"], measure_latency(model, shapes[name], 64, warmup=2, repeats=7))
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


def _duration(seconds: float) -> str:
    minutes = seconds / 60
    return f"{minutes:.1f} min" if minutes < 10 else (f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h")


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
    return f"{precision}; " + "; ".join(f"{s['cpu']} (epochs {s['first']}–{s['last']}, fastest {s['fastest_s']:.0f} s)" for s in stretches)


def _ms(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def results_table() -> str:
    """The Markdown table of every entry (trained or not), as written to ``data/zoo/RESULTS.md``."""
    lat = _read_latencies()
    rows = [
        "| entry | model | data | chapters | parameters | mult-adds | CPU latency b=1 (ms) | b=64 (ms) | test acc | target | epochs | training time | precision; trained on (fastest epoch) |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, e in ENTRIES.items():
        log = read_log(name)
        target = f"≥ {e.target:.0%}" if e.target else "—"
        if log is None:
            rows.append(f"| {name} | `{e.model}` | {e.dataset} | {', '.join(e.chapters)} | | | | | not trained yet | {target} | {e.config.epochs} | | |")
            continue
        l = lat["entries"].get(name, {})
        rows.append(
            f"| {name} | `{e.model}` | {e.dataset} | {', '.join(e.chapters)} | {log['parameters']:,} | {log['mult_adds'] / 1e6:,.1f} M "
            f"| {_ms(l.get('batch1_ms'), 2)} | {_ms(l.get('batch64_ms'), 1)} | {log['stored']['test_acc']:.2%} | {target} "
            f"| {len(log['epochs'])} | {_duration(log['train_seconds'])} | {_machines_cell(log)} |"
        )
    head = [
        "# The zoo: results",
        "",
        "Generated by `python -m cnnlib.zoo table --bench` from the logs in this folder; do not edit by hand.",
        "Test accuracy: the stored weights, float32, on the whole test set of the source named in each log.",
        "Mult-adds: one forward pass of one image. Training time: the sum of the epochs' wall times, over every session "
        "that trained the entry (the log lists them); where the 2 cores were shared with other work it is longer than the "
        "recipe needs, and the fastest epoch comes closest to what one epoch costs on a quiet machine. Processors differ "
        "(an entry may have been trained on two): compare epoch times only within one processor. Precision: what the "
        "speed rule of `cnnlib.train` chose for the run (bfloat16 autocast only where it measured faster).",
    ]
    measured = [lat["entries"][n] for n in trained() if n in lat["entries"]]
    if measured:
        hardware = sorted({m["hardware"] for m in measured})
        when = sorted(m["measured_utc"] for m in measured)
        rounds = " or ".join(str(n) for n in sorted({m.get("passes", 1) for m in measured}))
        head.append(
            f"Latency: float32, eval mode: the median time of repeated forward passes, taken in {rounds} rounds through the entries "
            f"measured together (all of them with `--bench`); each entry keeps its lowest round, since other load on the machine only adds time; measured {when[0][:10]}" + (f" to {when[-1][:10]}" if when[-1][:10] != when[0][:10] else "")
            + f" on {' / '.join(hardware)}; each entry's time and load average are in latency.json."
        )
    return "\n".join(head + [""] + rows + [""] + _degradation_section()) + "\n"


# He et al. (2016), "Deep residual learning for image recognition", Table 6: CIFAR-10 test error (%).
# The plain nets have no table row; their Fig. 6 shows plain-56 above plain-20 in training *and* test error.
PUBLISHED_TEST_ERROR = {"resnet20": 8.75, "resnet56": 6.97}
DEGRADATION_QUARTET = {"plain20": 20, "plain56": 56, "resnet20": 20, "resnet56": 56}  # entry -> weighted layers


def degradation_summary() -> list[dict[str, Any]]:
    """The degradation quartet (He et al. Fig. 1 and 6) from the logs: one row per entry.

    Each row: ``name``, ``depth``, ``shortcuts``, and for a trained entry ``train_error_last_epoch``
    (the mean over the last epoch's augmented batches: the last point of a training curve),
    ``train_error_clean`` (the stored weights on the un-augmented training set), ``test_error`` and
    ``published_test_error`` (or None), all in percent; an untrained entry has None there.
    """
    rows = []
    for name, depth in DEGRADATION_QUARTET.items():
        log = read_log(name)
        row: dict[str, Any] = {"name": name, "depth": depth, "shortcuts": name.startswith("resnet"),
                               "published_test_error": PUBLISHED_TEST_ERROR.get(name)}
        if log is None:
            row.update(train_error_last_epoch=None, train_error_clean=None, test_error=None)
        else:
            row.update(
                train_error_last_epoch=100 * (1 - log["epochs"][-1]["train_acc"]),
                train_error_clean=100 * (1 - log["stored"]["train_acc_clean"]),
                test_error=100 * (1 - log["stored"]["test_acc"]),
            )
        rows.append(row)
    return rows


def _degradation_section() -> list[str]:
    def fmt(v: float | None) -> str:
        return "—" if v is None else f"{v:.2f} %"

    rows = degradation_summary()
    lines = [
        "## The degradation experiment (He et al. 2016, Fig. 1 and 6)",
        "",
        "Same recipe, same number of epochs. Train error, last epoch: the mean over that epoch's augmented batches "
        "(the last point of a training curve); clean: the stored weights on the un-augmented training set. "
        "Published: He et al. Table 6 (test error; the plain nets appear only in Fig. 6).",
        "",
        "| entry | layers | shortcuts | train error, last epoch | train error, clean | test error | published test error |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['depth']} | {'identity' if r['shortcuts'] else 'none'} | {fmt(r['train_error_last_epoch'])} "
            f"| {fmt(r['train_error_clean'])} | {fmt(r['test_error'])} | {fmt(r['published_test_error'])} |"
        )
    by_name = {r["name"]: r for r in rows}
    lines.append("")
    for shallow, deep, expected in (("plain20", "plain56", "higher"), ("resnet20", "resnet56", "lower")):
        a, b = by_name[shallow], by_name[deep]
        if a["train_error_last_epoch"] is None or b["train_error_last_epoch"] is None:
            missing = " and ".join(n for n in (shallow, deep) if by_name[n]["train_error_last_epoch"] is None)
            lines.append(f"- {deep} vs {shallow}: waits for {missing} (`python -m cnnlib.zoo train {missing.split(' and ')[0]}`).")
            continue
        diff = b["train_error_last_epoch"] - a["train_error_last_epoch"]
        found = "higher" if diff > 0.005 else "lower" if diff < -0.005 else "the same"
        verdict = "as in the paper" if found == expected else f"the paper finds it {expected}"
        lines.append(f"- {deep} vs {shallow}: last-epoch train error {diff:+.2f} points, {found} ({verdict}).")
    return lines


def write_results_table() -> Path:
    path = zoo_dir() / "RESULTS.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(results_table())
    return path
