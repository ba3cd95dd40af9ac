"""Repository-wide pytest hooks: report how long each notebook took to execute under nbval."""

from __future__ import annotations

from collections import defaultdict

_NOTEBOOK_SECONDS: dict[str, float] = defaultdict(float)
_NOTEBOOK_FAILED: set[str] = set()


def pytest_collection_modifyitems(items):
    """nbval waits only 5 s (hard-coded) for a cell's output messages after the cell has run; on a
    busy 2-core machine a training cell's many progress messages can take longer to arrive, which
    nbval reports as a failure. Wait up to a minute instead (the cell timeout itself is unchanged)."""
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = 60


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _NOTEBOOK_SECONDS[path] += report.duration
        if report.failed:
            _NOTEBOOK_FAILED.add(path)


def pytest_terminal_summary(terminalreporter):
    if not _NOTEBOOK_SECONDS:
        return
    terminalreporter.section("notebook run times (nbval, all cells)")
    for path, seconds in sorted(_NOTEBOOK_SECONDS.items()):
        status = "FAILED" if path in _NOTEBOOK_FAILED else "ok"
        budget = "  over the 3-minute budget" if seconds > 180 else ""
        terminalreporter.write_line(f"{seconds:7.1f} s  {path}  {status}{budget}")
