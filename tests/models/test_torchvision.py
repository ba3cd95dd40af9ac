"""Every model torchvision also implements, against torchvision, from one table.

The table is ``TORCHVISION_EQUIVALENTS``: each family module registers its torchvision twins there
(with a key map and builder arguments where needed). For every entry, torchvision's randomly
initialised model gets non-trivial batch-norm statistics, its ``state_dict`` loads into ours
strictly, and both compute the same logits (and the same feature maps, where torchvision has a
``features`` module) up to rounding. Specific behaviours (auxiliary heads in training mode, the
seed lectures' code, the mirror's pretrained weights) are tested in the family files.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision

from cnnlib.models import build_on_meta, model_info
from cnnlib.models.torchvision_compat import TORCHVISION_EQUIVALENTS, load_torchvision_state
from cnnlib.pretrained import from_torchvision
from cnnlib.testing import accumulated_terms, assert_close_up_to_rounding, randomise_batch_norm

NUM_CLASSES = 13  # not torchvision's default: both builders must pass it on

# What the table must hold: a family that stops registering its twins would silently drop out of the test.
EXPECTED = {
    "alexnet",
    *(f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")),
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
    "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0",
    *(f"efficientnet_b{i}" for i in range(8)),
    "densenet121", "densenet169", "densenet201", "squeezenet1_0", "squeezenet1_1",
    "googlenet", "inception_v3",
}  # fmt: skip


def test_the_table_holds_every_torchvision_twin():
    assert set(TORCHVISION_EQUIVALENTS) == EXPECTED


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Two intra-op threads on a busy 2-core machine wait for each other; restored after this module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def torchvision_twins(name: str, seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """(ours, torchvision's), in eval mode, carrying the same weights: torchvision's random initialisation
    with random batch-norm statistics, loaded into ours strictly through the table's key map."""
    eq = TORCHVISION_EQUIVALENTS[name]
    torch.manual_seed(seed)
    theirs = torchvision.models.get_model(
        eq.torchvision_name, weights=None, num_classes=NUM_CLASSES, **dict(eq.torchvision_kwargs)
    )
    randomise_batch_norm(theirs, torch.Generator().manual_seed(seed)).eval()
    # built on the meta device, then given uninitialised memory: no time spent on weights overwritten next
    ours = build_on_meta(name, num_classes=NUM_CLASSES, **dict(eq.our_kwargs)).to_empty(device="cpu")
    load_torchvision_state(ours, name, theirs.state_dict())  # strict=True
    return ours.eval(), theirs


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_torchvision_weights_load_strictly_and_outputs_agree(name):
    ours, theirs = torchvision_twins(name)
    eq = TORCHVISION_EQUIVALENTS[name]
    mapped = [eq.key_map(k) if eq.key_map else k for k in theirs.state_dict()]
    assert list(ours.state_dict()) == mapped  # the same keys, in the same order
    x = torch.randn(2, *model_info(name).smallest_test_input, generator=torch.Generator().manual_seed(1))
    terms = accumulated_terms(theirs)  # the same layers, another implementation: rounding through the whole network
    with torch.no_grad():
        got, expected = ours(x), theirs(x)
        assert got.shape == (2, NUM_CLASSES)
        assert_close_up_to_rounding(got, expected, terms=terms, what=f"our {name} and torchvision's logits")
        if isinstance(getattr(theirs, "features", None), nn.Module):  # the maps too (a random net's logits are small)
            assert_close_up_to_rounding(
                ours.forward_features(x), theirs.features(x), terms=terms, what=f"our {name} and torchvision's features"
            )


@pytest.mark.parametrize("name", ["alexnet", "resnet18", "mobilenet_v3_small"])
def test_from_torchvision_with_random_weights(name):
    """cnnlib.pretrained's loader, without a download: torchvision's random initialisation, in our model."""
    model, source = from_torchvision(name, weights=None, num_classes=7)
    assert source == f"torchvision {TORCHVISION_EQUIVALENTS[name].torchvision_name}, random initialisation"
    assert not model.training
    with torch.no_grad():
        assert model(torch.randn(1, *model_info(name).smallest_test_input)).shape == (1, 7)
