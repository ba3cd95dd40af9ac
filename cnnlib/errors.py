"""The one error for a name the course does not know (a model, a zoo entry, an experiment), with a hint.

A foundation module: it imports nothing of ``cnnlib``, so every layer may use it.
"""

from __future__ import annotations

import difflib
from typing import Iterable

__all__ = ["UnknownNameError", "did_you_mean"]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` Did you mean 'a', 'b'?`` for the known names closest to a misspelt ``name`` (or "")."""
    close = difflib.get_close_matches(name, list(known), n=3)
    return f" Did you mean {', '.join(map(repr, close))}?" if close else ""


class UnknownNameError(KeyError):
    """A name no registry knows. ``str()`` is the message itself (``KeyError`` would quote it).

    ``UnknownNameError.for_name("model", "lenet", known, "cnnlib.list_models() lists them.")`` builds
    the course's standard message: what was asked for, the closest known names, where to list them all.
    Each registry subclasses it (``UnknownModelError`` ...), so callers can catch one kind or all.
    """

    def __str__(self) -> str:
        return str(self.args[0])

    @classmethod
    def for_name(cls, message: str, name: str, known: Iterable[str], listing: str) -> "UnknownNameError":
        """``message`` (e.g. ``"Unknown model 'x'."``), the did-you-mean hint for ``name``, then ``listing``."""
        return cls(f"{message}{did_you_mean(name, known)} {listing}")
