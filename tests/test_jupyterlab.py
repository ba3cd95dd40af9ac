"""The instructor's route: JupyterLab on localhost runs a course notebook, shows a widget, opens RISE.

The notebook runs in a copy of ``notebooks/`` and ``img/`` (RISE saves the notebook before it opens
the slideshow, and the course's notebooks are committed without outputs). Which notebook: the one
whose first widget comes soonest, by the cell times of the executed copies in ``build/executed``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import nbformat
import pytest

from .browser import chromium, console_errors, free_port, screenshot, set_viewport, wait_for

REPO = Path(__file__).resolve().parents[1]
WIDGET = "application/vnd.jupyter.widget-view+json"

pytestmark = pytest.mark.presentation


def _seconds(cell) -> float:
    t = cell.get("metadata", {}).get("execution", {})
    start, end = t.get("iopub.execute_input"), t.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    return (
        datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(start.replace("Z", "+00:00"))
    ).total_seconds()


def quickest_widget(executed: Path) -> tuple[str, int, float]:
    """(notebook, index of its first cell that shows a widget, seconds of the cells up to it)."""
    best = None
    for path in sorted(executed.glob("[0-9]*.ipynb")):
        if path.name.endswith(".failed.ipynb"):
            continue
        nb = nbformat.read(path, as_version=4)
        total = 0.0
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            total += _seconds(cell)
            if any(WIDGET in out.get("data", {}) for out in cell.get("outputs", [])):
                if best is None or total < best[2]:
                    best = (path.name, i, total)
                break
    assert best, f"no executed notebook in {executed} shows a widget"
    return best


def start_lab(root: Path, tmp: Path, token: str) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ)
    for var in ("JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        (tmp / var).mkdir()
        env[var] = str(tmp / var)
    news = tmp / "JUPYTERLAB_SETTINGS_DIR" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port = free_port()
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(tmp / "lab.log", "wb")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"jupyter lab exited ({proc.returncode}):\n{(tmp / 'lab.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                return proc, base
        except OSError:
            time.sleep(0.3)
    raise AssertionError("jupyter lab did not answer within 90 s")


def stop_lab(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # twice: shut down (kernels too) without the y/N prompt
        time.sleep(0.3)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


OPEN_WIDGETS = """
const ws = window.jupyterapp ? Array.from(jupyterapp.shell.widgets('main')) : [];
return ws.map(w => (w.context ? w.context.path : w.title.label) || '?').join(', ');
"""


def open_notebook(driver, base: str, token: str, path: str, tmp: Path) -> None:
    """Open ``path`` (relative to the server's root) in JupyterLab; ``window.__nb`` is then its panel.

    The tests hold the panel itself, not ``shell.currentWidget``: that follows the browser's focus, and in
    CI, after the site build in the same process, the headless page had none (``document.hasFocus()``
    false), so it stayed null while the notebook was open and shown. ``docmanager:open``, once the app has
    restored its workspace, returns the tab the address opened (or opens one). A failure reports what the
    page showed."""
    driver.get(f"{base}/lab/tree/{path}?token={token}")
    try:
        wait_for(driver, "window.jupyterapp && jupyterapp.commands.hasCommand('docmanager:open')", 90, "JupyterLab")
        driver.execute_script(
            "jupyterapp.restored.then(() => jupyterapp.commands.execute('docmanager:open', {path: arguments[0]}))"
            ".then(panel => { window.__nb = panel; });",
            path,
        )
        wait_for(
            driver,
            "window.__nb && window.__nb.context.isReady && window.__nb.content.widgets.length > 0",
            90,
            f"JupyterLab to open {path}",
        )
    except AssertionError as failure:
        screenshot(driver, tmp / "jupyterlab-open.png")
        page = driver.execute_script("return document.body ? document.body.innerText.slice(0, 600) : ''")
        tabs = driver.execute_script(OPEN_WIDGETS)
        log = (tmp / "lab.log").read_text(errors="replace")[-1500:]
        raise AssertionError(
            f"{failure}\nopen in the main area: {tabs or 'nothing'}\npage text: {page!r}\n"
            f"browser console: {console_errors(driver)}\nlab.log (end):\n{log}\n"
            f"screenshot: {tmp / 'jupyterlab-open.png'}"
        ) from None


KERNEL = """
const w = window.__nb;
const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
return k ? k.status + '/' + k.connectionStatus : '';
"""


def _cell(index: int) -> str:
    """JavaScript for the open notebook's cell widget number ``index``."""
    return f"window.__nb.content.widgets[{index}]"


def _command(name: str) -> str:
    """JavaScript that runs notebook command ``name`` on the notebook under test (by ``widgetId``, not on
    whichever notebook has the focus); its value is the command's promise."""
    return f"jupyterapp.commands.execute('{name}', {{widgetId: window.__nb.id}})"


def test_jupyterlab_runs_a_notebook_shows_a_widget_and_opens_rise(site, tmp_path):
    name, widget_cell, seconds = quickest_widget(site["build"] / "executed")
    shots = site["build"] / "screenshots"
    root = tmp_path / "course"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(REPO / "notebooks" / name, root / "notebooks" / name)
    shutil.copytree(REPO / "img", root / "img")
    token = secrets.token_hex(16)
    proc, base = start_lab(root, tmp_path, token)
    try:
        with chromium() as driver:
            open_notebook(driver, base, token, f"notebooks/{name}", tmp_path)
            wait_for(driver, f"(function(){{{KERNEL}}})() === 'idle/connected'", timeout=90, what="the kernel")

            # the first code cell: the course's set-up (start() prints cnnlib's version and the hardware)
            executed = nbformat.read(site["build"] / "executed" / name, as_version=4)
            first_code = next(i for i, c in enumerate(executed.cells) if c.cell_type == "code")
            driver.execute_script(
                f"window.__nb.content.activeCellIndex = {first_code}; {_command('notebook:run-cell')};"
            )
            first = wait_for(
                driver,
                f"{_cell(first_code)}.outputArea.node.innerText",
                timeout=120,
                what="the first code cell's output",
            )
            assert "cnnlib" in first, f"the set-up cell printed {first[:200]!r}"

            # the cells up to the first widget, then the widget itself
            driver.execute_script(
                f"window.__nb.content.activeCellIndex = {widget_cell};"
                f"{_command('notebook:run-all-above')}.then(() => {_command('notebook:run-cell')});"
            )
            widget = _cell(widget_cell)
            wait_for(
                driver,
                f"{widget}.outputArea.node.querySelector('.jupyter-widgets')",
                timeout=120 + 3 * seconds,
                what=f"the widget of cell {widget_cell} in {name}",
            )
            driver.execute_script(f"{widget}.node.scrollIntoView()")
            time.sleep(0.5)  # let the figure above the controls paint
            assert screenshot(driver, shots / "jupyterlab-widget.png")["ink"] > 0.02
            errors = [e for e in console_errors(driver) if "favicon" not in e]
            assert errors == [], f"JupyterLab's console: {errors}"

            # RISE: the command is offered, and it opens the first slide in a new tab
            commands = driver.execute_script("return jupyterapp.commands.listCommands()")
            assert "RISE:slideshow" in commands, [c for c in commands if "rise" in c.lower()]
            lab = driver.current_window_handle
            driver.execute_script(
                "window.__nb.content.activeCellIndex = 0; jupyterapp.shell.activateById(window.__nb.id);"
                "jupyterapp.commands.execute('RISE:slideshow');"
            )
            deadline = time.monotonic() + 60
            while len(driver.window_handles) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(driver.window_handles) == 2, "RISE:slideshow opened no tab"
            driver.switch_to.window(next(h for h in driver.window_handles if h != lab))
            set_viewport(driver)
            title = executed.cells[next(i for i, c in enumerate(executed.cells) if c.cell_type == "markdown")]
            heading = title.source.splitlines()[0].lstrip("# ").strip()
            shown = wait_for(
                driver,
                "(document.querySelector('.reveal .slides section.present') || {}).innerText",
                timeout=60,
                what="RISE's first slide",
            )
            assert heading.split("·")[0].strip().lower() in shown.lower(), f"RISE's first slide: {shown[:120]!r}"
            assert screenshot(driver, shots / "rise-first-slide.png")["ink"] > 0.01
    finally:
        stop_lab(proc)


def test_run_all_keeps_solution_answers_folded(tmp_path):
    """A student's "Run All" runs the ``%%solution`` cells but shows neither their code nor their answers:
    the collapsed source shows its first line (the magic), the output a closed "Answer: click to show"."""
    root = tmp_path / "course"
    root.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    solution = nbformat.v4.new_code_cell("%%solution\n# Solution 1: the secret method\nprint('the answer is 42')")
    solution.metadata = {"jupyter": {"source_hidden": True}, "tags": ["solution"]}  # as the lectures' cells
    nb.cells = [nbformat.v4.new_code_cell("from cnnlib.nbtools import start\nstart();"), solution]
    nbformat.write(nb, root / "exercises.ipynb")
    token = secrets.token_hex(16)
    proc, base = start_lab(root, tmp_path, token)
    try:
        with chromium() as driver:
            open_notebook(driver, base, token, "exercises.ipynb", tmp_path)
            wait_for(driver, f"(function(){{{KERNEL}}})() === 'idle/connected'", timeout=90, what="the kernel")
            driver.execute_script(f"{_command('notebook:run-all-cells')};")
            wait_for(driver, f"{_cell(1)}.outputArea.node.querySelector('details')", timeout=90, what="the answer")
            shown = driver.execute_script("return document.querySelector('.jp-Notebook').innerText")
            assert "Answer: click to show" in shown and "cnnlib" in shown, shown
            assert "42" not in shown and "secret" not in shown, f"Run All revealed the solution: {shown!r}"
            driver.execute_script(f"{_cell(1)}.outputArea.node.querySelector('summary').click()")
            opened = wait_for(
                driver,
                f"{_cell(1)}.outputArea.node.innerText.includes('42') && {_cell(1)}.outputArea.node.innerText",
                timeout=10,
                what="the answer after a click",
            )
            assert "the answer is 42" in opened
    finally:
        stop_lab(proc)
