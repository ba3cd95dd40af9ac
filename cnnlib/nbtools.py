"""Small helpers for the first cell of every notebook."""

from __future__ import annotations

import inspect

import torch

from .data import mirror_dir
from .runtime import hardware_summary, pick_device, seed_everything, use_all_cores

__all__ = ["start", "show_source"]


def start(seed: int = 0) -> torch.device:
    """Seed everything, use every CPU core, pick the device and print the hardware, versions and data sources."""
    import cnnlib

    _inline_figures()
    use_all_cores()
    seed_everything(seed)
    device = pick_device()
    print(f"cnnlib {cnnlib.__version__} | seed {seed}")
    print(hardware_summary(device))
    mirror = mirror_dir()
    print(
        "data: cache in cnnlib's data folder, then "
        f"{'the mirror ' + str(mirror) if mirror else 'no mirror ($CNNLIB_MIRROR unset)'}, "
        "then torchvision's download"
    )
    return device


def _inline_figures() -> None:
    """In a notebook, show every figure a cell creates below it (``%matplotlib inline``).

    Without the explicit magic, recent matplotlib/ipykernel pairs display the figures of the
    first plotting cell only, when the notebook is executed headless.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":
        shell.run_line_magic("matplotlib", "inline")


def show_source(obj, start: str | None = None, stop: str | None = None) -> None:
    """Print the source of a class or function from cnnlib (optionally from the line containing ``start`` to the
    one containing ``stop``)."""
    lines = inspect.getsource(obj).splitlines()
    name = getattr(obj, "__qualname__", repr(obj))

    def first(marker: str) -> int:
        for i, line in enumerate(lines):
            if marker in line:
                return i
        raise ValueError(f"no line of {name}'s source contains {marker!r} (it changed?): pass another start or stop")

    if start is not None:
        lines = lines[first(start) :]
    if stop is not None:
        lines = lines[: first(stop) + 1]
    try:
        from IPython.display import Code, display

        display(Code("\n".join(lines), language="python"))
    except ImportError:  # plain Python
        print("\n".join(lines))
