"""Training and loading the zoo's checkpoints: the entry's data, its model, the identity checks.

``train(name)`` trains an entry with its recipe and stores the weights and the log;
``load(name)`` gives the trained model back, refusing a checkpoint that does not match its
log, its entry or the architecture as it is now.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .. import data as cdata
from ..analysis.activations import eval_mode
from ..analysis.summary import count_mult_adds, count_parameters
from ..checkpoint import (
    CheckpointError,
    CheckpointMismatchError,
    load_checkpoint,
    read_checksum,
    save_checkpoint,
    state_layout,
)
from ..io import atomic_write
from ..models import get_model
from ..provenance import provenance
from ..runtime import pick_device, utc_now
from ..train import SpeedSettings, config_differences, evaluate, fit
from .entries import ZooEntry, entry
from .store import (
    NotTrainedError,
    _checkpoint_path,
    _log_path,
    _resume_path,
    _retrain_hint,
    read_log,
    refuse_to_overwrite,
    zoo_dir,
)

__all__ = [
    "CI_SUBSET_SIZE",
    "FP16_TOLERANCE",
    "architecture_fingerprint",
    "ci_subset",
    "load",
    "load_dataset",
    "probe_outputs",
    "train",
]

CI_SUBSET_SIZE = 2000
FP16_TOLERANCE = 0.001  # float16 storage is used only if it moves test accuracy by at most 0.1 point


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
    return replace(
        ds, images=ds.images[idx], labels=ds.labels[idx], notes=ds.notes + (f"CI subset of {n} (content-hashed)",)
    )


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
    with eval_mode(model):
        return model(x.to(next(model.parameters()).device)).float().cpu()


# Keyword arguments renamed since a checkpoint was stored: old name -> new name (same meaning, same model).
# MobileNetV2 and EfficientNet-B0 were trained with ``width_mult``, now ``width`` like every other builder.
RENAMED_KWARGS = {"width_mult": "width"}


def _current_names(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A stored checkpoint's model kwargs under today's names (:data:`RENAMED_KWARGS`)."""
    return {RENAMED_KWARGS.get(key, key): value for key, value in kwargs.items()}


def _build(e: ZooEntry) -> nn.Module:
    return get_model(e.model, **e.model_kwargs)


# --------------------------------------------------------------------------- training


def _eval_fp32(model: nn.Module, ds: cdata.ImageTensors) -> dict[str, float]:
    device = next(model.parameters()).device
    return evaluate(model, ds, SpeedSettings(str(device)), batch_size=500)


def _round_trip(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A float32 copy of ``model`` whose floating-point weights went through ``dtype`` (what loading gives)."""
    clone = copy.deepcopy(model).float().to(memory_format=torch.contiguous_format)
    with torch.no_grad():
        for t in list(clone.parameters()) + list(clone.buffers()):
            if t.is_floating_point():
                t.copy_(t.to(dtype).float())
    return clone.eval()


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
        model,
        train_ds,
        test_ds,
        e.config,
        device=dev,
        progress=progress,
        resume=resume,
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
        extra={
            "zoo": {
                "entry": name,
                "version": e.version,
                "fingerprint": fingerprint,
                "probe_outputs": probe,
                "input_shape": test_ds.shape,
            }
        },
    )
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
        **provenance(f"python -m cnnlib.zoo train {name}", history["hardware"]),
        "recipe": asdict(e.config),
        "parameters": count_parameters(stored),
        "mult_adds": count_mult_adds(stored, test_ds.shape),
        "speed": history["speed"],
        "resumed": history.get("resumed", []),
        "data_source": history["data_source"],
        "started_utc": history["started_utc"],  # the run's first call (a resumed run keeps it)
        "finished_utc": utc_now(),
        "train_seconds": round(history["train_seconds"], 1),
        "wall_seconds_this_call": round(time.perf_counter() - wall, 1),
        "epochs": [
            {k: (round(v, 6) if isinstance(v, float) else v) for k, v in rec.items()} for rec in history["epochs"]
        ],
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
    with atomic_write(_log_path(name)) as tmp:
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
        raise NotTrainedError(
            f"The zoo entry {name!r} has not been trained here ({missing} is missing). "
            f"{_retrain_hint(name, replace_existing=False)}"
        )
    log = read_log(name)
    sha = log["checkpoint"]["sha256"]
    side = read_checksum(path)
    if side is not None and side != sha:
        raise CheckpointError(
            f"{path.name}.sha256 ({side[:16]}...) disagrees with the log {_log_path(name).name} ({sha[:16]}...). "
            f"{_retrain_hint(name)}"
        )

    def same_entry(meta: dict[str, Any]) -> None:  # checked before the weights are loaded, so a new version says so
        zoo = meta.get("zoo") or {}
        if zoo.get("entry") != name:
            raise CheckpointError(f"{path} was saved for zoo entry {zoo.get('entry')!r}, not {name!r}.")
        if zoo.get("version") != e.version:
            raise CheckpointError(
                f"{path} was trained for version {zoo.get('version')} of the entry {name!r}; "
                f"the zoo now defines version {e.version} (its model or recipe changed)."
            )
        if _current_names(meta["model_kwargs"]) != e.model_kwargs:
            raise CheckpointError(f"{path} was built with {meta['model_kwargs']}, the entry now says {e.model_kwargs}.")
        if config_differences(meta.get("config"), e.config):
            raise CheckpointError(
                f"{path} was trained with another recipe than the entry {name!r} now defines (it differs in "
                f"{config_differences(meta.get('config'), e.config)}); the entry's version should have changed too."
            )

    model = _build(e)
    changed = f"The architecture of {e.model!r} has changed since {path.name} was trained"
    try:
        model, meta = load_checkpoint(path, model, expected_model=e.model, sha256=sha, check=same_entry)
    except CheckpointMismatchError as exc:
        raise CheckpointError(
            f"{changed}: its weights' names or shapes differ ({exc.detail[:300]}). {_retrain_hint(name)}"
        ) from None
    except CheckpointError as exc:
        raise CheckpointError(f"{exc} {_retrain_hint(name)}") from None
    zoo = meta["zoo"]
    expected = zoo.get("probe_outputs")
    if expected is None:
        raise CheckpointError(f"{path} has no probe outputs to check the architecture against. {_retrain_hint(name)}")
    got = probe_outputs(model, tuple(zoo["input_shape"]))
    # allclose is False for NaN: an architecture that now outputs NaN is refused too
    if got.shape != expected.shape or not torch.allclose(
        got, expected, rtol=0, atol=1e-3 * (1 + expected.abs().max().item())
    ):
        raise CheckpointError(
            f"{changed}: on the same input it computes other outputs than when it was stored. {_retrain_hint(name)}"
        )
    if fused:
        if not _has_branches_to_fuse(model):
            raise ValueError(
                f"fused=True applies to RepVGG entries; {name!r} ({e.model}) has no multi-branch blocks to fuse"
            )
        model = _fuse(model)
    return model.to(device).eval(), log


def _has_branches_to_fuse(model: nn.Module) -> bool:
    from ..models.repvgg import RepVGGBlock

    return any(isinstance(m, RepVGGBlock) for m in model.modules())


def _fuse(model: nn.Module) -> nn.Module:
    from ..models.repvgg import reparameterized

    return reparameterized(model).eval()
