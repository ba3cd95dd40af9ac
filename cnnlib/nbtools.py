"""Small helpers for the notebooks: the first cell (``start``), showing cnnlib's code, showing a table,
and the ``%%solution`` cell magic that keeps a solution's answers folded until the student opens them."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping, Sequence

import torch

from .data import mirror_dir
from .runtime import hardware_summary, pick_device, seed_everything, use_all_cores
from .viz import use_course_style

__all__ = [
    "answer_bundle",
    "format_table",
    "register_solution_magic",
    "run_solution",
    "show_source",
    "show_table",
    "start",
]


def start(seed: int = 0) -> torch.device:
    """Seed everything, use every CPU core and the course's figure style, pick the device, print the set-up."""
    import cnnlib

    _inline_figures()
    register_solution_magic()
    use_course_style()
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


ANSWER_SUMMARY = "Answer: click to show"


def answer_bundle(text: str) -> dict[str, str]:
    """A display bundle that shows ``text`` folded: an HTML ``<details>`` element, closed, that opens on a
    click (JupyterLab, VS Code, the exported pages); plain text where HTML is not shown."""
    import html

    body = html.escape(text.rstrip("\n"))
    return {
        "text/html": f"<details class='cnnlib-answer'><summary>{ANSWER_SUMMARY}</summary><pre>{body}</pre></details>",
        "text/plain": f"{ANSWER_SUMMARY.split(':')[0]}:\n{text.rstrip()}",
    }


def run_solution(source: str, namespace: dict) -> str:
    """Run a solution cell's ``source`` in ``namespace`` (the notebook's variables) and return what it printed.

    An error propagates with its traceback, so a broken solution fails the notebook's test. A solution
    that displays a table or draws a figure is refused with an error: those would show under the folded
    answer, so a solution's answer is printed text.
    """
    import matplotlib.pyplot as plt
    from IPython.utils.capture import capture_output

    figures = set(plt.get_fignums())
    with capture_output(stdout=True, stderr=False, display=True) as captured:
        exec(compile(source, "<solution>", "exec"), namespace)
    drawn = set(plt.get_fignums()) - figures
    for number in drawn:
        plt.close(number)
    if captured.outputs or drawn:
        raise ValueError(
            "a %%solution cell may only print text (it is shown folded); this one displayed "
            f"{len(captured.outputs)} rich output(s) and drew {len(drawn)} figure(s): print the answer instead"
        )
    return captured.stdout


def _solution_magic(line: str, cell: str) -> None:
    """``%%solution``: run the cell, and show what it printed folded under "Answer: click to show".

    "Run All" then runs every solution (so a broken one is caught) without putting its answers on screen.
    """
    from IPython import get_ipython
    from IPython.display import display

    printed = run_solution(cell, get_ipython().user_ns)
    if printed.strip():  # a "think" solution has its answer in comments only
        display(answer_bundle(printed), raw=True)


def register_solution_magic() -> None:
    """Make ``%%solution`` available in the running IPython kernel (``start`` calls this)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.register_magic_function(_solution_magic, magic_kind="cell", magic_name="solution")


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


def _cell(value: Any, fmt: str | Callable[[Any], str] | None) -> str:
    if value is None:
        return "—"
    if callable(fmt):
        return fmt(value)
    if fmt is not None:
        return format(value, fmt)
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def format_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Mapping[str, str],
    formats: Mapping[str, str | Callable[[Any], str]] | None = None,
) -> str:
    """A Markdown table of ``rows``: ``columns`` maps each row key to its header, in order; ``formats`` maps a
    key to a format spec (``".2f"``) or a function. ``None`` shows as a dash, integers with thousands separators.
    Numeric columns are right-aligned."""
    formats = formats or {}
    missing = [key for key in columns if rows and key not in rows[0]]
    if missing:
        raise KeyError(f"the rows have no {missing}; their keys: {list(rows[0])}")
    numeric = {key: all(isinstance(r[key], (int, float)) or r[key] is None for r in rows) for key in columns}
    lines = ["| " + " | ".join(columns.values()) + " |"]
    lines.append("| " + " | ".join("---:" if numeric[k] else "---" for k in columns) + " |")
    for row in rows:
        lines.append("| " + " | ".join(_cell(row[k], formats.get(k)) for k in columns) + " |")
    return "\n".join(lines)


def show_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Mapping[str, str],
    formats: Mapping[str, str | Callable[[Any], str]] | None = None,
) -> None:
    """Display :func:`format_table` as a rendered table in a notebook (printed as Markdown elsewhere)."""
    text = format_table(rows, columns, formats)
    try:
        from IPython.display import Markdown, display

        display(Markdown(text))
    except ImportError:  # plain Python
        print(text)
