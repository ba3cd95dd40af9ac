"""Interactive explorers for chapter 02 (AlexNet and ZFNet)."""

from __future__ import annotations

__all__: list[str] = []
