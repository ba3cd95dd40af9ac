"""Execute a course notebook top to bottom, once, and keep the result for the build.

The test suite executes every notebook (``tests/test_notebooks.py``) and stores the executed copy
in ``build/executed/``; the build (:mod:`cnnlib.presentation.build`) exports decks and pages from
those copies, and executes a notebook again only when its fingerprint changed: the notebook's
cells, cnnlib's code, the course's stored results and figures, and the Python and torch versions.
"""

from __future__ import annotations

import hashlib
import os
import platform
import time
from pathlib import Path

import nbformat

from ..provenance import course_root

__all__ = ["EXECUTED", "NotebookFailed", "execute", "executed_copy", "fingerprint"]

EXECUTED = "build/executed"  # relative to the course folder
CELL_TIMEOUT_S = 900


class NotebookFailed(RuntimeError):
    """A cell raised: the message names the cell, and the partly executed copy is kept for a look."""


def _hash_tree(h, folder: Path, patterns: tuple[str, ...], content: bool, skip: tuple[str, ...] = ()) -> None:
    for pattern in patterns:
        for path in sorted(folder.rglob(pattern)):
            if not path.is_file() or "__pycache__" in path.parts or path.relative_to(folder).parts[0] in skip:
                continue
            h.update(path.relative_to(folder).as_posix().encode())
            if content:
                h.update(path.read_bytes())
            else:  # large stored results: their size and time stamp stand for them
                st = path.stat()
                h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())


def fingerprint(path: str | Path) -> str:
    """Changes whenever anything that the notebook's outputs depend on may have changed."""
    import torch

    root = course_root()
    nb = nbformat.read(path, as_version=4)
    h = hashlib.sha256()
    for cell in nb.cells:
        h.update(cell.cell_type.encode() + b"\0" + cell.source.encode() + b"\0")
    _hash_tree(h, root / "cnnlib", ("*.py",), content=True, skip=("presentation",))  # the build's own code
    _hash_tree(h, root / "img", ("*",), content=True)
    for name in ("zoo", "experiments"):
        if (root / "data" / name).is_dir():
            _hash_tree(h, root / "data" / name, ("*",), content=False)
    h.update(f"{platform.python_version()} {torch.__version__} {os.environ.get('CNNLIB_MIRROR', '')}".encode())
    return h.hexdigest()


def executed_copy(path: str | Path, build: Path | None = None) -> Path:
    return (build or course_root() / "build") / "executed" / Path(path).name


def execute(path: str | Path, *, reuse: bool = False, build: Path | None = None, log=print) -> nbformat.NotebookNode:
    """Run every cell of the notebook at ``path`` in a fresh kernel (working folder: the notebook's).

    The executed copy goes to ``build/executed/NAME.ipynb`` with its fingerprint, time and CPU in
    its metadata. With ``reuse=True`` a copy whose fingerprint matches is returned instead.
    Raises :class:`NotebookFailed` naming the failing cell (the partial copy is kept beside it,
    as ``NAME.failed.ipynb``).
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    from ..runtime import hardware_summary

    path = Path(path).resolve()
    out = executed_copy(path, build)
    key = fingerprint(path)
    if reuse and out.exists():
        done = nbformat.read(out, as_version=4)
        if done.metadata.get("cnnlib_build", {}).get("fingerprint") == key:
            log(f"{path.name}: outputs reused (nothing changed since {done.metadata['cnnlib_build']['executed']})")
            return done
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        iopub_timeout=60,  # a busy 2-core machine can be slow to deliver a training cell's last messages
        store_widget_state=False,  # the static decks show a note instead of a live widget
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    log(f"{path.name}: executing ...")
    t0 = time.perf_counter()
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as exc:
        failed = out.with_suffix(".failed.ipynb")
        nbformat.write(nb, failed)
        raise NotebookFailed(f"{path.name} failed (partly executed copy: {failed}):\n{exc}") from None
    seconds = time.perf_counter() - t0
    nb.metadata["cnnlib_build"] = {
        "fingerprint": key,
        "seconds": round(seconds, 1),
        "executed": time.strftime("%Y-%m-%d %H:%M"),
        "hardware": hardware_summary(),
    }
    nbformat.write(nb, out)
    log(f"{path.name}: executed in {seconds:.1f} s")
    return nb
