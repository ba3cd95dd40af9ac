"""The experiments registry: runs, stores, loads, and refuses what it cannot vouch for."""

import json

import pytest

from cnnlib import experiments
from cnnlib.experiments import ExperimentNotRunError, UnknownExperimentError


@pytest.fixture
def toy(tmp_path, monkeypatch):
    monkeypatch.setenv(experiments.EXPERIMENTS_ENV, str(tmp_path))
    calls = []

    def fn(quick: bool = False) -> dict:
        calls.append(quick)
        return {"answer": 42 if not quick else 1}

    experiments.EXPERIMENTS["_toy"] = experiments.Experiment("_toy", "99", "a toy", fn)
    yield tmp_path, calls
    del experiments.EXPERIMENTS["_toy"]


def test_full_run_is_stored_and_loaded(toy):
    path, calls = toy
    record = experiments.run("_toy")
    assert record["result"] == {"answer": 42} and calls == [False]
    stored = json.loads((path / "_toy.json").read_text())
    assert stored["command"] == "python -m cnnlib.experiments run _toy" and stored["hardware"]
    assert experiments.load_result("_toy")["result"] == {"answer": 42}


def test_quick_run_is_never_stored(toy):
    path, _ = toy
    assert experiments.run("_toy", quick=True)["result"] == {"answer": 1}
    assert not (path / "_toy.json").exists()
    with pytest.raises(ValueError, match="never stored"):
        experiments.run("_toy", quick=True, save=True)


def test_missing_result_says_which_command_to_run(toy):
    with pytest.raises(ExperimentNotRunError, match="python -m cnnlib.experiments run _toy"):
        experiments.load_result("_toy")


def test_a_stored_quick_run_is_refused(toy):
    path, _ = toy
    record = experiments.run("_toy", quick=True, save=False)
    (path / "_toy.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="not a full run"):
        experiments.load_result("_toy")


def test_unknown_experiment_suggests_a_name(toy):
    with pytest.raises(UnknownExperimentError, match="_toy"):
        experiments.load_result("_tyo")


def test_non_json_result_is_refused_before_writing(toy, monkeypatch):
    path, _ = toy
    experiments.EXPERIMENTS["_bad"] = experiments.Experiment("_bad", "99", "bad", lambda quick=False: {"x": object()})
    try:
        with pytest.raises(TypeError):
            experiments.run("_bad")
        assert not (path / "_bad.json").exists()
    finally:
        del experiments.EXPERIMENTS["_bad"]


def test_an_experiments_chapter_is_its_package():
    """Every chapter's experiments are discovered and carry the chapter whose package defines them."""
    by_chapter = {e.name: e.chapter for e in experiments.EXPERIMENTS.values()}
    assert by_chapter["relu_vs_tanh"] == "02" and by_chapter["vgg_heads"] == "03"
    for e in experiments.EXPERIMENTS.values():
        assert f".ch{e.chapter}_" in e.fn.__module__

    def fn(quick: bool = False) -> dict:
        return {}

    fn.__module__ = "cnnlib.chapters.ch07_after_resnet.experiments"
    with pytest.raises(ValueError, match="says chapter '05' but is defined in chapter 07's package"):
        experiments.experiment("_mislabelled", description="x", chapter="05")(fn)
    fn.__module__ = "somewhere.else"
    with pytest.raises(ValueError, match="outside a chapter's package"):
        experiments.experiment("_homeless", description="x")(fn)
    assert "_mislabelled" not in experiments.EXPERIMENTS and "_homeless" not in experiments.EXPERIMENTS
