"""Checkpoints: round trip, and clear refusals of damaged files, other models and misfits."""

import pytest
import torch
import torch.nn as nn

import cnnlib
from cnnlib.checkpoint import CheckpointError, load_checkpoint, read_checksum, save_checkpoint
from cnnlib.models import UnknownModelError
from cnnlib.train import TrainConfig


@pytest.fixture
def saved(tmp_path):
    model = cnnlib.get_model("lenet5", activation=nn.ReLU, pool=nn.MaxPool2d)
    path = tmp_path / "lenet5.pt"
    digest = save_checkpoint(
        path,
        model,
        model_name="lenet5",
        model_kwargs={"activation": nn.ReLU, "pool": nn.MaxPool2d},
        config=TrainConfig(epochs=1),
        history={"epochs": [{"epoch": 1, "test_acc": 0.5}]},
    )
    return model, path, digest


def test_round_trip(saved):
    model, path, digest = saved
    assert read_checksum(path) == digest and len(digest) == 64
    loaded, meta = load_checkpoint(path)
    assert isinstance(loaded.features[1], nn.ReLU) and isinstance(loaded.features[2], nn.MaxPool2d)
    assert meta["model_name"] == "lenet5" and meta["config"]["epochs"] == 1 and meta["sha256"] == digest
    x = torch.randn(3, 1, 32, 32)
    model.eval()
    assert torch.equal(model(x), loaded(x))
    assert not loaded.training
    assert not list(path.parent.glob("*.tmp")), "no temporary file may remain"


def test_refuses_another_model(saved):
    _, path, _ = saved
    with pytest.raises(CheckpointError, match="holds weights of model 'lenet5', not 'resnet20'"):
        load_checkpoint(path, expected_model="resnet20")
    with pytest.raises(CheckpointError, match="does not fit"):
        load_checkpoint(path, model=cnnlib.get_model("resnet20"))


def test_refuses_a_changed_file(saved):
    _, path, _ = saved
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="damaged or was changed"):
        load_checkpoint(path)


def test_refuses_wrong_expected_checksum(saved):
    _, path, _ = saved
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(path, sha256="0" * 64)


def test_refuses_missing_checksum_and_missing_file(saved, tmp_path):
    _, path, _ = saved
    (tmp_path / "lenet5.pt.sha256").unlink()
    with pytest.raises(CheckpointError, match="no recorded checksum"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_unknown_model_name_is_refused_before_writing(tmp_path):
    with pytest.raises(UnknownModelError, match="lenet5"):
        save_checkpoint(tmp_path / "x.pt", cnnlib.get_model("lenet5"), model_name="lenet")
    assert not list(tmp_path.iterdir())
