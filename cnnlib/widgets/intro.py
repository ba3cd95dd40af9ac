"""Interactive explorers for chapter 00 (Introduction)."""

from __future__ import annotations

__all__: list[str] = []
