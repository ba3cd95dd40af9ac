"""Feature extraction and the linear probe (cnnlib.analysis.transfer)."""

import pytest
import torch

import cnnlib
from cnnlib.analysis.transfer import LinearProbe, extract_features, fit_linear_probe, probe_accuracy, resize_images
from cnnlib.data import DATASETS, ImageTensors
from cnnlib.testing import accumulated_terms, assert_close_up_to_rounding


def fake_images(n=12, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
    return ImageTensors(images, torch.arange(n) % 10, DATASETS["cifar10"], "train", "synthetic")


def test_extract_features_pools_keeps_order_and_leaves_the_model_alone():
    model = cnnlib.get_model("vgg11_bn_cifar", width=0.25).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = fake_images()
    feats = extract_features(model, data, batch_size=5)
    assert feats.shape == (12, 128) and feats.dtype == torch.float32
    assert not model.training  # eval mode: BN running statistics, no dropout
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BN statistics not updated
    one = extract_features(model, ImageTensors(data.images[3:4], data.labels[3:4], data.spec, "train", "x"))
    # same features alone or in a batch, in order; a batch of 1 may run other kernels: the network's rounding
    assert_close_up_to_rounding(
        one[0], feats[3], terms=accumulated_terms(model), what="features of an image alone and in a batch"
    )
    flat = extract_features(model, resize_images(data, 64), pool=False)
    assert flat.shape == (12, 128 * 2 * 2)


def test_extract_features_refuses_models_without_forward_features():
    with pytest.raises(TypeError, match="forward_features"):
        extract_features(torch.nn.Conv2d(3, 4, 3), fake_images())


def separable(n=200, d=16, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = 5 * torch.randn(classes, d, generator=g)
    labels = torch.arange(n) % classes
    return centres[labels] + torch.randn(n, d, generator=g), labels


def test_probe_separates_separable_classes_and_is_deterministic():
    x, y = separable()
    probe = fit_linear_probe(x * 100 + 7, y)  # scale and offset do not matter: the probe standardises
    assert isinstance(probe, LinearProbe) and probe.num_parameters() == 16 * 4 + 4
    assert probe_accuracy(probe, x * 100 + 7, y) == 1.0
    again = fit_linear_probe(x * 100 + 7, y)
    assert torch.equal(probe.linear.weight, again.linear.weight)


def test_probe_is_at_chance_on_random_labels_of_new_data():
    x, _ = separable(n=400, d=8)
    y = torch.randint(0, 4, (400,), generator=torch.Generator().manual_seed(1))
    probe = fit_linear_probe(x[:200], y[:200], weight_decay=1e-1)
    assert probe_accuracy(probe, x[200:], y[200:]) < 0.45


def test_probe_refuses_bad_input():
    x, y = separable()
    with pytest.raises(ValueError, match="N x D"):
        fit_linear_probe(x[:, :, None], y)
    with pytest.raises(ValueError, match="labels"):
        fit_linear_probe(x, y[:-1])
    with pytest.raises(ValueError, match="0..2"):
        fit_linear_probe(x, y, num_classes=3)
    with pytest.raises(ValueError, match="NaN"):
        fit_linear_probe(torch.full_like(x, float("nan")), y)
    probe = fit_linear_probe(x, y)
    with pytest.raises(ValueError, match="N x 16"):
        probe(x[:, :8])


def test_resize_images():
    data = fake_images(n=3, size=32)
    small = resize_images(data, 16)
    assert (
        small.images.shape == (3, 3, 16, 16) and small.images.dtype == torch.uint8 and "resized to 16x16" in small.notes
    )
    grey = ImageTensors(
        torch.full((2, 3, 32, 32), 77, dtype=torch.uint8), torch.zeros(2, dtype=torch.long), data.spec, "train", "x"
    )
    assert (resize_images(grey, 8).images == 77).all()  # a flat image stays flat
    with pytest.raises(ValueError):
        resize_images(data, 0)
