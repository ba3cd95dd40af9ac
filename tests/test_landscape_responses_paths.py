"""cnnlib.analysis: landscape (Li et al. 2018), responses (He et al. Fig. 7, gradients), paths (Veit et al.)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import cnnlib
from cnnlib.analysis.landscape import filter_normalized_direction, loss_along
from cnnlib.analysis.paths import (
    gradient_share_lengths,
    path_count,
    path_length_counts,
    path_length_distribution,
    path_length_stats,
)
from cnnlib.analysis.responses import conv_bn_layers, gradient_norms, response_std, weight_layers
from cnnlib.data import DATASETS, ImageTensors, normalize


def _images(n: int = 40, size: int = 16, seed: int = 0) -> ImageTensors:
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, size, size), generator=gen, dtype=torch.uint8)
    return ImageTensors(images, torch.arange(n) % 10, DATASETS["cifar10"], "test", "random")


def _resnet20() -> nn.Module:
    torch.manual_seed(0)
    model = cnnlib.get_model("resnet20")
    with torch.no_grad():  # running statistics that are not the identity, as a trained net has
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return model


# --------------------------------------------------------------------------- landscape


def test_directions_are_normalised_filter_by_filter_and_leave_bn_and_biases_alone():
    model = _resnet20()
    d = filter_normalized_direction(model, torch.Generator().manual_seed(1))
    for name, p in model.named_parameters():
        if p.dim() == 1:
            assert torch.count_nonzero(d[name]) == 0, name
        else:
            dims = tuple(range(1, p.dim()))
            norm = torch.linalg.vector_norm
            assert torch.allclose(norm(d[name], dim=dims), norm(p.detach(), dim=dims), rtol=1e-5), name
    again = filter_normalized_direction(model, torch.Generator().manual_seed(1))
    assert all(torch.equal(d[k], again[k]) for k in d)  # reproducible from the generator


def test_loss_along_starts_at_the_model_and_restores_its_weights():
    model = _resnet20().train()
    data = _images()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    d1 = filter_normalized_direction(model, torch.Generator().manual_seed(1))
    d2 = filter_normalized_direction(model, torch.Generator().manual_seed(2))
    surface = loss_along(model, data, d1, [-0.5, 0.0, 0.5], d2, [-0.5, 0.0, 0.5], batch_size=16)
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert surface.loss.shape == (3, 3) and surface.images == 40
    with torch.no_grad():
        logits = model.eval()(normalize(data.images, data.spec.mean, data.spec.std))
    assert surface.loss[1, 1].item() == pytest.approx(F.cross_entropy(logits, data.labels).item(), rel=1e-5)
    assert surface.accuracy[1, 1].item() == pytest.approx((logits.argmax(1) == data.labels).float().mean().item())
    # a step along d1 alone is the 1-D slice
    line = loss_along(model, data, d1, [0.5])
    assert line.loss[0, 0].item() == pytest.approx(surface.loss[1, 2].item(), rel=1e-6)


def test_loss_along_rejects_a_direction_of_another_model():
    model, other = _resnet20(), cnnlib.get_model("resnet32")
    with pytest.raises(ValueError, match="does not match the model's parameters"):
        loss_along(model, _images(4), filter_normalized_direction(other), [0.0])
    with pytest.raises(ValueError, match="need a second direction"):
        loss_along(model, _images(4), filter_normalized_direction(model), [0.0], betas=[1.0])


# --------------------------------------------------------------------------- responses and gradients


def test_conv_bn_layers_are_the_bns_after_3x3_convs():
    names = conv_bn_layers(cnnlib.get_model("resnet20"))
    assert len(names) == 1 + 2 * 9  # the stem's BN and two per basic block
    assert names[:3] == ["stem.1", "layer1.0.bn1", "layer1.0.bn2"]
    assert len(weight_layers(cnnlib.get_model("resnet20"))) == 1 + 2 * 9 + 1  # plus the classifier


def test_response_std_is_the_std_over_all_images_channels_and_positions():
    model = _resnet20()
    data = _images(30)
    stds = response_std(model, data, batch_size=7)  # batches of another size than the data: accumulated
    seen = {}
    hooks = [
        model.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, o.clone())) for n in stds
    ]
    with torch.no_grad():
        model.eval()(normalize(data.images, data.spec.mean, data.spec.std))
    for h in hooks:
        h.remove()
    for name, value in stds.items():
        assert value == pytest.approx(seen[name].double().std(unbiased=False).item(), rel=1e-6), name
    with pytest.raises(ValueError, match="no BatchNorm2d after a 3x3"):
        response_std(nn.Sequential(nn.Conv2d(3, 4, 1), nn.Flatten()), data)


def test_gradient_norms_leave_the_model_as_it_was():
    model = _resnet20().eval()
    model.fc.weight.requires_grad_(False)
    x = normalize(_images(8).images, DATASETS["cifar10"].mean, DATASETS["cifar10"].std)
    y = torch.arange(8) % 10
    norms = gradient_norms(model, x, y)
    assert list(norms) == weight_layers(model) and all(v > 0 for v in norms.values())
    assert not model.training and not model.fc.weight.requires_grad
    assert all(p.grad is None for p in model.parameters())
    # the same number as autograd on the layer by hand
    model.train()
    loss = F.cross_entropy(model(x), y)
    (g,) = torch.autograd.grad(loss, [model.layer2[0].conv1.weight])
    assert norms["layer2.0.conv1"] == pytest.approx(g.norm().item(), rel=1e-5)


# --------------------------------------------------------------------------- paths


def test_paths_of_a_residual_network():
    assert path_count(27) == 2**27 == 134_217_728  # resnet56: 27 basic blocks
    counts = path_length_counts(27)
    assert sum(counts) == 2**27 and counts[0] == counts[27] == 1 and counts[13] == math.comb(27, 13)
    share = path_length_distribution(27)
    assert sum(share) == pytest.approx(1.0) and max(share) == share[13] == share[14]
    assert sum(k * s for k, s in enumerate(share)) == pytest.approx(13.5)  # the mean length: n / 2
    with pytest.raises(ValueError, match="whole number"):
        path_count(-1)


def test_path_length_stats_match_the_binomial_closed_form():
    for n in (1, 9, 27, 54):
        mean, sd = path_length_stats(n)
        assert mean == pytest.approx(n / 2) and sd == pytest.approx(math.sqrt(n) / 2)


def test_gradient_share_lengths_takes_the_largest_totals_first():
    lengths, counts = [1, 2, 3, 4], [4, 6, 4, 1]
    # totals 40, 30, 8, 1 (of 79): 40 + 30 = 70 < 71.1 = 90 %, so length 3 is needed too
    assert gradient_share_lengths(lengths, counts, [10, 5, 2, 1], 0.9) == [1, 2, 3]
    assert gradient_share_lengths(lengths, counts, [10, 5, 2, 1], 0.5) == [1]
    assert gradient_share_lengths(lengths, counts, [10, 5, 2, 1], 1.0) == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="equally long"):
        gradient_share_lengths([1, 2], [1], [1.0, 2.0])
    with pytest.raises(ValueError, match="share"):
        gradient_share_lengths([1], [1], [1.0], share=1.5)
    with pytest.raises(ValueError, match="all zero"):
        gradient_share_lengths([1], [1], [0.0])


def _resnet20_blocks():
    return [f"layer{s}.{i}" for s in (1, 2, 3) for i in range(3)]


def test_routed_keeps_the_forward_values():
    from cnnlib.analysis.paths import routed
    from cnnlib.models import get_model

    torch.manual_seed(0)
    model, x = get_model("resnet20").eval(), torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        reference = model(x)
    with routed(model, _resnet20_blocks(), {"layer1.1", "layer3.2"}) as seen:
        assert torch.equal(model(x), reference) and seen["input"].requires_grad
    assert torch.equal(model(x), reference)  # hooks gone


def test_gradient_by_path_length_follows_the_routes():
    """With every residual function's last BN at zero, only the path through no function carries gradient."""
    from cnnlib.analysis.paths import gradient_by_path_length
    from cnnlib.models import get_model

    torch.manual_seed(0)
    model = get_model("resnet20").eval()
    with torch.no_grad():
        for name in _resnet20_blocks():
            model.get_submodule(name).bn2.weight.zero_()
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    norms = gradient_by_path_length(model, _resnet20_blocks(), x, y, lengths=[0, 1, 9], samples=2)
    assert norms[0] > 0 and norms[1] == 0 and norms[9] == 0
    with pytest.raises(ValueError, match="path lengths"):
        gradient_by_path_length(model, _resnet20_blocks(), x, y, lengths=[10])
    with pytest.raises(ValueError, match="not a post-activation"):
        gradient_by_path_length(get_model("preact_resnet20"), ["layer1.0"], x, y, lengths=[0])


