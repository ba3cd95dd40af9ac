"""The zoo: entries, training to a checkpoint and log, loading with refusals, verification, resuming.

The machinery is tested on a tiny entry in a temporary zoo folder with synthetic data (seconds);
``test_committed_checkpoints_verify`` re-evaluates the course's real checkpoints (CI: on the
fixed 2,000-image subset).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
import torch

import cnnlib
import cnnlib.io
import cnnlib.zoo as zoo
from cnnlib.chapters.ch06_why_resnet import degradation
from cnnlib.checkpoint import CheckpointError
from cnnlib.data import DATASETS, ImageTensors
from cnnlib.testing import accumulated_terms, assert_close_up_to_rounding
from cnnlib.train import TrainConfig, config_differences, fit
from cnnlib.zoo.__main__ import REPORT_SECTIONS
from cnnlib.zoo.__main__ import main as zoo_main

ZOO_MODULES = (zoo, zoo.store, zoo.build, zoo.verification, zoo.report)


def patch_zoo(monkeypatch, name: str, value) -> None:
    """Replace ``name`` in every module of the zoo that uses it (they import it from one another)."""
    for module in ZOO_MODULES:
        if hasattr(module, name):
            monkeypatch.setattr(module, name, value)


REPO = Path(__file__).resolve().parents[1]
REAL_ZOO = REPO / "data" / "zoo"


# --------------------------------------------------------------------------- the entries


def test_every_entry_is_buildable_and_consistent():
    for name, e in zoo.ENTRIES.items():
        assert e.name == name
        info = cnnlib.model_info(e.model)  # raises for an unknown registry name
        assert e.dataset in DATASETS and e.config.epochs > 0 and e.chapters
        assert info.scale == ("mnist" if e.dataset == "mnist" else "cifar")
        assert e.target is None or 0.5 < e.target < 1
        model = zoo.build._build(e)  # the entry's kwargs fit its builder, and the model takes its dataset's images
        shape = (1, 1, 32, 32) if e.dataset == "mnist" else (1, 3, 32, 32)
        with torch.no_grad():
            assert model.eval()(torch.zeros(shape)).shape == (1, 10), name


def test_degradation_quartet_shares_one_recipe():
    quartet = [zoo.entry(n) for n in ("plain20", "plain56", "resnet20", "resnet56")]
    assert all(e.config == zoo.CIFAR_RECIPE for e in quartet)


def test_unknown_entry_is_a_clear_error():
    with pytest.raises(zoo.UnknownEntryError, match="Did you mean 'resnet20'") as err:
        zoo.entry("resnet21")
    assert "python -m cnnlib.zoo list" in str(err.value)


def test_ci_subset_does_not_depend_on_image_order():
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (300, 3, 4, 4), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, 10, (300,), generator=gen)
    ds = ImageTensors(images, labels, DATASETS["cifar10"], "test", "synthetic")
    perm = torch.randperm(300, generator=gen)
    shuffled = dataclasses.replace(ds, images=images[perm], labels=labels[perm])
    a, b = zoo.ci_subset(ds, 50), zoo.ci_subset(shuffled, 50)
    assert len(a) == 50

    def as_set(d):
        return {(bytes(img.numpy().tobytes()), int(lab)) for img, lab in zip(d.images, d.labels)}

    assert as_set(a) == as_set(b)
    with pytest.raises(ValueError, match="subset size"):
        zoo.ci_subset(ds, 301)


def test_fingerprint_follows_the_architecture():
    a = zoo.architecture_fingerprint(cnnlib.get_model("resnet20"))
    assert a == zoo.architecture_fingerprint(cnnlib.get_model("resnet20"))
    assert a != zoo.architecture_fingerprint(cnnlib.get_model("resnet32"))
    assert a != zoo.architecture_fingerprint(cnnlib.get_model("resnet20", num_classes=100))


# --------------------------------------------------------------------------- a tiny zoo


def _synthetic(split: str) -> ImageTensors:
    """Two easy classes (bright vs dark images) so that a short run learns something."""
    n = 96 if split == "train" else 40
    gen = torch.Generator().manual_seed(1 if split == "train" else 2)
    labels = torch.arange(n) % 2
    base = torch.where(labels[:, None, None, None] == 1, 180, 60)
    images = (base + torch.randint(-40, 40, (n, 3, 16, 16), generator=gen)).clamp(0, 255).to(torch.uint8)
    return ImageTensors(images, labels, DATASETS["cifar10"], split, f"synthetic {split}")


TINY_RECIPE = TrainConfig(epochs=2, batch_size=32, lr=0.05, precision="fp32", channels_last=False, eval_batch_size=64)


@pytest.fixture
def tiny_zoo(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLIB_ZOO", str(tmp_path / "zoo"))
    entry = zoo.ZooEntry("tiny", "resnet20", "cifar10", TINY_RECIPE, ("05",), "test entry", {"num_classes": 2})
    monkeypatch.setitem(zoo.ENTRIES, "tiny", entry)
    patch_zoo(monkeypatch, "load_dataset", lambda e, split: _synthetic(split))
    patch_zoo(monkeypatch, "CI_SUBSET_SIZE", 30)
    return tmp_path / "zoo"


def test_train_writes_checkpoint_and_log(tiny_zoo):
    log = zoo.train("tiny", progress=False)
    ckpt = tiny_zoo / "tiny.pt"
    assert ckpt.is_file() and (tiny_zoo / "tiny.pt.sha256").is_file()
    on_disk = json.loads((tiny_zoo / "tiny.json").read_text())
    assert on_disk == log
    assert log["checkpoint"]["sha256"] == cnnlib.io.sha256_file(ckpt)
    assert [r["epoch"] for r in log["epochs"]] == [1, 2]
    for key in ("train_loss", "train_acc", "test_loss", "test_acc", "seconds"):
        assert key in log["epochs"][0]
    assert log["recipe"]["epochs"] == 2 and log["parameters"] == cnnlib.analysis.summary.count_parameters(
        cnnlib.get_model("resnet20", num_classes=2)
    )
    assert log["hardware"] and log["torch_version"] == torch.__version__ and "synthetic" in log["data_source"]["train"]
    assert log["stored"]["dtype"] in ("float16", "float32")
    assert log["stored"]["ci_subset_size"] == 30
    assert not (tiny_zoo / "resume" / "tiny.pt").exists(), "the resume state is removed once the run is stored"
    # the loaded model reproduces the logged accuracy
    model, loaded_log = zoo.load("tiny")
    assert not model.training and loaded_log == log
    ds = _synthetic("test")
    acc = (cnnlib.train.predict(model, ds).argmax(1) == ds.labels).float().mean().item()
    assert acc == pytest.approx(log["stored"]["test_acc"], abs=1e-6)
    assert [r.ok for r in zoo.verify(["tiny"], subset=False)] == [True], zoo.verify(["tiny"], subset=False)
    assert [r.ok for r in zoo.verify(["tiny"], subset=True)] == [True], zoo.verify(["tiny"], subset=True)
    assert zoo.trained() == ["tiny"]


def test_load_refuses_untrained_damaged_and_changed(tiny_zoo, monkeypatch):
    with pytest.raises(
        zoo.NotTrainedError, match="python -m cnnlib.zoo train tiny` "
    ):  # nothing to replace: no --fresh
        zoo.load("tiny")
    zoo.train("tiny", progress=False)
    ckpt = tiny_zoo / "tiny.pt"
    original = ckpt.read_bytes()

    # a new version of the entry (its recipe changed)
    monkeypatch.setitem(zoo.ENTRIES, "tiny", dataclasses.replace(zoo.ENTRIES["tiny"], version=2))
    with pytest.raises(CheckpointError, match="version 1 .* version 2.*cnnlib.zoo train tiny --fresh"):
        zoo.load("tiny")
    # a changed recipe whose version was not bumped
    monkeypatch.setitem(
        zoo.ENTRIES,
        "tiny",
        dataclasses.replace(zoo.ENTRIES["tiny"], version=1, config=dataclasses.replace(TINY_RECIPE, epochs=3)),
    )
    with pytest.raises(CheckpointError, match=r"another recipe .*\['epochs'\].*train tiny --fresh"):
        zoo.load("tiny")
    # a version bump that also changes the model: the version is named, not a shape mismatch
    monkeypatch.setitem(
        zoo.ENTRIES,
        "tiny",
        dataclasses.replace(zoo.ENTRIES["tiny"], version=2, config=TINY_RECIPE, model_kwargs={"num_classes": 3}),
    )
    with pytest.raises(CheckpointError, match="version 1 .* version 2.*cnnlib.zoo train tiny --fresh"):
        zoo.load("tiny")
    # other model arguments under the same entry and version
    monkeypatch.setitem(
        zoo.ENTRIES,
        "tiny",
        dataclasses.replace(zoo.ENTRIES["tiny"], version=1, config=TINY_RECIPE, model_kwargs={"num_classes": 3}),
    )
    with pytest.raises(
        CheckpointError,
        match=r"built with \{'num_classes': 2\}, the entry now says \{'num_classes': 3\}.*train tiny --fresh",
    ):
        zoo.load("tiny")
    # the builder itself changed (another layout of weights under the same name and arguments)
    monkeypatch.setitem(zoo.ENTRIES, "tiny", dataclasses.replace(zoo.ENTRIES["tiny"], model_kwargs={"num_classes": 2}))
    with monkeypatch.context() as m:
        patch_zoo(m, "_build", lambda e: cnnlib.get_model("resnet32", **e.model_kwargs))
        with pytest.raises(
            CheckpointError, match="architecture of 'resnet20' has changed.*names or shapes differ.*train tiny --fresh"
        ):
            zoo.load("tiny")
    # a checkpoint copied under another entry's name
    monkeypatch.setitem(zoo.ENTRIES, "tiny2", dataclasses.replace(zoo.ENTRIES["tiny"], name="tiny2"))
    for suffix in (".pt", ".pt.sha256", ".json"):
        (tiny_zoo / f"tiny2{suffix}").write_bytes((tiny_zoo / f"tiny{suffix}").read_bytes())
    with pytest.raises(CheckpointError, match="saved for zoo entry 'tiny', not 'tiny2'.*train tiny2 --fresh"):
        zoo.load("tiny2")
    for suffix in (".pt", ".pt.sha256", ".json"):
        (tiny_zoo / f"tiny2{suffix}").unlink()
    # another model
    monkeypatch.setitem(
        zoo.ENTRIES, "tiny", dataclasses.replace(zoo.ENTRIES["tiny"], model="plain20", model_kwargs={"num_classes": 2})
    )
    with pytest.raises(CheckpointError, match="not 'plain20'"):
        zoo.load("tiny")
    monkeypatch.setitem(zoo.ENTRIES, "tiny", dataclasses.replace(zoo.ENTRIES["tiny"], model="resnet20"))
    zoo.load("tiny")

    # one flipped bit
    blob = bytearray(original)
    blob[len(blob) // 2] ^= 0x01
    ckpt.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="damaged or was changed.*train tiny"):
        zoo.load("tiny")
    results = zoo.verify(subset=False)
    assert [(r.name, r.ok) for r in results] == [("tiny", False)]
    ckpt.write_bytes(original)

    # a log whose accuracy does not match the checkpoint
    log_path = tiny_zoo / "tiny.json"
    log = json.loads(log_path.read_text())
    log["stored"]["test_acc"] = min(1.0, log["stored"]["test_acc"] + 0.2) if log["stored"]["test_acc"] < 0.8 else 0.1
    log_path.write_text(json.dumps(log))
    (result,) = zoo.verify(["tiny"], subset=False)
    assert not result.ok and "differs by more than 0.5%" in result.message


def test_load_refuses_an_architecture_that_computes_something_else(tiny_zoo, monkeypatch):
    """Same weights' names and shapes, other activation: the stored probe outputs catch it."""
    zoo.train("tiny", progress=False)
    build = zoo.build._build

    class NaNs(torch.nn.Module):
        def forward(self, x):
            return x * float("nan")

    def relu_replaced_by(activation):
        def builder(e):
            model = build(e)
            for parent in list(model.modules()):
                for child_name, child in parent.named_children():
                    if isinstance(child, torch.nn.ReLU):
                        setattr(parent, child_name, activation())
            return model

        return builder

    for activation in (torch.nn.Tanh, NaNs):  # NaN compares false with everything: it must still be refused
        patch_zoo(monkeypatch, "_build", relu_replaced_by(activation))
        with pytest.raises(CheckpointError, match="computes other outputs.*train tiny --fresh"):
            zoo.load("tiny")
    assert [r.ok for r in zoo.verify(["tiny"], subset=False)] == [False]
    # The same weights' layout without the shortcuts (plain-20 for ResNet-20): the fingerprint cannot tell,
    # the probe can.
    patch_zoo(monkeypatch, "_build", lambda e: cnnlib.get_model("plain20", **e.model_kwargs))
    with pytest.raises(CheckpointError, match="computes other outputs"):
        zoo.load("tiny")


