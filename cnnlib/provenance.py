"""Where a stored result came from, and where the course keeps stored results.

The zoo's logs (``data/zoo/NAME.json``) and the experiments' records
(``data/experiments/NAME.json``) both say which command produced them, on which hardware, with
which library versions: :func:`provenance` is that record, written the same way by both. Both
folders are found the same way too: :func:`results_dir`.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch

__all__ = ["course_root", "provenance", "results_dir"]


def course_root() -> Path:
    """The course folder (the one holding ``cnnlib/``, ``data/`` and ``lectures/``)."""
    return Path(__file__).resolve().parents[1]


def results_dir(env_var: str, name: str) -> Path:
    """``$env_var`` if set, else the course's ``data/<name>`` (committed with the course)."""
    if os.environ.get(env_var):
        return Path(os.environ[env_var]).expanduser()
    return course_root() / "data" / name


def provenance(command: str, hardware: str) -> dict[str, Any]:
    """``{"command", "hardware", "torch_version", "torchvision_version", "python_version"}`` for a stored result.

    ``hardware`` is :func:`cnnlib.runtime.hardware_summary` of the machine that produced it (for a
    training run, the line its history recorded when it started).
    """
    import torchvision

    return {
        "command": command,
        "hardware": hardware,
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
        "python_version": platform.python_version(),
    }
