"""Checkers for chapter 03 (VGG)."""

from __future__ import annotations

__all__: list[str] = []