def test_checksum_sidecar_must_agree_with_the_log(tiny_zoo):
    zoo.train("tiny", progress=False)
    (tiny_zoo / "tiny.pt.sha256").write_text("0" * 64 + "  tiny.pt\n")
    with pytest.raises(CheckpointError, match="disagrees with the log"):
        zoo.load("tiny")
    for damaged in ("", "not-a-checksum  tiny.pt\n"):  # e.g. a write cut short
        (tiny_zoo / "tiny.pt.sha256").write_text(damaged)
        with pytest.raises(CheckpointError, match="does not hold a SHA-256"):
            zoo.load("tiny")
        assert [r.ok for r in zoo.verify(["tiny"], subset=False)] == [False]


def test_verify_uses_the_fixed_subset_in_ci(tiny_zoo, monkeypatch):
    zoo.train("tiny", progress=False)
    monkeypatch.setenv("CI", "true")
    (in_ci,) = zoo.verify()
    monkeypatch.setenv("CI", "false")
    (local,) = zoo.verify()
    assert in_ci.ok and local.ok
    assert (in_ci.images, local.images) == (30, 40)  # the tiny zoo's subset size; its whole test set


def test_verify_tolerance_is_half_a_point_and_the_test_set_must_match(tiny_zoo, monkeypatch):
    zoo.train("tiny", progress=False)
    logged = zoo.read_log("tiny")["stored"]["test_acc"]
    for shift, ok in ((0.004, True), (-0.004, True), (0.006, False), (-0.006, False)):
        with monkeypatch.context() as m:
            patch_zoo(m, "_eval_fp32", lambda model, ds, shift=shift: {"acc": logged + shift, "loss": 0.0})
            (result,) = zoo.verify(["tiny"], subset=False)
        assert result.ok is ok, (shift, result.message)
    partial = _synthetic("test")
    partial = dataclasses.replace(partial, images=partial.images[:35], labels=partial.labels[:35])
    patch_zoo(monkeypatch, "load_dataset", lambda e, split: partial)
    for subset in (False, True):
        (result,) = zoo.verify(["tiny"], subset=subset)
        assert not result.ok and "has 35 images, the log was measured on 40" in result.message


