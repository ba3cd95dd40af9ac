"""Everything that exists for one chapter, in one place: ``cnnlib/chapters/chNN_slug/``.

A chapter's package holds what no other chapter needs: its exercise checkers
(``exercises.py``), its figures and explorers (``figures.py``), its stored experiments
(``experiments.py``), its published tables (chapter 00's ILSVRC winners, chapter 04's Table 1)
and its reports. Reusable techniques live by topic elsewhere (:mod:`cnnlib.analysis`,
:mod:`cnnlib.viz`, :mod:`cnnlib.widgets`); a chapter's code calls them.

Only lectures, tests and the command-line tools import a chapter (the layering test checks it).
Nothing lists the chapters by hand: :func:`chapter_modules` finds every chapter's module of a
kind, so ``python -m cnnlib.experiments`` knows a new chapter's experiments as soon as its
``experiments.py`` exists.

Exercise checkers take the student's answer, raise ``AssertionError`` with a hint when it is
wrong, and report what was verified with :func:`passed` when it is right. The reference answers
come from PyTorch itself (a real layer, a real model), never from a second hand-written formula.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
from types import ModuleType

__all__ = ["chapter_modules", "chapters", "passed"]


CHAPTER_NAME = re.compile(r"ch\d\d_[a-z0-9_]+")  # ch07_after_resnet: two digits, then the slug


def chapters() -> list[str]:
    """The chapter packages, in order: ``["ch00_introduction", "ch01_lenet", ...]`` (named ``chNN_slug``)."""
    return sorted(
        info.name for info in pkgutil.iter_modules(__path__) if info.ispkg and CHAPTER_NAME.fullmatch(info.name)
    )


def chapter_modules(kind: str) -> list[ModuleType]:
    """Every chapter's module called ``kind`` (e.g. ``"experiments"``), imported, in chapter order.

    The one dynamic import of the course: it lets a registry find the chapters' contributions
    without importing the chapters by name (see ``tests/test_layering.py``).
    """
    found = []
    for chapter in chapters():
        name = f"{__name__}.{chapter}.{kind}"
        if importlib.util.find_spec(name) is not None:
            found.append(importlib.import_module(name))
    return found


def passed(message: str) -> bool:
    """Print what was verified and return True (a checker raises AssertionError with a hint otherwise)."""
    print(f"Correct: {message}")
    return True
