"""Measured experiments too long for a lecture: one command reproduces each, the notebook reads its result.

A chapter registers an experiment in its own ``cnnlib/chapters/chNN_slug/experiments.py``::

    @experiment("relu_vs_tanh", description="...")   # its chapter is the package's (02)
    def relu_vs_tanh(quick: bool = False) -> dict:
        ...            # trains / measures; returns a JSON-serialisable result
        return {...}

``python -m cnnlib.experiments run NAME`` runs it and writes ``data/experiments/NAME.json``: the
result plus the command, wall time, hardware, library versions and date. Notebooks call
``load_result(NAME)``. ``quick=True`` runs a reduced version (seconds) that tests use to check the
code path and the result's form; a quick run is never written as the stored result.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..errors import UnknownNameError
from ..io import atomic_write
from ..provenance import provenance, results_dir
from ..runtime import hardware_summary, utc_now

__all__ = [
    "EXPERIMENTS",
    "Experiment",
    "ExperimentNotRunError",
    "UnknownExperimentError",
    "experiment",
    "experiments_dir",
    "load_result",
    "run",
]

EXPERIMENTS_ENV = "CNNLIB_EXPERIMENTS"


@dataclass(frozen=True)
class Experiment:
    name: str
    chapter: str
    description: str
    fn: Callable[..., dict[str, Any]]


EXPERIMENTS: dict[str, Experiment] = {}


class UnknownExperimentError(UnknownNameError):
    """A name no chapter registered as an experiment."""


class ExperimentNotRunError(FileNotFoundError):
    pass


def experiment(
    name: str, *, description: str, chapter: str | None = None
) -> Callable[[Callable[..., dict]], Callable[..., dict]]:
    """Register ``fn(quick: bool = False) -> dict`` as the experiment ``name``.

    ``chapter`` ("02") defaults to the chapter whose package defines ``fn``
    (``cnnlib.chapters.ch02_alexnet.experiments``); given as well, it must agree.
    """

    def decorator(fn: Callable[..., dict]) -> Callable[..., dict]:
        if name in EXPERIMENTS:
            raise ValueError(f"experiment {name!r} is already registered")
        found = re.search(r"\.chapters\.ch(\d\d)_", fn.__module__)
        if chapter is None and found is None:
            raise ValueError(
                f"experiment {name!r} is defined outside a chapter's package ({fn.__module__}): pass chapter="
            )
        if chapter is not None and found is not None and chapter != found.group(1):
            raise ValueError(
                f"experiment {name!r} says chapter {chapter!r} but is defined in chapter {found.group(1)}'s package"
            )
        EXPERIMENTS[name] = Experiment(name, chapter or found.group(1), description, fn)
        return fn

    return decorator


def get(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise UnknownExperimentError.for_name(
            f"Unknown experiment {name!r}.",
            name,
            EXPERIMENTS,
            f"Known: {', '.join(sorted(EXPERIMENTS))} (`python -m cnnlib.experiments list`).",
        )
    return EXPERIMENTS[name]


def experiments_dir() -> Path:
    """``$CNNLIB_EXPERIMENTS`` if set, else the course's ``data/experiments`` (committed with the course)."""
    return results_dir(EXPERIMENTS_ENV, "experiments")


def _result_path(name: str) -> Path:
    return experiments_dir() / f"{name}.json"


def run(name: str, quick: bool = False, save: bool | None = None) -> dict[str, Any]:
    """Run experiment ``name``; return its record. A full run is saved (``save=None``); a quick run never is."""
    exp = get(name)
    if quick and save:
        raise ValueError("a quick run is a smoke test and is never stored as the experiment's result")
    started = utc_now()
    t0 = time.perf_counter()
    result = exp.fn(quick=quick)
    record = {
        "experiment": name,
        "chapter": exp.chapter,
        "description": exp.description,
        "quick": quick,
        "started_utc": started,
        "wall_seconds": round(time.perf_counter() - t0, 1),
        **provenance(f"python -m cnnlib.experiments run {name}", hardware_summary(torch.device("cpu"))),
        "result": result,
    }
    text = json.dumps(record, indent=1) + "\n"  # fails here, before writing, if the result is not JSON
    if save is None:
        save = not quick
    if save:
        with atomic_write(_result_path(name)) as tmp:
            tmp.write_text(text)
    return record


def load_result(name: str) -> dict[str, Any]:
    """The stored record of experiment ``name`` (its ``"result"`` holds what the experiment returned)."""
    get(name)
    path = _result_path(name)
    if not path.is_file():
        raise ExperimentNotRunError(
            f"experiment {name!r} has no stored result at {path}; run `python -m cnnlib.experiments run {name}`"
        )
    record = json.loads(path.read_text())
    if record.get("experiment") != name or record.get("quick"):
        raise ValueError(f"{path} is not a full run of {name!r}; run `python -m cnnlib.experiments run {name}` again")
    return record


# The chapters' experiments register themselves when their module is imported: every chapter's
# ``experiments.py`` is found and imported here (nothing lists them by hand).
from ..chapters import chapter_modules  # noqa: E402

chapter_modules("experiments")
