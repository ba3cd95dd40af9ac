"""The notebook helpers and the course's set-up script."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from cnnlib import nbtools

REPO = Path(__file__).resolve().parents[1]


def test_start_prints_hardware_versions_and_data_sources(capsys, monkeypatch):
    monkeypatch.setenv("CNNLIB_DEVICE", "cpu")
    device = nbtools.start(seed=3)
    out = capsys.readouterr().out
    assert device == torch.device("cpu")
    assert "seed 3" in out and f"torch {torch.__version__}" in out and "data:" in out
    assert torch.initial_seed() == 3


def _shown_code(monkeypatch) -> list[str]:
    """Capture what show_source displays (an IPython Code object) as text."""
    import IPython.display

    shown: list[str] = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj.data))
    return shown


def test_show_source_shows_the_slice_from_start_to_stop(monkeypatch):
    from cnnlib.models import LeNet5

    shown = _shown_code(monkeypatch)
    nbtools.show_source(LeNet5, start="def forward_head", stop="return self.classifier")
    (code,) = shown
    lines = code.splitlines()
    assert lines[0].lstrip().startswith("def forward_head") and "return self.classifier" in lines[-1]
    assert "def forward_features" not in code and "class LeNet5" not in code
    nbtools.show_source(LeNet5)  # no markers: the whole class
    assert shown[1].startswith("class LeNet5") and "def forward_head" in shown[1]


def test_show_source_says_which_marker_is_missing(monkeypatch):
    from cnnlib.models import LeNet5

    _shown_code(monkeypatch)
    with pytest.raises(ValueError, match="contains 'def no_such_method'"):
        nbtools.show_source(LeNet5, start="def no_such_method")
    with pytest.raises(ValueError, match="LeNet5"):
        nbtools.show_source(LeNet5, start="def forward_head", stop="no such line")


def _course_module():
    spec = importlib.util.spec_from_file_location("course", REPO / "course.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_course_script_makes_the_mirror_path_absolute(monkeypatch):
    course = _course_module()
    monkeypatch.setenv("CNNLIB_MIRROR", "../shared/mirror")
    assert course.child_env()["CNNLIB_MIRROR"] == str((REPO / "../shared/mirror").resolve())
    monkeypatch.setenv("CNNLIB_MIRROR", "/abs/mirror")
    assert course.child_env()["CNNLIB_MIRROR"] == "/abs/mirror"


def test_course_script_reinstalls_only_when_dependencies_change(tmp_path, monkeypatch):
    """ensure_environment installs on the first run, not on the next, and again once pyproject.toml changes."""
    course = _course_module()
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\ndependencies = ['torch>=2.2']\n")
    venv_dir = tmp_path / ".venv"
    python = venv_dir / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")  # the environment exists: only the install step is in question
    monkeypatch.setattr(course, "ROOT", tmp_path)
    monkeypatch.setattr(course, "VENV", venv_dir)
    monkeypatch.setattr(course, "STAMP", venv_dir / ".cnnlib-install-stamp")
    monkeypatch.setattr(course, "venv_python", lambda: python)
    calls: list[list[str]] = []
    monkeypatch.setattr(course, "run", lambda cmd, **kw: calls.append([str(c) for c in cmd]))

    assert course.ensure_environment() == python
    assert any(cmd[-2:] == ["-e", ".[test]"] for cmd in calls), calls  # first run: installs
    fingerprint = course.install_fingerprint()
    assert len(fingerprint) == 64 and (venv_dir / ".cnnlib-install-stamp").read_text() == fingerprint
    calls.clear()
    course.ensure_environment()
    assert calls == []  # nothing changed: nothing installed
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\ndependencies = ['torch>=2.3']\n")
    assert course.install_fingerprint() != fingerprint
    course.ensure_environment()
    assert any(cmd[-2:] == ["-e", ".[test]"] for cmd in calls)  # a changed dependency: installs again


def test_format_table_formats_and_aligns():
    from cnnlib.nbtools import format_table

    rows = [{"name": "resnet20", "params": 269722, "error": 8.754, "paper": None}]
    text = format_table(rows, {"name": "model", "params": "parameters", "error": "error %", "paper": "paper"},
                        {"error": ".2f"})  # fmt: skip
    assert text.splitlines() == [
        "| model | parameters | error % | paper |",
        "| --- | ---: | ---: | ---: |",
        "| resnet20 | 269,722 | 8.75 | — |",
    ]
    with pytest.raises(KeyError, match="no \\['depth'\\]"):
        format_table(rows, {"depth": "depth"})


def test_solution_magic_folds_the_answer_and_keeps_errors(tmp_path):
    """``%%solution`` in a real kernel: the printed answer is folded, an error or a figure fails the cell."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("from cnnlib.nbtools import start\nstart();\nanswer = 6 * 7"),
        nbformat.v4.new_code_cell("%%solution\nprint(f'the answer is {answer} <b>')\nsquare = answer**2"),
        nbformat.v4.new_code_cell("print(square)"),  # the solution ran in the notebook's namespace
        nbformat.v4.new_code_cell("%%solution\nraise RuntimeError('broken solution')"),
        nbformat.v4.new_code_cell("%%solution\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])"),
    ]
    NotebookClient(nb, timeout=120, allow_errors=True, resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [cell.outputs for cell in nb.cells]
    (folded,) = outputs[1]
    assert folded.output_type == "display_data"
    html = folded.data["text/html"]
    assert html.startswith("<details") and " open" not in html.split(">")[0]  # closed until clicked
    assert nbtools.ANSWER_SUMMARY in html and "the answer is 42 &lt;b&gt;" in html  # escaped
    assert outputs[2][0].text.strip() == "1764"
    assert outputs[3][-1].output_type == "error" and "broken solution" in outputs[3][-1].evalue
    assert outputs[4][-1].output_type == "error" and "drew 1 figure" in outputs[4][-1].evalue