@pytest.mark.parametrize("tolerance, dtype", [(1.0, torch.float16), (-1.0, torch.float32)])
def test_weights_are_stored_in_float16_only_if_accuracy_holds(tiny_zoo, monkeypatch, tolerance, dtype):
    patch_zoo(monkeypatch, "FP16_TOLERANCE", tolerance)  # -1: any change counts as a loss of accuracy
    log = zoo.train("tiny", progress=False)
    assert log["stored"]["dtype"] == str(dtype).replace("torch.", "")
    state = torch.load(tiny_zoo / "tiny.pt", weights_only=False)[
        "state_dict"
    ]  # our own file (it stores a TorchVersion)
    assert {t.dtype for t in state.values() if t.is_floating_point()} == {dtype}
    model, _ = zoo.load("tiny")  # loaded as float32 either way
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_a_log_with_every_key_but_damaged_fields_is_refused_clearly(tiny_zoo, capsys):
    zoo.train("tiny", progress=False)
    path = tiny_zoo / "tiny.json"
    good = json.loads(path.read_text())
    for field, value, said in (
        ("checkpoint", {}, "checkpoint.sha256 is not a SHA-256"),
        ("stored", {**good["stored"], "test_acc": None}, "stored.test_acc is not an accuracy"),
        ("epochs", [], "epochs is not a list"),
        ("resumed", [{"hardware": "AMD EPYC"}], "resumed is not a list of records with after_epoch and hardware"),
        ("resumed", [{"after_epoch": 3}], "resumed is not a list of records with after_epoch and hardware"),
    ):
        path.write_text(json.dumps({**good, field: value}))
        with pytest.raises(CheckpointError, match=f"is damaged: {said}.*git checkout"):
            zoo.load("tiny")
        for command in (["list"], ["table"], ["verify"]):
            assert zoo_main(command) == 1, command
            assert said in capsys.readouterr().err or command == ["verify"]


