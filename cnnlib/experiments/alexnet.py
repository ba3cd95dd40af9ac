"""Experiments of chapter 02 (AlexNet and ZFNet): see the package docstring for how they are run and stored."""

from __future__ import annotations

from . import experiment  # noqa: F401
