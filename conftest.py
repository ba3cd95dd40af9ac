"""Repository-wide pytest hooks: every core for torch; the notebooks before the tests that use their outputs;
how long each notebook took, against its budget."""

from __future__ import annotations

import re
from collections import defaultdict

_NOTEBOOK_SECONDS: dict[str, float] = defaultdict(float)
_NOTEBOOK_FAILED: set[str] = set()


def pytest_configure(config):
    """The unit tests train and time small models: give torch every core, as the course's entry points do."""
    from cnnlib.runtime import use_all_cores

    use_all_cores()


def pytest_collection_modifyitems(items):
    """Run the notebooks, then the tests of the decks and the site built from their executed copies
    (``presentation``), after every other test, so that one session executes each notebook once."""

    def rank(item) -> int:
        return 2 if item.get_closest_marker("presentation") else 1 if item.get_closest_marker("notebook") else 0

    items.sort(key=rank)  # stable: the order within each group is kept


def pytest_runtest_logreport(report):
    m = re.search(r"test_notebooks\.py::\w+\[(\w+)\]", report.nodeid)
    if m:
        path = f"notebooks/{m.group(1)}.ipynb"
        _NOTEBOOK_SECONDS[path] += report.duration
        if report.failed:
            _NOTEBOOK_FAILED.add(path)


NOTEBOOK_BUDGET_SECONDS = 180  # every notebook, top to bottom, on the slowest CPU the course supports (README)


def pytest_terminal_summary(terminalreporter):
    if not _NOTEBOOK_SECONDS:
        return
    import torch

    from cnnlib.runtime import hardware_summary

    terminalreporter.section("notebook run times (all cells, fresh kernel)")
    terminalreporter.write_line(f"on: {hardware_summary(torch.device('cpu'))}")
    terminalreporter.write_line(
        f"budget: {NOTEBOOK_BUDGET_SECONDS} s per notebook on the slowest CPU the course supports (2 cores, AVX2, "
        f"no bfloat16 units); this run's CPU capability: {torch.backends.cpu.get_cpu_capability()}"
    )
    for path, seconds in sorted(_NOTEBOOK_SECONDS.items()):
        status = "FAILED" if path in _NOTEBOOK_FAILED else "ok"
        budget = f"  over the {NOTEBOOK_BUDGET_SECONDS} s budget" if seconds > NOTEBOOK_BUDGET_SECONDS else ""
        terminalreporter.write_line(f"{seconds:7.1f} s  {path}  {status}{budget}")