def test_verify_with_nothing_to_check_fails(tiny_zoo, capsys):
    assert zoo_main(["verify"]) == 1
    assert "Nothing to verify" in capsys.readouterr().err


def test_verify_fails_a_log_without_its_checkpoint_or_a_damaged_log(tiny_zoo):
    zoo.train("tiny", progress=False)
    (tiny_zoo / "tiny.json").write_text("{ not json")
    (result,) = zoo.verify(subset=False)
    assert not result.ok and "is damaged (not valid JSON" in result.message and "git checkout" in result.message
    (tiny_zoo / "tiny.json").write_text('{"epochs": []}')
    (result,) = zoo.verify(subset=False)
    assert not result.ok and "lacks version, recipe" in result.message
    with pytest.raises(CheckpointError, match="lacks version"):
        zoo.results_table()
    (tiny_zoo / "tiny.json").write_text("{}")
    (tiny_zoo / "tiny.pt").unlink()
    (result,) = zoo.verify(subset=False)
    assert not result.ok and "has not been trained" in result.message


def test_train_refuses_to_overwrite_without_fresh(tiny_zoo, capsys):
    assert zoo_main(["train", "tiny"]) == 0
    before = (tiny_zoo / "tiny.json").read_text()
    assert zoo_main(["train", "tiny"]) == 1
    assert "train tiny --fresh" in capsys.readouterr().err
    with pytest.raises(zoo.AlreadyTrainedError, match="fresh=True"):  # the Python API refuses too
        zoo.train("tiny", progress=False)
    assert (tiny_zoo / "tiny.json").read_text() == before
    assert zoo_main(["train", "--all", "--fresh"]) == 2  # would throw away every partial run
    assert "named entries only" in capsys.readouterr().err


def test_train_all_trains_only_the_entries_without_a_checkpoint(tiny_zoo, monkeypatch, capsys):
    import cnnlib.zoo.__main__ as cli

    monkeypatch.setattr(
        cli, "write_results_table", lambda *sections: None
    )  # its degradation section names the real quartet
    # Only the two tiny entries, then the registry back in its order (the results table follows that order).
    saved = dict(zoo.ENTRIES)
    zoo.ENTRIES.clear()
    zoo.ENTRIES.update(tiny=saved["tiny"], tiny_b=dataclasses.replace(saved["tiny"], name="tiny_b"))
    try:
        assert zoo_main(["train", "tiny"]) == 0
        before = (tiny_zoo / "tiny.json").read_text()
        assert zoo_main(["train", "--all"]) == 0
        assert zoo.trained() == ["tiny", "tiny_b"] and (tiny_zoo / "tiny.json").read_text() == before
        assert zoo_main(["train", "--all"]) == 0
        assert "Every entry is trained" in capsys.readouterr().out
    finally:
        zoo.ENTRIES.clear()
        zoo.ENTRIES.update(saved)


