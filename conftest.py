"""Repository-wide pytest hooks: every core for torch; how long each notebook took under nbval, against its budget."""

from __future__ import annotations

from collections import defaultdict

_NOTEBOOK_SECONDS: dict[str, float] = defaultdict(float)
_NOTEBOOK_FAILED: set[str] = set()


def pytest_configure(config):
    """The unit tests train and time small models: give torch every core, as the course's entry points do."""
    from cnnlib.runtime import use_all_cores

    use_all_cores()


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


NOTEBOOK_BUDGET_SECONDS = 180  # every notebook, top to bottom, on the slowest CPU the course supports (README)


def pytest_terminal_summary(terminalreporter):
    if not _NOTEBOOK_SECONDS:
        return
    import torch

    from cnnlib.runtime import hardware_summary

    terminalreporter.section("notebook run times (nbval, all cells)")
    terminalreporter.write_line(f"on: {hardware_summary(torch.device('cpu'))}")
    terminalreporter.write_line(
        f"budget: {NOTEBOOK_BUDGET_SECONDS} s per notebook on the slowest CPU the course supports (2 cores, AVX2, "
        f"no bfloat16 units); this run's CPU capability: {torch.backends.cpu.get_cpu_capability()}"
    )
    for path, seconds in sorted(_NOTEBOOK_SECONDS.items()):
        status = "FAILED" if path in _NOTEBOOK_FAILED else "ok"
        budget = f"  over the {NOTEBOOK_BUDGET_SECONDS} s budget" if seconds > NOTEBOOK_BUDGET_SECONDS else ""
        terminalreporter.write_line(f"{seconds:7.1f} s  {path}  {status}{budget}")
