"""Every chapter notebook runs top to bottom in a fresh kernel (the course's CI check of the lectures).

Each run's executed copy is kept in ``build/executed/`` with its fingerprint, so that the decks
and the site (``tests/test_presentation*.py``, ``python3 course.py build``) reuse these outputs
instead of executing every notebook a second time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnlib.presentation.execute import execute

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path: Path) -> None:
    nb = execute(path, log=lambda *_: None)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: a cell printed an error: {errors[0].get('ename')}"