def test_an_interrupted_fresh_run_is_continued_by_train(tiny_zoo, monkeypatch, capsys):
    """`train NAME --fresh` interrupted: the old checkpoint is gone and `train NAME` resumes the new run."""
    import cnnlib.train.loop as ctrain  # fit calls the loop module's train_one_epoch

    assert zoo_main(["train", "tiny"]) == 0
    real, calls = ctrain.train_one_epoch, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(ctrain, "train_one_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        zoo_main(["train", "tiny", "--fresh"])
    assert "tiny" not in zoo.trained() and (tiny_zoo / "resume" / "tiny.pt").is_file()
    assert "`python -m cnnlib.zoo train tiny` continues it" in capsys.readouterr().out
    first_start = torch.load(tiny_zoo / "resume" / "tiny.pt", weights_only=True)["history"]["started_utc"]
    run = zoo.partial_run("tiny")
    assert (run["epochs_done"], run["epochs"]) == (1, TINY_RECIPE.epochs) and 0 <= run["last_test_acc"] <= 1
    assert zoo_main(["list"]) == 0
    assert f"training: 1 of {TINY_RECIPE.epochs} epochs done" in capsys.readouterr().out
    time.sleep(1.1)  # the second call starts in a later second than the first
    monkeypatch.setattr(ctrain, "train_one_epoch", real)
    with (
        monkeypatch.context() as m
    ):  # the recipe changed meanwhile: the partial run is refused, naming the entry's command
        m.setitem(
            zoo.ENTRIES,
            "tiny",
            dataclasses.replace(zoo.ENTRIES["tiny"], config=dataclasses.replace(TINY_RECIPE, lr=0.01)),
        )
        assert zoo_main(["train", "tiny"]) == 1
        assert (
            "another config (it differs in ['lr']); start again with `python -m cnnlib.zoo train tiny --fresh`"
            in capsys.readouterr().err
        )
    assert zoo_main(["train", "tiny"]) == 0
    log = zoo.read_log("tiny")
    assert [r["after_epoch"] for r in log["resumed"]] == [1] and len(log["epochs"]) == TINY_RECIPE.epochs
    assert (
        log["started_utc"] == first_start < log["resumed"][0]["utc"] <= log["finished_utc"]
    )  # the run's start, not the last call's
    assert not (tiny_zoo / "resume" / "tiny.pt").exists()
    assert "tiny" in json.loads((tiny_zoo / "latency.json").read_text())["entries"]  # train measures the latency


def test_latency_keeps_each_entrys_lowest_median_over_the_passes(tiny_zoo, monkeypatch, capsys):
    zoo.train("tiny", progress=False)
    monkeypatch.setitem(zoo.ENTRIES, "tiny_b", dataclasses.replace(zoo.ENTRIES["tiny"], name="tiny_b"))
    real_load = zoo.load
    patch_zoo(monkeypatch, "load", lambda name: (name, None) if name == "tiny_b" else real_load(name))
    # (batch 1, batch 64) per entry and pass, as a shared machine gives them: tiny is quietest
    # at batch 1 in pass 2 and at batch 64 in pass 3.
    medians = iter([2.0, 40.0, 5.0, 50.0, 1.5, 400.0, 5.0, 50.0, 9.0, 30.0, 5.0, 50.0])
    calls = []

    def fake_latency(model, shape, batch_size, warmup, repeats):
        calls.append(("tiny_b" if model == "tiny_b" else "tiny", batch_size))
        return next(medians)

    patch_zoo(monkeypatch, "measure_latency", fake_latency)
    entries = zoo.measure_latencies(["tiny", "tiny_b"], passes=3)["entries"]
    assert calls == [("tiny", 1), ("tiny", 64), ("tiny_b", 1), ("tiny_b", 64)] * 3  # rounds through all the entries
    record = entries["tiny"]
    assert (record["batch1_ms"], record["batch64_ms"], record["passes"]) == (1.5, 30.0, 3)
    assert json.loads((tiny_zoo / "latency.json").read_text())["entries"]["tiny"] == record
    with pytest.raises(ValueError, match="passes must be at least 1"):
        zoo.measure_latencies(["tiny"], passes=0)
    monkeypatch.delitem(zoo.ENTRIES, "tiny_b")
    assert zoo_main(["table"]) == 0
    table = (tiny_zoo / "RESULTS.md").read_text()
    assert "| 1.50 | 30.0 |" in table and "taken in 3 rounds" in table


def _add_tiny_repvgg_entry(monkeypatch) -> None:
    """A RepVGG entry small enough to train in a test (the zoo fuses RepVGG entries at load)."""
    entry = zoo.ZooEntry(
        "tiny_rep", "repvgg_a0_cifar", "cifar10", dataclasses.replace(TINY_RECIPE, epochs=1), ("09",), "test",
        {"num_classes": 2, "width": 0.25},
    )  # fmt: skip
    monkeypatch.setitem(zoo.ENTRIES, "tiny_rep", entry)


def test_repvgg_entry_loads_fused(tiny_zoo, monkeypatch):
    _add_tiny_repvgg_entry(monkeypatch)
    zoo.train("tiny_rep", progress=False)
    multi, _ = zoo.load("tiny_rep")
    fused, _ = zoo.load("tiny_rep", fused=True)
    assert fused.is_fused and not multi.is_fused
    assert sum(p.numel() for p in fused.parameters()) < sum(p.numel() for p in multi.parameters())
    x = _synthetic("test").images[:8].float() / 255
    with torch.no_grad():  # rounding through the whole network: the summed fan-in of the multi-branch form
        assert_close_up_to_rounding(
            fused(x), multi(x), terms=accumulated_terms(multi), what="fused and multi-branch zoo model"
        )
    zoo.train("tiny", progress=False)
    with pytest.raises(ValueError, match="RepVGG"):
        zoo.load("tiny", fused=True)


def test_verify_checks_the_fused_form_of_a_repvgg_entry(tiny_zoo, monkeypatch):
    _add_tiny_repvgg_entry(monkeypatch)
    zoo.train("tiny_rep", progress=False)
    (result,) = zoo.verify(["tiny_rep"])
    assert result.ok and "fused form predicts the same class for 100.00%" in result.message, result.message
    zoo.train("tiny", progress=False)
    assert "fused form" not in zoo.verify(["tiny"])[0].message  # nothing to fuse there

    class Negated(torch.nn.Module):  # a fusion that gets the function wrong: every logit's sign flipped
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x):
            return -self.model(x)

    patch_zoo(monkeypatch, "_fuse", Negated)
    (broken,) = zoo.verify(["tiny_rep"])
    assert not broken.ok and "the fusion does not compute the trained function" in broken.message, broken.message


