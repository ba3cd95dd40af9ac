"""cnnlib.analysis.activations (one eval-mode and one hooks context manager) and cnnlib.analysis.lesion
(chapter 04's branch ablation and chapter 06's block deletion are one function)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn

import cnnlib
from cnnlib.analysis.activations import eval_mode, forward_hooks, record_activations
from cnnlib.analysis.lesion import ablate, find_branches, reordered, without
from cnnlib.analysis.metrics import kendall_tau
from cnnlib.data import DATASETS, ImageTensors, normalize


def _images(n: int = 24, size: int = 16) -> ImageTensors:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, size, size), generator=gen, dtype=torch.uint8)
    return ImageTensors(images, torch.arange(n) % 10, DATASETS["cifar10"], "test", "random")


def test_eval_mode_restores_the_mode_even_after_an_error():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout())
    for before in (True, False):
        model.train(before)
        with pytest.raises(RuntimeError), eval_mode(model):
            assert not model.training and not model[1].training
            raise RuntimeError("inside the block")
        assert model.training is before and model[1].training is before


def test_forward_hooks_are_removed_even_after_an_error():
    layer = nn.Linear(2, 2)
    seen = []
    with pytest.raises(ValueError), forward_hooks([(layer, lambda m, i, o: seen.append(o.shape))]):
        layer(torch.zeros(1, 2))
        raise ValueError("inside the block")
    layer(torch.zeros(1, 2))
    assert seen == [(1, 2)] and not layer._forward_hooks
    with forward_hooks({layer: lambda m, args: seen.append("pre")}, pre=True):
        layer(torch.zeros(1, 2))
    assert seen[-1] == "pre" and not layer._forward_pre_hooks


def test_record_activations_names_a_missing_layer():
    model = nn.Sequential(nn.Linear(2, 2))
    with pytest.raises(KeyError, match=r"no layer\(s\) \['conv9'\].*its layers are \['0'\]"):
        with record_activations(model, ["conv9"]):
            pass


@torch.no_grad()
def _accuracy_without(model: nn.Module, data: ImageTensors, name: str) -> float:
    """The accuracy of a copy of ``model`` whose module ``name`` is replaced by the identity, by hand."""
    clone = copy.deepcopy(model).eval()
    parent, _, child = name.rpartition(".")
    setattr(clone.get_submodule(parent), child, nn.Identity())
    logits = clone(normalize(data.images, data.spec.mean, data.spec.std))
    return (logits.argmax(1) == data.labels).float().mean().item()


def test_skipping_residual_blocks_is_deleting_them():
    """Chapter 06's lesion study (Veit et al. 2016): mode="skip" passes a block's input on, as deleting it would."""
    torch.manual_seed(0)
    model = cnnlib.get_model("resnet20").train()  # left in training mode: ablate must not change that
    data = _images()
    blocks = {"layer1": ["0", "1", "2"], "layer3": ["1"]}
    result = ablate(model, data, blocks, mode="skip", batch_size=10)
    assert model.training and not any(m._forward_hooks for m in model.modules())
    assert [(b, br) for b, br, _, _ in result.rows] == [
        ("layer1", "0"),
        ("layer1", "1"),
        ("layer1", "2"),
        ("layer3", "1"),
    ]
    for block, branch, channels, acc in result.rows:
        assert acc == pytest.approx(_accuracy_without(model, data, f"{block}.{branch}"))
        assert channels == (16 if block == "layer1" else 64)
    assert "modules skipped (output = input)" in result.to_text()
    with pytest.raises(ValueError, match="cannot skip BasicBlock.*downsampling block"):
        ablate(model, data, {"layer2": ["0"]}, mode="skip")


def test_silencing_inception_branches_uses_the_same_function():
    torch.manual_seed(0)
    model = cnnlib.get_model("inception_small_cifar", width=0.25).eval()
    data = _images(12, 32)
    blocks = find_branches(model)
    assert blocks and all(len(branches) >= 2 for branches in blocks.values())
    first = next(iter(blocks))
    result = ablate(model, data, {first: blocks[first]}, mode="zero", batch_size=6)
    assert len(result.rows) == len(blocks[first]) and 0 <= result.baseline <= 1
    with pytest.raises(ValueError, match="mode must be one of"):
        ablate(model, data, {first: blocks[first]}, mode="delete")
    with pytest.raises(KeyError, match="has no module"):
        ablate(model, data, {first: ["branch9"]})


def test_without_deletes_modules_in_a_copy():
    torch.manual_seed(0)
    model = cnnlib.get_model("resnet20").train()
    data = _images()
    clone = without(model, ["layer1.1", "layer3.2"])
    assert isinstance(clone.layer1[1], nn.Identity) and isinstance(model.layer1[1], nn.Module)
    assert not isinstance(model.layer1[1], nn.Identity) and model.training and not clone.training
    one = ablate(model, data, {"layer1": ["1"]}, mode="skip")  # deleting one block = skipping it
    with torch.no_grad():
        logits = without(model, ["layer1.1"])(normalize(data.images, data.spec.mean, data.spec.std))
    assert one.rows[0][3] == pytest.approx((logits.argmax(1) == data.labels).float().mean().item())
    with pytest.raises(KeyError, match="no module"):
        without(model, ["layer9.0"])


def test_reordered_runs_a_stages_blocks_in_another_order():
    torch.manual_seed(0)
    model = cnnlib.get_model("resnet20").eval()
    swapped = reordered(model, "layer2", [0, 2, 1])
    assert swapped.layer2[1] is not model.layer2[2] and torch.equal(
        swapped.layer2[1].conv1.weight, model.layer2[2].conv1.weight
    )
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        h = model.layer1(model.stem(x))
        h = model.layer2[1](model.layer2[2](model.layer2[0](h)))  # the second and third blocks swapped
        by_hand = model.forward_head(model.layer3(h))
        assert torch.allclose(swapped(x), by_hand, atol=1e-5)
        assert torch.equal(reordered(model, "layer2", [0, 1, 2])(x), model(x))
    with pytest.raises(ValueError, match="permutation"):
        reordered(model, "layer2", [0, 0, 1])
    with pytest.raises(TypeError, match="not an nn.Sequential"):
        reordered(model, "fc", [0])


def test_kendall_tau():
    assert kendall_tau([0, 1, 2, 3]) == 1.0 and kendall_tau([3, 2, 1, 0]) == -1.0
    assert kendall_tau([1, 0, 2, 3]) == pytest.approx(1 - 2 / 6)  # one discordant pair of six
    with pytest.raises(ValueError, match="permutation"):
        kendall_tau([0, 2])