def test_swapped_order_is_a_permutation():
    import random

    from cnnlib.analysis.lesion import swapped_order

    assert swapped_order(5, 0, random.Random(0)) == [0, 1, 2, 3, 4]
    order = swapped_order(5, 3, random.Random(0), fixed_first=True)
    assert sorted(order) == list(range(5)) and order[0] == 0
    with pytest.raises(ValueError, match="swap"):
        swapped_order(2, 1, random.Random(0), fixed_first=True)


def test_surface_statistics_of_a_bowl_and_of_a_bumpy_grid():
    from cnnlib.analysis.landscape import surface_statistics

    axis = torch.linspace(-1, 1, 5)
    bowl = axis[None, :] ** 2 + axis[:, None] ** 2
    stats = surface_statistics(bowl, (bowl < 0.6).float())
    assert stats["falling_steps"] == 0 and stats["other_minima"] == 0 and stats["ray_steps"] == 16
    assert stats["centre_loss"] == 0 and stats["basin_points"] == 9 and stats["points"] == 25
    bumpy = bowl.clone()
    bumpy[1, 1] = -0.5  # a dip on the diagonal ray: lower than its neighbours and than the step before
    stats = surface_statistics(bumpy, torch.zeros(5, 5))
    assert stats["other_minima"] == 1 and stats["falling_steps"] == 1
    with pytest.raises(ValueError, match="odd side"):
        surface_statistics(torch.zeros(4, 4), torch.zeros(4, 4))