def test_cli(tiny_zoo, capsys):
    assert zoo_main(["train", "no_such_entry"]) == 1
    assert "no entry 'no_such_entry'" in capsys.readouterr().err
    assert zoo_main(["verify", "tiny"]) == 1  # named but not trained
    assert zoo_main(["train", "tiny"]) == 0
    assert zoo_main(["list"]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "test acc" in out
    assert zoo_main(["verify", "--full"]) == 0
    assert zoo_main(["table"]) == 0
    table = (tiny_zoo / "RESULTS.md").read_text()
    assert "| tiny |" in table and "not trained yet" in table


# --------------------------------------------------------------------------- resuming


def _with_dropout() -> torch.nn.Module:
    """A small net whose dropout draws from torch's global generator (ResNet-20 draws from none)."""
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(8, 2),
    )


@pytest.mark.parametrize("architecture", ["resnet20", "with_dropout"])
def test_an_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch, architecture):
    import cnnlib.train.loop as tr  # fit calls the loop module's train_one_epoch

    config = dataclasses.replace(TINY_RECIPE, epochs=3, crop_padding=2, flip=True)
    train_ds, test_ds = _synthetic("train"), _synthetic("test")

    def build():
        torch.manual_seed(0)
        return cnnlib.get_model("resnet20", num_classes=2) if architecture == "resnet20" else _with_dropout()

    straight = build()
    h_straight = fit(straight, train_ds, test_ds, config, progress=False)

    real_epoch = tr.train_one_epoch
    calls = {"n": 0}

    def dies_in_epoch_2(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    state = tmp_path / "state.pt"
    monkeypatch.setattr(tr, "train_one_epoch", dies_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        fit(build(), train_ds, test_ds, config, progress=False, resume=state)
    assert state.is_file()
    monkeypatch.setattr(tr, "train_one_epoch", real_epoch)
    resumed = build()
    h_resumed = fit(resumed, train_ds, test_ds, config, progress=False, resume=state)

    assert [r["epoch"] for r in h_resumed["epochs"]] == [1, 2, 3]
    assert h_resumed["resumed"][0]["after_epoch"] == 1
    for a, b in zip(h_straight["epochs"], h_resumed["epochs"]):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)
        assert a["test_acc"] == pytest.approx(b["test_acc"], abs=1e-6)
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        # the resumed run repeats the same operations from the restored weights, optimiser and random state: in
        # practice bit-identical (0 difference observed, with AVX-512 and AVX2 kernels); 1e-5 is only a margin
        assert torch.allclose(a.float(), b.float(), atol=1e-5), k

    other = dataclasses.replace(config, lr=0.01)
    with pytest.raises(ValueError, match=r"another config .*\['lr'\]"):
        fit(build(), train_ds, test_ds, other, progress=False, resume=state)


def test_a_resume_file_is_refused_for_another_model_or_other_data(tmp_path):
    config = dataclasses.replace(TINY_RECIPE, epochs=1)
    train_ds, test_ds = _synthetic("train"), _synthetic("test")
    state = tmp_path / "state.pt"
    fit(cnnlib.get_model("resnet20", num_classes=2), train_ds, test_ds, config, progress=False, resume=state)
    # plain20 has exactly ResNet-20's weights (the shortcuts have none): only the module tree differs
    with pytest.raises(ValueError, match="another model.*delete .*state.pt to start the run again"):
        fit(cnnlib.get_model("plain20", num_classes=2), train_ds, test_ds, config, progress=False, resume=state)
    other_source = dataclasses.replace(train_ds, source="somewhere else")
    with pytest.raises(ValueError, match="would not be the same run"):
        fit(cnnlib.get_model("resnet20", num_classes=2), other_source, test_ds, config, progress=False, resume=state)


# --------------------------------------------------------------------------- the committed checkpoints


def _real_logs() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(REAL_ZOO.glob("*.json")) if p.stem in zoo.ENTRIES}


