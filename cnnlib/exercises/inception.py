"""Checkers for chapter 04 (GoogLeNet and Inception)."""

from __future__ import annotations

__all__: list[str] = []
