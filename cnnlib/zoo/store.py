"""Where the zoo keeps its files and what its logs must hold: paths, reading a log, what is trained."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..checkpoint import CheckpointError
from ..provenance import results_dir
from ..train import read_resume_file
from .entries import ENTRIES, entry

__all__ = [
    "AlreadyTrainedError",
    "LOG_KEYS",
    "NotTrainedError",
    "ZOO_ENV",
    "partial_run",
    "read_log",
    "refuse_to_overwrite",
    "trained",
    "zoo_dir",
]

ZOO_ENV = "CNNLIB_ZOO"


class NotTrainedError(FileNotFoundError):
    """The entry has no checkpoint yet."""


class AlreadyTrainedError(FileExistsError):
    """Training would replace an entry's checkpoint, and ``fresh`` was not asked for."""


# --------------------------------------------------------------------------- places


def zoo_dir() -> Path:
    """``$CNNLIB_ZOO`` if set, else the course's ``data/zoo`` (committed with the course)."""
    return results_dir(ZOO_ENV, "zoo")


def _checkpoint_path(name: str) -> Path:
    return zoo_dir() / f"{name}.pt"


def _log_path(name: str) -> Path:
    return zoo_dir() / f"{name}.json"


def _resume_path(name: str) -> Path:
    return zoo_dir() / "resume" / f"{name}.pt"


LOG_KEYS = (
    "version",
    "recipe",
    "parameters",
    "mult_adds",
    "train_seconds",
    "epochs",
    "stored",
    "checkpoint",
    "hardware",
)


def read_log(name: str) -> dict[str, Any] | None:
    """The training log of entry ``name``, or None if it has not been trained.

    A log that is not valid JSON, or lacks what the zoo reads from it, raises a ``CheckpointError``
    that says so and what to do.
    """
    entry(name)
    path = _log_path(name)
    if not path.is_file():
        return None
    restore = (
        f"Restore it (`git checkout -- data/zoo/{path.name}` for the course's own logs). "
        f"Otherwise: {_retrain_hint(name)}"
    )
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
    if not (
        isinstance(epochs, list)
        and epochs
        and all(isinstance(ep, dict) and number(ep.get("train_acc")) and number(ep.get("seconds")) for ep in epochs)
    ):
        wrong.append("epochs is not a list of epoch records with train_acc and seconds")
    if not (number(log["parameters"]) and number(log["mult_adds"]) and number(log["train_seconds"])):
        wrong.append("parameters, mult_adds or train_seconds is not a number")
    resumed = log.get("resumed", [])
    if not isinstance(log["hardware"], str):
        wrong.append("hardware is not a line of text")
    if not (
        isinstance(resumed, list)
        and all(
            isinstance(r, dict) and isinstance(r.get("after_epoch"), int) and isinstance(r.get("hardware"), str)
            for r in resumed
        )
    ):
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


def _retrain_hint(name: str, replace_existing: bool = True) -> str:
    """What to run to (re)create entry ``name``: ``--fresh`` replaces a checkpoint that exists."""
    if replace_existing:
        return f"Re-create it with `python -m cnnlib.zoo train {name} --fresh` (in the course folder)."
    return f"Create it with `python -m cnnlib.zoo train {name}` (in the course folder)."


def refuse_to_overwrite(names: list[str]) -> None:
    """Raise ``AlreadyTrainedError`` naming every entry of ``names`` that has a checkpoint or a log."""
    done = [n for n in names if _checkpoint_path(n).is_file() or _log_path(n).is_file()]
    if done:
        raise AlreadyTrainedError(
            f"Already trained: {', '.join(done)} (see `python -m cnnlib.zoo list`). "
            "Training again from scratch replaces the checkpoint: "
            f"`python -m cnnlib.zoo train {' '.join(done)} --fresh` (in Python: `train(name, fresh=True)`)."
        )