@pytest.mark.slow
def test_committed_checkpoints_verify(monkeypatch):
    """Every committed checkpoint: checksum, model identity, and accuracy within 0.5 point of its log."""
    monkeypatch.delenv("CNNLIB_ZOO", raising=False)
    if not _real_logs() and not any(p.stem in zoo.ENTRIES for p in REAL_ZOO.glob("*.pt")):
        pytest.skip("no checkpoint committed yet")
    results = zoo.verify()
    assert results, "logs exist, so verify must check something"
    failed = [r.message for r in results if not r.ok]
    assert not failed, failed


def test_committed_logs_meet_their_targets_and_budget(monkeypatch):
    monkeypatch.delenv("CNNLIB_ZOO", raising=False)
    logs = _real_logs()
    for name, log in logs.items():
        e = zoo.entry(name)
        assert log["version"] == e.version and not config_differences(log["recipe"], e.config), (
            f"{name}: log of another recipe"
        )
        assert len(log["epochs"]) == e.config.epochs
        if e.target is not None:
            assert log["stored"]["test_acc"] >= e.target, (
                f"{name}: {log['stored']['test_acc']:.2%} < target {e.target:.0%}"
            )
        assert (REAL_ZOO / log["checkpoint"]["file"]).stat().st_size == log["checkpoint"]["bytes"]
    if "resnet20" in logs and "resnet56" in logs:
        assert logs["resnet56"]["stored"]["test_acc"] >= logs["resnet20"]["stored"]["test_acc"]
    total = sum(p.stat().st_size for p in REAL_ZOO.glob("*.pt"))
    assert total <= 60e6, f"checkpoints take {total / 1e6:.1f} MB, the budget is 60 MB"


def test_results_table_is_up_to_date(monkeypatch):
    """data/zoo/RESULTS.md is what `python -m cnnlib.zoo table` writes from the committed logs."""
    monkeypatch.delenv("CNNLIB_ZOO", raising=False)
    assert (REAL_ZOO / "RESULTS.md").read_text() == zoo.results_table(REPORT_SECTIONS), (
        "run `python -m cnnlib.zoo table --bench`"
    )


# --------------------------------------------------------------------------- the degradation report


def _fake_log(path: Path, name: str, last_epoch_train_acc: float) -> None:
    log = {
        "epochs": [
            {"epoch": 1, "train_acc": 0.5, "seconds": 30.0},
            {"epoch": 2, "train_acc": last_epoch_train_acc, "seconds": 30.0},
        ],
        "stored": {
            "train_acc_clean": last_epoch_train_acc + 0.01,
            "test_acc": last_epoch_train_acc - 0.05,
            "ci_subset_acc": last_epoch_train_acc - 0.05,
            "test_images": 10000,
            "ci_subset_size": 2000,
        },
        "parameters": 1000,
        "mult_adds": 1e6,
        "train_seconds": 60.0,
        "version": 1,
        "recipe": {},
        "checkpoint": {"sha256": "0" * 64},
        "hardware": "Some CPU; 2 logical cores",
    }
    (path / f"{name}.json").write_text(json.dumps(log))


