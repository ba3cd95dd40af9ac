"""The notebook helpers and the course's set-up script."""

from __future__ import annotations

import importlib.util
from pathlib import Path

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


def test_show_source_prints_a_slice(capsys):
    from cnnlib.models import LeNet5

    nbtools.show_source(LeNet5, start="def forward_head", stop="return self.classifier")
    out = capsys.readouterr().out + ""
    # IPython may render a Code object instead of printing; either way no exception and the right slice
    if out:
        assert out.lstrip().startswith("def forward_head") and "forward_features" not in out


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


def test_course_script_reinstalls_only_when_dependencies_change():
    course = _course_module()
    assert course.install_fingerprint() == course.install_fingerprint()
    assert len(course.install_fingerprint()) == 64