def test_degradation_summary_reports_what_the_logs_say(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLIB_ZOO", str(tmp_path))
    _fake_log(tmp_path, "plain20", 0.93)
    _fake_log(tmp_path, "resnet20", 0.95)
    _fake_log(tmp_path, "resnet56", 0.97)
    rows = {r["name"]: r for r in degradation.degradation_summary()}
    assert rows["resnet56"]["train_error_last_epoch"] == pytest.approx(3.0)
    assert rows["resnet56"]["train_error_clean"] == pytest.approx(2.0)
    assert rows["resnet56"]["test_error"] == pytest.approx(8.0)
    assert rows["resnet56"]["published_test_error"] == 6.97 and rows["plain56"]["published_test_error"] is None
    assert rows["plain56"]["train_error_last_epoch"] is None and not rows["plain56"]["shortcuts"]
    text = zoo.results_table(REPORT_SECTIONS)
    assert "resnet56 vs resnet20: last-epoch train error -2.00 points, lower (as in the paper)" in text
    assert "plain56 vs plain20: waits for plain56" in text
    # A result against the paper is reported as such, not hidden.
    _fake_log(tmp_path, "plain56", 0.96)
    assert (
        "plain56 vs plain20: last-epoch train error -3.00 points, lower (the paper finds it higher)"
        in zoo.results_table(REPORT_SECTIONS)
    )


def test_training_machines_splits_a_run_that_changed_processors():
    hw = "{}; 2 logical cores, torch threads 2; device cpu"
    log = {
        "hardware": hw.format("Intel(R) Xeon(R) Processor @ 2.50GHz"),
        "epochs": [{"epoch": i, "seconds": s} for i, s in enumerate([300, 290, 310, 140, 150], 1)],
        "resumed": [
            {"after_epoch": 2, "hardware": hw.format("Intel(R) Xeon(R) Processor @ 2.50GHz")},
            {"after_epoch": 3, "hardware": hw.format("AMD EPYC")},
            {"after_epoch": 3, "hardware": hw.format("AMD EPYC")},  # stopped again inside epoch 4
            {"after_epoch": 4, "utc": "2026-11-23T19:01:08+00:00", "hardware": hw.format("AMD EPYC")},
        ],
    }
    assert zoo.training_machines(log) == [
        {"cpu": "Intel Xeon Processor @ 2.50GHz", "first": 1, "last": 3, "fastest_s": 290},
        {"cpu": "AMD EPYC", "first": 4, "last": 5, "fastest_s": 140},
    ]
    assert zoo.training_machines({**log, "resumed": []}) == [
        {"cpu": "Intel Xeon Processor @ 2.50GHz", "first": 1, "last": 5, "fastest_s": 140}
    ]


def test_list_names_a_partial_run_that_cannot_be_continued(tiny_zoo, capsys):
    (tiny_zoo / "resume").mkdir(parents=True)
    (tiny_zoo / "resume" / "tiny.pt").write_bytes(b"not a resume file")
    assert "cannot be read" in zoo.partial_run("tiny")["error"]
    assert zoo_main(["list"]) == 0
    assert "`train tiny --fresh` starts again" in capsys.readouterr().out


def test_list_calls_a_checkpoint_of_an_older_entry_version_stale(tiny_zoo, monkeypatch, capsys):
    zoo.train("tiny", progress=False)
    monkeypatch.setitem(zoo.ENTRIES, "tiny", dataclasses.replace(zoo.ENTRIES["tiny"], version=2))
    assert zoo_main(["list"]) == 0
    assert (
        "stale: trained for version 1 of the entry, which is now version 2; `train tiny --fresh`"
        in capsys.readouterr().out
    )


def test_chapter_01_quotes_the_zoo_lenet5_log_correctly():
    """Chapter 01 cites the zoo's 8-epoch LeNet-5 run where a slow CPU trains fewer epochs live."""
    root = Path(__file__).resolve().parents[1]
    log = json.loads((root / "data/zoo/lenet5.json").read_text())
    text = (root / "lectures/01_lenet.md").read_text()
    assert text.count(f"{100 * (1 - log['stored']['test_acc']):.2f} %") >= 2  # the recap and the curves' notes
    train_err = [1 - e["train_acc"] for e in log["epochs"]]
    test_err = [1 - e["test_acc"] for e in log["epochs"]]
    first_below = next(i + 1 for i, (a, b) in enumerate(zip(train_err, test_err)) if a < b)
    assert f"below the test error from epoch {first_below}" in text.replace("\n", " ")
    assert all(b < a for a, b in zip(test_err, test_err[1:])), "the lecture says the test error falls in every epoch"
    assert len(log["epochs"]) == 8 and "zoo's 8-epoch run" in text


def test_entries_use_todays_keyword_names_and_old_checkpoints_still_match():
    """The entries pass ``width`` (one width keyword); checkpoints stored with ``width_mult`` still load."""
    assert not [(n, k) for n, e in zoo.ENTRIES.items() for k in e.model_kwargs if k in zoo.build.RENAMED_KWARGS]
    assert zoo.build._current_names({"width_mult": 0.5, "depth_mult": 0.5}) == {"width": 0.5, "depth_mult": 0.5}
    if (REAL_ZOO / "mobilenet_v2.pt").is_file():
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)  # the entry no longer passes the deprecated name
            model, log = zoo.load("mobilenet_v2")
        assert (
            log["model_kwargs"] == {"width_mult": 0.5}
            and sum(p.numel() for p in model.parameters()) == log["parameters"]
        )


def test_describe_names_the_model_the_run_and_the_stored_accuracy():
    from cnnlib import zoo

    log = zoo.read_log("alexnet_cifar")
    lines = zoo.describe(log).splitlines()
    assert lines[0].startswith("alexnet_cifar {'width': 0.5}: 1,931,178 parameters")
    assert lines[1].startswith(f"trained {len(log['epochs'])} epochs in ")
    assert lines[2] == f"stored weights: {100 * log['stored']['test_acc']:.2f} % test accuracy on 10,000 test images"
